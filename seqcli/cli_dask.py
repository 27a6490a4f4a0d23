"""`run`, `extract` and `evaluate` with `--engine dask`: the command side of dask_engine.

The commands in cli_model.py and cli_train.py take the options below and hand over
here when the engine is dask. Nothing heavy is imported until a command runs.
"""

from __future__ import annotations

import os
import sys

import click

from seqcli.errors import SeqcliError, blame_data

def dask_options(function):
    """--scheduler and --chunk-rows, for run, extract and evaluate with --engine dask."""
    function = click.option(
        "--chunk-rows", type=click.IntRange(min=1), metavar="N",
        help="Dask: rows per task, a multiple of --batch-size (default: about 64 MiB of "
             "input and output, and at least 4 chunks per worker).")(function)
    function = click.option(
        "--scheduler", metavar="tcp://HOST:PORT",
        help="Dask: an existing scheduler (default: $SEQCLI_DASK_SCHEDULER, else a local "
             "cluster with one worker process per core).")(function)
    return function


def check_local_options(scheduler, chunk_rows, path=None, what="--input"):
    """An engine in this process reads one .npy file and takes no Dask options."""
    if scheduler or chunk_rows:
        raise click.UsageError("--scheduler and --chunk-rows need --engine dask")
    if not path or path == "-" or os.path.isfile(path):
        return
    if os.path.isdir(path):
        raise click.BadParameter(f"{path!r} is a directory; a folder of .npy shards or a "
                                 "Zarr array needs --engine dask", param_hint=f"'{what}'")
    if os.path.exists(path):  # a pipe such as bash's <(...), or a device: read once only
        raise SeqcliError("not a regular file (a pipe or a device); send a stream to "
                          f"standard input with '{what} -' instead", f"{what} {path}")
    raise SeqcliError("no such file (a glob of .npy shards needs --engine dask)",
                      f"{what} {path}")


def _load_engine():
    """seqcli.dask_engine, or the registry's one-line error naming what to install."""
    from seqcli import engines

    engines.get("dask")
    from seqcli import dask_engine

    return dask_engine


def _console() -> tuple:
    return sys.stderr, sys.stderr.isatty()


def _say(text: str) -> None:
    click.echo(f"seqcli: {text}", err=True)


def _model_for(spec_path, source, where=""):
    from seqcli import spec as spec_module

    spec = spec_module.load(spec_path, sys.stdin)
    try:
        model = spec.model.with_input((None, *source.shape[1:]))
        model.trace((None, *source.shape[1:]))  # the data's rows must fit every layer
    except SeqcliError as exc:
        raise blame_data(exc, where) from None
    return spec, model


def _weights(model, weights_path, loaded):
    """--weights, else the model file's own (a .keras archive), else fresh ones."""
    from seqcli.cli_model import weights_for

    return weights_for(model, weights_path, loaded.weights)


def _row_bytes(shape) -> int:
    from seqcli import budget, runner

    return budget.FLOAT_BYTES * runner.size_of(shape[1:])


def _plan(client, source, batch_size, chunk_rows, out_row_bytes, model, max_memory):
    """Rows per chunk, checked against the memory bound of one worker."""
    from seqcli import budget, dask_engine

    per_row = _row_bytes(source.shape) + out_row_bytes
    rows = dask_engine.chunk_rows_for(source.rows, batch_size, per_row,
                                      dask_engine.worker_count(client), chunk_rows)
    held = rows * (out_row_bytes + (_row_bytes(source.shape) if source.is_zarr else 0))
    budget.check(model, min(batch_size, max(source.rows, 1)), max_memory, extra_bytes=held)
    spans = dask_engine.chunks(source.rows, rows)
    _say(f"{len(spans)} chunk{'s' * (len(spans) != 1)} of up to {rows:,} rows "
         f"({source.rows:,} rows from {source.describe()})")
    return rows, spans


def _drive(client, model, weights, job, spans, on_result):
    from seqcli import dask_engine

    stream, on_terminal = _console()
    progress = dask_engine.ChunkProgress(stream, on_terminal, len(spans),
                                         spans[-1][1] if spans else 0)
    work = dask_engine.Work(dask_engine.DaskEngine(model, weights).local, job)
    dask_engine.drive(client, work, spans, on_result, progress)


# ---------------------------------------------------------------- run

