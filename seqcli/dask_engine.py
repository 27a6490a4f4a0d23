"""The Dask engine: run, extract and evaluate over row chunks on a Dask cluster.

The input is cut into chunks of `chunk_rows` rows, a multiple of the batch size, so
every chunk holds whole batches and the batches are the ones the numpy engine makes
on the same rows (the shards concatenated, in sorted order): each worker passes the
same batches through the same NumpyEngine, and the results are bit-identical.

The engine (model and weights) and the job description are scattered to every
worker once (`Client.scatter(..., broadcast=True)`); a chunk's task carries only its
index and row range. A worker that dies has its chunks recomputed by the scheduler
(writing a chunk is idempotent: whole Zarr chunks, or a part file renamed into
place). A chunk that fails for a data reason raises `ChunkFailed`, which stops the run.

This module is imported only for `--engine dask` (seqcli.engines.get), and it is the
one that imports dask, distributed and zarr: without them that import fails, and
the engine registry says `pip install 'seqcli[dask]'`.
"""

from __future__ import annotations

import math
import os
import sys
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass

import dask  # noqa: F401  (the optional dependencies: a missing one fails here)
import distributed  # noqa: F401
import zarr  # noqa: F401

from seqcli.engines.numpy_engine import NumpyEngine
from seqcli.errors import SeqcliError
from seqcli.shards import RowReader, Source

SCHEDULER_VARIABLE = "SEQCLI_DASK_SCHEDULER"
CHUNK_BYTES = 64 * 2**20  # default chunk: about this much input and output per task
CHUNKS_PER_WORKER = 4  # ...but at least this many chunks per worker, to balance load


class DaskEngine:
    """`--engine dask` in the engine registry. Its batches are the numpy engine's (one
    batch, `forward`, runs here as on a worker); the commands hand whole inputs to the
    cluster through seqcli.cli_dask, which cuts them into chunks for `drive`."""

    name = "dask"

    def __init__(self, model, weights: dict):
        self.model, self.weights = model, weights
        self.local = NumpyEngine(model, weights)  # what each worker receives, once

    def forward(self, batch, keep=()):
        return self.local.forward(batch, keep)


# ---------------------------------------------------------------- what a worker receives

@dataclass(frozen=True)
class Job:
    """Everything a chunk's task needs besides its rows; shipped once per worker."""

    mode: str  # "run", "extract" or "evaluate"
    source: Source
    sink: object  # sinks.Sink
    batch_size: int
    allow_nonfinite: bool = False
    layers: tuple = ("",)  # extract: the layers whose outputs are kept
    targets: Source | None = None  # evaluate: y
    loss: tuple = ()
    metrics: tuple = ()
    output_shape: tuple = ()  # evaluate: the model's output shape (metric choice)


@dataclass(frozen=True)
class Work:
    engine: NumpyEngine  # the model and its weights
    job: Job


class ChunkFailed(Exception):
    """A chunk's data is wrong; carries a SeqcliError's message and place across the
    wire (its args are what pickling keeps)."""

    def __init__(self, message: str, where: str):
        super().__init__(message, where)


def compute_chunk(work: Work, index: int, start: int, stop: int):
    """A task: rows [start, stop) through the model, batch by batch."""
    try:
        return _compute(work, index, start, stop)
    except SeqcliError as exc:
        raise ChunkFailed(exc.message, exc.where) from None


def _compute(work: Work, index: int, start: int, stop: int):
    from seqcli import sinks

    job = work.job
    if job.mode == "evaluate":
        return _evaluate_chunk(work, start, stop)
    outputs = _forward_chunk(work, start, stop)
    if job.sink.kind in ("zarr", "folder"):
        sinks.write_chunk(job.sink, index, start, outputs)
        return stop - start
    return outputs