def run(spec, input_path, weights_path, output, batch_size, max_memory, allow_nonfinite,
        scheduler, chunk_rows, precision=None):
    from seqcli import budget, runner, shards, sinks

    dask_engine = _load_engine()
    dask_engine.check_chunk_rows(chunk_rows, batch_size)
    if spec == "-" and input_path == "-":
        raise click.UsageError("the spec and the input cannot both come from standard input")
    if input_path == "-":
        raise click.UsageError("--engine dask reads files the workers can open; give a path, "
                               "not '-'")
    source = shards.open_source(input_path)
    loaded, model = _model_for(spec, source, input_path)
    kind = sinks.kind_of(output)
    sinks.check_target(kind, output)
    out_shape = runner.output_shape(model, source.rows)
    printed = budget.FLOAT_BYTES * runner.size_of(out_shape) if kind in ("print", "npy") else 0
    budget.check(model, min(batch_size, max(source.rows, 1)), max_memory, extra_bytes=printed)
    weights = _weights(model, weights_path, loaded)
    with dask_engine.connect(scheduler) as client:
        rows, spans = _plan(client, source, batch_size, chunk_rows, _row_bytes(out_shape),
                            model, max_memory)
        sink = sinks.prepare(kind, output, [""], {"": out_shape}, rows)
        job = dask_engine.Job("run", source, sink, batch_size, allow_nonfinite)
        if kind in ("zarr", "folder"):
            _into_folder(client, model, weights, job, spans, sink)
        elif kind == "npy":
            _into_npy(client, model, weights, job, spans, output, out_shape)
        else:
            _printed(client, model, weights, job, spans, out_shape, precision)
            return
    _say(f"wrote outputs of shape {out_shape} to {'standard output' if output == '-' else output}")


def _into_folder(client, model, weights, job, spans, sink):
    from seqcli import sinks

    try:
        _drive(client, model, weights, job, spans, lambda index, result: None)
        sinks.commit(sink)
    except BaseException:
        sinks.abort(sink)
        raise


def _into_npy(client, model, weights, job, spans, output, out_shape):
    """One .npy assembled by the client, in row order, renamed into place when whole."""
    from seqcli.files import atomic_writer

    if output == "-":
        _write_npy(sys.stdout.buffer, client, model, weights, job, spans, out_shape)
        return
    with atomic_writer(output, binary=True) as handle:
        _write_npy(handle, client, model, weights, job, spans, out_shape)


def _write_npy(stream, client, model, weights, job, spans, out_shape):
    import numpy as np

    from seqcli.runner import npy_header

    # the header goes out with the first chunk: a chunk refused before it leaves a pipe empty
    pending, state = {}, {"next": 0, "header": npy_header(out_shape)}

    def in_order(index, result):  # chunks arrive in any order; the file is sequential
        pending[index] = result[""]
        while state["next"] in pending:
            stream.write(state["header"] + np.ascontiguousarray(
                pending.pop(state["next"])).tobytes())
            state["next"] += 1
            state["header"] = b""

    _drive(client, model, weights, job, spans, in_order)
    stream.write(state["header"])
    stream.flush()


def _printed(client, model, weights, job, spans, out_shape, precision):
    import numpy as np

    from seqcli.runner import printed

    result = np.empty(out_shape, dtype=np.float32)

    def place(index, outputs):
        start, stop = spans[index]
        result[start:stop] = outputs[""]

    _drive(client, model, weights, job, spans, place)
    click.echo(printed(result, precision))


# ---------------------------------------------------------------- extract

def extract(spec, input_path, weights_path, layer_names, all_layers, output, batch_size,
            max_memory, allow_nonfinite, scheduler, chunk_rows):
    from seqcli import budget, runner, shards, sinks

    dask_engine = _load_engine()
    dask_engine.check_chunk_rows(chunk_rows, batch_size)
    source = shards.open_source(input_path)
    loaded, model = _model_for(spec, source, input_path)
    known = [layer.name for layer in model.layers]
    names = known if all_layers else list(dict.fromkeys(layer_names))
    _check_layers(model, names)
    sinks.check_layer_names(names)
    kind = sinks.kind_of(output, extract=True)
    sinks.check_target(kind, output)
    shapes = dict(zip([layer.name for layer in model.layers],
                      model.trace((source.rows, *model.input_shape))))
    shapes = {name: shapes[name] for name in names}
    kept = sum(budget.FLOAT_BYTES * runner.size_of(shapes[n]) for n in names) \
        if kind == "npz" else 0
    budget.check(model, min(batch_size, max(source.rows, 1)), max_memory, extra_bytes=kept)
    weights = _weights(model, weights_path, loaded)
    with dask_engine.connect(scheduler) as client:
        out_bytes = sum(_row_bytes(shape) for shape in shapes.values())
        rows, spans = _plan(client, source, batch_size, chunk_rows, out_bytes, model,
                            max_memory)
        sink = sinks.prepare(kind, output, names, shapes, rows)
        job = dask_engine.Job("extract", source, sink, batch_size, allow_nonfinite,
                              layers=tuple(names))
        if kind == "npz":
            _into_npz(client, model, weights, job, spans, output, shapes)
        else:
            _into_folder(client, model, weights, job, spans, sink)
    for name in names:
        _say(f"{name}: {tuple(shapes[name])}")