def _batches(job: Job, source: Source, start: int, stop: int, cast: bool = True,
             what: str = "input"):
    """(first row, rows) for each batch of the chunk, as runner.batches makes them."""
    import numpy as np

    reader = RowReader(source)
    block = reader.read(start, stop) if source.is_zarr else None  # one read per chunk
    for low in range(start, stop, job.batch_size):
        high = min(low + job.batch_size, stop)
        rows = block[low - start:high - start] if block is not None else reader.read(low, high)
        rows = np.asarray(rows)
        if cast and rows.dtype != np.float32:
            rows = rows.astype(np.float32)
        if not job.allow_nonfinite:
            _check_finite(rows, low, source, what)
        yield low, rows


def _check_finite(rows, first: int, source: Source, what: str) -> None:
    import numpy as np

    if rows.dtype.kind == "f" and not np.isfinite(rows).all():
        bad = first + int(np.argwhere(~np.isfinite(rows.reshape(len(rows), -1)))[0][0])
        path, row = source.locate(bad)
        raise SeqcliError(f"the {what} holds NaN or Inf (first in row {row}; sample {bad} of "
                          "the whole input); fix the data, or pass --allow-nonfinite to run "
                          "anyway", path)


def _forward_chunk(work: Work, start: int, stop: int) -> dict:
    """{layer: outputs} for the chunk ("" for the model's output), float32, filled
    batch by batch as runner.predict fills its result."""
    import numpy as np

    job = work.job
    keep = () if job.mode == "run" else job.layers
    results = None
    for low, x in _batches(job, job.source, start, stop):
        step = work.engine.forward(x, keep=keep)
        outputs = {"": step.output} if job.mode == "run" else step.collected
        if results is None:
            results = {name: np.empty((stop - start, *outputs[name].shape[1:]), np.float32)
                       for name in job.layers}
        for name in job.layers:
            results[name][low - start:low - start + len(x)] = outputs[name]
    return results


def _evaluate_chunk(work: Work, start: int, stop: int) -> list:
    """Per batch: (loss, extra loss, samples, [(metric total, metric count), ...]), for
    the client to add up in batch order exactly as training.evaluate does."""
    from seqcli import losses, metrics

    job = work.job
    targets = _batches(job, job.targets, start, stop, cast=False, what="targets")
    parts = []
    for (low, x), (_, y) in zip(_batches(job, job.source, start, stop), targets):
        step = work.engine.forward(x)
        try:  # training._loss, with the place named
            loss, _ = losses.loss_and_gradient(job.loss, y, step.output)
        except ValueError as exc:
            path, row = job.targets.locate(low)
            raise SeqcliError(f"{job.loss[0]}: {exc} (in the batch from row {row})",
                              path) from None
        tracked = []
        for name in job.metrics:
            metric = metrics.make(name, job.targets.shape, job.output_shape)
            metric.update(y, step.output)
            tracked.append(metric.state())
        parts.append((loss, step.penalty, len(x), tracked))
    return parts


# ---------------------------------------------------------------- planning