def _check_layers(model, names):
    from seqcli.errors import did_you_mean

    known = [layer.name for layer in model.layers]
    for name in names:
        if "/" in name and name in model.plan.layer_paths():
            raise SeqcliError("--engine dask extracts the outputs of top-level layers; "
                              "for a layer inside a nested model use the numpy or "
                              "onnxruntime engine", f"--layer {name}")
        if name not in known:
            raise SeqcliError(f"no layer named {name!r}{did_you_mean(name, known)}; the "
                              f"layers are: {', '.join(known)}", f"--layer {name}")


def _into_npz(client, model, weights, job, spans, output, shapes):
    import numpy as np

    from seqcli import arrays

    results = {name: np.empty(shape, dtype=np.float32) for name, shape in shapes.items()}

    def place(index, outputs):
        start, stop = spans[index]
        for name, array in outputs.items():
            results[name][start:stop] = array

    _drive(client, model, weights, job, spans, place)
    arrays.write_npz(output, results)


# ---------------------------------------------------------------- evaluate

def evaluate(spec, data_path, x_path, y_path, weights_path, loss, metric_names, batch_size,
             fmt, max_memory, allow_nonfinite, scheduler, chunk_rows):
    """Print the loss and metrics, reduced on the client in batch order exactly as one
    process reduces them."""
    import json

    from seqcli.cli_train import format_logs

    scores = scores_of(spec, data_path, x_path, y_path, weights_path, loss, metric_names,
                       batch_size, max_memory, allow_nonfinite, scheduler, chunk_rows)
    if fmt == "json":
        click.echo(json.dumps(scores, indent=2))
    else:
        click.echo(format_logs(scores).removeprefix(" - "))


def scores_of(spec, data_path, x_path, y_path, weights_path, loss, metric_names, batch_size,
              max_memory, allow_nonfinite, scheduler, chunk_rows) -> dict:
    from types import SimpleNamespace

    from seqcli import budget, shards, training

    dask_engine = _load_engine()
    dask_engine.check_chunk_rows(chunk_rows, batch_size)
    if data_path or not (x_path and y_path):
        raise click.UsageError("--engine dask reads --x and --y (each a .npy, a glob or "
                               "folder of .npy shards, or a Zarr array); an .npz is read "
                               "whole, so use it with the numpy engine")
    x_source, y_source = shards.open_source(x_path, "--x"), shards.open_source(y_path, "--y")
    if x_source.rows != y_source.rows or x_source.rows == 0:
        raise SeqcliError(f"x has {x_source.rows} samples and y has {y_source.rows}; they "
                          "must match and not be empty", y_path)
    loaded, model = _model_for(spec, x_source, x_path)
    from seqcli.cli_train import compile_where

    compiled = training.compile_settings(loaded.compile, loss, None, None,
                                         _metric_list(metric_names), compile_where(loaded),
                                         "score")
    head = shards.RowReader(y_source).read(0, min(y_source.rows, 1024))
    rows_like = SimpleNamespace(shape=(len(head), *x_source.shape[1:]))  # only its shape is read
    training.check_targets(model, compiled, rows_like, head, y_path, rows=y_source.rows)
    if weights_path is None and loaded.weights is None:
        raise click.UsageError("give --weights (the spec has no weights of its own)")
    budget.check(model, min(batch_size, x_source.rows), max_memory)
    weights = _weights(model, weights_path, loaded)
    output_shape = model.output_shape((None, *x_source.shape[1:]))
    with dask_engine.connect(scheduler) as client:
        _, spans = _plan(client, x_source, batch_size, chunk_rows,
                         _row_bytes(y_source.shape), model, max_memory)
        job = dask_engine.Job("evaluate", x_source, None, batch_size, allow_nonfinite,
                              targets=y_source, loss=compiled.loss,
                              metrics=(*compiled.metrics, *compiled.weighted_metrics),
                              output_shape=output_shape)
        parts = [None] * len(spans)
        _drive(client, model, weights, job, spans, parts.__setitem__)
    regularization = training.weight_penalty(
        weights, training.trainable_rules(model, training.trainable_keys(model)))
    return reduce_scores(parts, compiled, y_source.shape, output_shape, regularization)


def reduce_scores(parts, compiled, y_shape, output_shape, regularization: float) -> dict:
    """training.evaluate's sums, taken in the same batch order: the same floats. The
    workers' metrics are the plain ones then the weighted ones (evaluate has no sample
    weights, so both are computed alike), named as training.evaluate names them."""
    from seqcli import training

    tracked = training.metric_list(compiled, y_shape, output_shape)
    loss_sum, seen = 0.0, 0
    for chunk in parts:
        for loss, penalty, count, metric_parts in chunk:
            loss_sum += (loss + penalty + regularization) * count
            seen += count
            for metric, state in zip(tracked, metric_parts):
                metric.merge(state)
    return {"loss": loss_sum / max(seen, 1), **{m.name: m.result() for m in tracked}}


def _metric_list(metric_names):
    from seqcli.settings import split_names

    return split_names(metric_names)