def chunk_rows_for(rows: int, batch_size: int, bytes_per_row: int, workers: int,
                   requested: int | None = None) -> int:
    """Rows per chunk: whole batches; by default about CHUNK_BYTES of input and output,
    and at least CHUNKS_PER_WORKER chunks per worker."""
    if requested is not None:
        check_chunk_rows(requested, batch_size)
        return requested
    by_memory = max(CHUNK_BYTES // max(bytes_per_row, 1), 1)
    spread = math.ceil(rows / max(workers * CHUNKS_PER_WORKER, 1))
    wanted = max(min(by_memory, spread), 1)
    return math.ceil(wanted / batch_size) * batch_size


def check_chunk_rows(requested: int | None, batch_size: int) -> None:
    if requested is not None and requested % batch_size:
        low = max(requested // batch_size, 1) * batch_size
        raise SeqcliError(f"{requested} is not a multiple of --batch-size {batch_size}, so a "
                          "chunk would end inside a batch and the batches would differ from "
                          f"a one-process run; use {low} or {low + batch_size}", "--chunk-rows")


def chunks(rows: int, chunk_rows: int) -> list[tuple[int, int]]:
    return [(start, min(start + chunk_rows, rows)) for start in range(0, rows, chunk_rows)]


# ---------------------------------------------------------------- the cluster

@contextmanager
def connect(scheduler: str | None = None, stream=None):
    """A Client on the given scheduler (or $SEQCLI_DASK_SCHEDULER), else on a local
    cluster of one single-threaded worker process per core, bound to loopback."""
    stream = stream or sys.stderr
    with _dask_notes_as_lines(stream), _client(scheduler, stream) as client:
        yield client


@contextmanager
def _client(scheduler, stream):
    import logging

    from distributed import Client, LocalCluster

    address = scheduler or os.environ.get(SCHEDULER_VARIABLE) or None
    if address:
        where = "--scheduler " + address if scheduler else f"{SCHEDULER_VARIABLE}={address}"
        try:
            _check_reachable(address)
            client = Client(address, timeout="10s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise SeqcliError(f"cannot reach the Dask scheduler: {str(exc).splitlines()[0]}",
                              where) from None
        with client:
            _say_where(client, stream)
            yield client
        return
    workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
        else os.cpu_count() or 1
    # the scheduler's HTTP server (the dashboard, with bokeh) listens on loopback too
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      host="127.0.0.1", dashboard_address="127.0.0.1:0",
                      silence_logs=logging.CRITICAL) as cluster, Client(cluster) as client:
        _say_where(client, stream)
        yield client


# Dask's nanny starts each worker with one BLAS thread (distributed.nanny.pre-spawn-
# environ sets OPENBLAS_NUM_THREADS=1 unless it is set already). OpenBLAS then takes its
# single-thread kernels, whose sums differ in the last bits from the threaded ones a
# plain `seqcli run` uses on a multi-core machine; giving each worker several threads
# instead made two workers on two cores ten times slower (benchmarks/DASK.md). So the
# output is bit-identical to `OPENBLAS_NUM_THREADS=1 seqcli run`.


def _has_module(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


@contextmanager
def _dask_notes_as_lines(stream):
    """distributed's own warnings (a worker lost, a key rescheduled) shown as
    `seqcli: dask: ...` lines, like seqcli's other notes; its debug chatter hidden."""
    import logging

    logger = logging.getLogger("distributed")
    saved = logger.handlers[:], logger.level, logger.propagate
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("seqcli: dask: %(message)s"))
    logger.handlers, logger.propagate = [handler], False
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.handlers, logger.level, logger.propagate = saved


def _check_reachable(address: str) -> None:
    """Fail at once on a refused tcp:// address (the Client would retry for its whole
    timeout)."""
    import socket

    if not address.startswith("tcp://"):
        return
    host, _, port = address[len("tcp://"):].rstrip("/").rpartition(":")
    if not port.isdigit():
        raise ValueError(f"expected tcp://HOST:PORT, got {address!r}")
    socket.create_connection((host.strip("[]"), int(port)), timeout=10).close()


def _say_where(client, stream) -> None:
    info = client.scheduler_info()
    workers = len(info.get("workers", {}))
    stream.write(f"seqcli: Dask scheduler {client.scheduler.address} with {workers} "
                 f"worker{'s' * (workers != 1)}\n")
    port = info.get("services", {}).get("dashboard")
    if port and _scheduler_has_bokeh(client):  # without bokeh the page only says so
        host = client.scheduler.address.split("://")[-1].rsplit(":", 1)[0]
        stream.write(f"seqcli: Dask dashboard http://{host}:{port}/status\n")
    stream.flush()


def _scheduler_has_bokeh(client) -> bool:
    try:
        return bool(client.run_on_scheduler(_has_module, "bokeh"))
    except Exception:  # a scheduler that refuses to run functions: show the address
        return True


def worker_count(client) -> int:
    return max(len(client.scheduler_info().get("workers", {})), 1)


# ---------------------------------------------------------------- driving a run

class ChunkProgress:
    """A bar on a terminal; in a pipe, a plain line at every tenth of the chunks."""

    def __init__(self, stream, on_terminal: bool, total_chunks: int, total_rows: int):
        self.stream, self.on_terminal = stream, on_terminal
        self.total_chunks, self.total_rows = total_chunks, total_rows
        self.chunks = self.rows = self.shown = 0
        self.started = time.monotonic()

    def update(self, rows: int) -> None:
        self.chunks += 1
        self.rows += rows
        seconds = time.monotonic() - self.started
        text = (f"{self.chunks}/{self.total_chunks} chunks, {self.rows:,}/{self.total_rows:,} "
                f"rows, {seconds:.1f}s")
        if self.on_terminal:
            width = 30
            done = width * self.chunks // max(self.total_chunks, 1)
            bar = ("=" * max(done - 1, 0) + (">" if done < width else "=")) if done else ""
            self.stream.write(f"\r[{bar.ljust(width, '.')}] {text}")
            if self.chunks == self.total_chunks:
                self.stream.write("\n")
        elif self.chunks * 10 // max(self.total_chunks, 1) > self.shown or \
                self.chunks == self.total_chunks:
            self.shown = self.chunks * 10 // max(self.total_chunks, 1)
            self.stream.write(f"seqcli: {text}\n")
        self.stream.flush()


def drive(client, work: Work, spans: list, on_result, progress: ChunkProgress | None = None):
    """Submit one task per chunk, hand each result to on_result(index, result) as it
    arrives, and stop everything at the first failure."""
    from distributed import as_completed

    [shared] = client.scatter([work], broadcast=True, hash=False)  # once per worker
    name = f"seqcli-{work.job.mode}-{uuid.uuid4().hex[:12]}"
    futures = [client.submit(compute_chunk, shared, index, start, stop, key=(name, index),
                             pure=False) for index, (start, stop) in enumerate(spans)]
    index_of = {future.key: key for key, future in enumerate(futures)}
    try:
        for future in as_completed(futures):
            index = index_of[future.key]
            if future.status == "error":
                _raise_failure(future, index, spans[index])
            on_result(index, future.result())
            future.release()
            if progress is not None:
                progress.update(spans[index][1] - spans[index][0])
    except BaseException:
        client.cancel(futures)
        _wait_until_stopped(client, name)  # so no chunk is written after the clean-up
        raise
    finally:
        client.cancel([shared])


def _wait_until_stopped(client, name: str, timeout: float = 60.0) -> None:
    """Cancelling forgets a task but cannot stop one already running in a worker
    thread: wait (one chunk's time) until no worker is running one of this run's."""
    deadline, quiet = time.monotonic() + timeout, 0
    while quiet < 2 and time.monotonic() < deadline:  # twice: a task sent just before
        time.sleep(0.1)                               # the cancel may still arrive
        try:
            quiet = 0 if any(client.run(_known_tasks, name).values()) else quiet + 1
        except Exception:  # a worker going away mid-question: ask again
            quiet = 0


def _known_tasks(name: str, dask_worker=None) -> int:
    """On a worker: how many of run `name`'s tasks it still holds in any state (a
    cancelled task that is executing stays until its thread returns)."""
    return sum(1 for key in list(dask_worker.state.tasks)
               if isinstance(key, tuple) and key[0] == name)


def _raise_failure(future, index: int, span: tuple) -> None:
    from distributed import KilledWorker

    error = future.exception()
    if isinstance(error, ChunkFailed):
        message, where = error.args
        raise SeqcliError(message, where)
    if isinstance(error, KilledWorker):
        raise SeqcliError(f"chunk {index} (rows {span[0]}-{span[1] - 1}) was running on "
                          "every worker that died for it; a worker may run out of memory: "
                          "lower --chunk-rows, or give the workers more memory") from None
    if isinstance(error, ImportError):
        raise SeqcliError(f"a Dask worker cannot import {error.name or 'a module'}: install "
                          "seqcli on every worker (pip install 'seqcli[dask]')") from None
    raise error
