"""Throughput of `--engine dask` against one process, and the numbers of its cost model.

  pip install '.[dask]'
  python benchmarks/dask_scaling.py            # prints the tables, writes benchmarks/DASK.md

What it measures, on this machine:
- rows/s of `seqcli run` with the numpy engine (one process) and with the Dask engine on
  a local cluster of 1 and 2 single-threaded worker processes, for two models (an MLP
  over 512-wide embeddings, the guide's CNN over 250x250x3 images), each output checked
  byte for byte against the one-process run;
- the same with OPENBLAS_NUM_THREADS=1 everywhere (a child run of this script);
- the cost model's terms: bytes shipped once per worker and per chunk, the end-to-end
  overhead per task (tiny chunks of a tiny model), the rate at which the scheduler hands
  out tasks, and throughput against chunk size.

Times are the best of a few repetitions: the machine is shared and busy, and its load
average is recorded next to each figure. The cluster is started once per worker count
and its start-up is reported apart from the throughput.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import pickle
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

MLP_SPEC = """name: embeddings
layers:
  - Input: {shape: [512]}
  - Dense: {units: 512, activation: relu}
  - Dense: {units: 256, activation: relu}
  - Dense: {units: 10}
"""
CNN_SPEC = os.path.join(ROOT, "specs", "guide_cnn.yaml")


def load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def seqcli(*args) -> str:
    """Run a seqcli command in this process; its stderr, or an exception on failure."""
    from seqcli.cli import cli

    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        try:
            cli.main([str(a) for a in args])
        except SystemExit as exc:
            if exc.code:
                raise RuntimeError(stderr.getvalue()) from None
    return stderr.getvalue()


def best_time(function, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def start_cluster(workers: int, blas_threads: int | None = None):
    """A local cluster of single-threaded worker processes; their nanny gives each one
    BLAS thread (Dask's default) unless `blas_threads` says otherwise."""
    from distributed import Client, LocalCluster

    saved = dict(os.environ)  # the nanny writes its settings into this process's environment
    if blas_threads:
        os.environ["OPENBLAS_NUM_THREADS"] = str(blas_threads)
    start = time.perf_counter()
    try:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address="127.0.0.1:0",
                               silence_logs=logging.CRITICAL)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    client = Client(cluster)
    return cluster, client, time.perf_counter() - start


def make_data(folder: str, rows_mlp: int, rows_cnn: int) -> dict:
    rng = np.random.default_rng(0)
    with open(os.path.join(folder, "mlp.yaml"), "w") as handle:
        handle.write(MLP_SPEC)
    workloads = {"MLP 512-512-256-10 (embeddings)": ("mlp.yaml", (rows_mlp, 512)),
                 "guide CNN (250x250x3 images)": (CNN_SPEC, (rows_cnn, 250, 250, 3))}
    made = {}
    for name, (spec, shape) in workloads.items():
        tag = "mlp" if spec == "mlp.yaml" else "cnn"
        x = rng.standard_normal(shape, dtype=np.float32)
        np.save(f"{tag}.npy", x)
        seqcli("init", spec, "-o", f"{tag}_w.npz")
        made[name] = (spec, tag, shape)
    return made


def one_thread_reference(spec: str, tag: str) -> np.ndarray:
    """The numpy engine with one BLAS thread, as Dask's workers run: the bits to match."""
    subprocess.run([sys.executable, "-m", "seqcli", "run", spec, "--input", f"{tag}.npy",
                    "--weights", f"{tag}_w.npz", "-o", f"{tag}_one_thread.npy"], check=True,
                   capture_output=True, env={**os.environ, "PYTHONPATH": ROOT,
                                             "OPENBLAS_NUM_THREADS": "1"})
    return np.load(f"{tag}_one_thread.npy")


def throughput(made: dict, configurations: list, repeat: int) -> list:
    """Rows/s per workload: one process, then Dask with each (workers, BLAS threads)."""
    import zarr

    rows, threaded, single = [], {}, {}
    for name, (spec, tag, shape) in made.items():
        seconds = best_time(lambda: seqcli("run", spec, "--input", f"{tag}.npy", "--weights",
                                           f"{tag}_w.npz", "-o", f"{tag}_one.npy"), repeat)
        threaded[tag] = np.load(f"{tag}_one.npy")
        single[tag] = one_thread_reference(spec, tag)
        rows.append({"workload": name, "engine": "numpy, one process", "workers": 1,
                     "seconds": seconds, "rows_per_s": shape[0] / seconds, "load": load(),
                     "identical": "(reference)", "difference": 0.0})
    for workers, blas_threads in configurations:
        cluster, client, started = start_cluster(workers, blas_threads)
        label = f"dask -o out.zarr, {blas_threads or 1} BLAS thread(s) per worker"
        try:
            for name, (spec, tag, shape) in made.items():
                if blas_threads and tag == "cnn":
                    continue  # the MLP shows it; the CNN would take minutes
                def go():
                    seqcli("run", spec, "--input", f"{tag}.npy", "--weights", f"{tag}_w.npz",
                           "--engine", "dask", "--scheduler", cluster.scheduler_address,
                           "-o", f"{tag}_dask.zarr")
                seconds = best_time(go, repeat)
                output = zarr.open_array(f"{tag}_dask.zarr", mode="r")[:]
                same = output.tobytes() == single[tag].tobytes()
                rows.append({"workload": name, "engine": label, "workers": workers,
                             "seconds": seconds, "rows_per_s": shape[0] / seconds,
                             "load": load(), "identical": "yes" if same else "NO",
                             "difference": float(np.abs(output - threaded[tag]).max()),
                             "cluster_start_s": started})
        finally:
            client.close()
            cluster.close()
    return rows


def cost_model(made: dict, repeat: int) -> dict:
    """Bytes shipped, per-task overhead, scheduler task rate, chunk-size curve (2 workers)."""
    from distributed.protocol import serialize_bytes

    from seqcli import dask_engine, shards, sinks, spec, weights

    result = {}
    cluster, client, _ = start_cluster(2)
    try:
        mlp_spec, tag, shape = made["MLP 512-512-256-10 (embeddings)"]
        model = spec.load(mlp_spec).model.with_input((None, *shape[1:]))
        trained, _ = weights.load(model, f"{tag}_w.npz")
        source = shards.open_source(f"{tag}.npy")
        job = dask_engine.Job("run", source, sinks.Sink("zarr", "/x", "/x.tmp"), 32)
        work = dask_engine.Work(dask_engine.DaskEngine(model, trained).local, job)
        result["payload_bytes_once_per_worker"] = len(pickle.dumps(work))
        task = (dask_engine.compute_chunk, ("seqcli-run-0123456789ab", 12345), 12345,
                12345 * 2048, 12346 * 2048)
        result["task_bytes_per_chunk"] = len(serialize_bytes(task))
        result["result_bytes_per_chunk_zarr"] = len(serialize_bytes(2048))
        result["input_bytes_per_row"] = 4 * int(np.prod(shape[1:]))
        result["output_bytes_per_row"] = 4 * 10

        # end to end per task: tiny chunks of a tiny model, so the work is the overhead
        with open("tiny.yaml", "w") as handle:
            handle.write("name: tiny\nlayers:\n  - Input: {shape: [1]}\n  - Dense: {units: 1}\n")
        np.save("tiny.npy", np.ones((4000, 1), np.float32))
        seqcli("init", "tiny.yaml", "-o", "tiny_w.npz")

        def tiny(output):
            return lambda: seqcli("run", "tiny.yaml", "--input", "tiny.npy", "--weights",
                                  "tiny_w.npz", "--engine", "dask", "--scheduler",
                                  cluster.scheduler_address, "--batch-size", "1",
                                  "--chunk-rows", "1", "-o", output)
        seconds = best_time(tiny("tiny.npy.out.npy"), repeat)
        result["tiny_tasks"] = 4000
        result["seconds_per_task_end_to_end_npy_out"] = seconds / 4000
        seconds = best_time(tiny("tiny_parts/"), 1)
        result["seconds_per_task_end_to_end_folder_out"] = seconds / 4000

        def noop(i):
            return i

        def bare():
            futures = client.map(noop, range(4000), pure=False)
            client.gather(futures)
        result["seconds_per_task_bare_client_map"] = best_time(bare, repeat) / 4000

        # throughput against chunk size
        curve = []
        for chunk_rows in (256, 1024, 4096, 16384):
            def go():
                seqcli("run", mlp_spec, "--input", f"{tag}.npy", "--weights", f"{tag}_w.npz",
                       "--engine", "dask", "--scheduler", cluster.scheduler_address,
                       "--chunk-rows", chunk_rows, "-o", "curve.zarr")
            seconds = best_time(go, repeat)
            curve.append({"chunk_rows": chunk_rows, "chunks": -(-shape[0] // chunk_rows),
                          "rows_per_s": shape[0] / seconds, "load": load()})
        result["chunk_curve"] = curve
    finally:
        client.close()
        cluster.close()
    return result


def measure(rows_mlp: int, rows_cnn: int, repeat: int, with_cost_model: bool) -> dict:
    configurations = [(1, None), (2, None)]
    if with_cost_model:  # the default run also shows what threaded BLAS per worker costs
        configurations.append((2, os.cpu_count()))
    with tempfile.TemporaryDirectory() as folder:
        cwd = os.getcwd()
        os.chdir(folder)
        try:
            made = make_data(folder, rows_mlp, rows_cnn)
            found = {"throughput": throughput(made, configurations, repeat)}
            if with_cost_model:
                found["cost"] = cost_model(made, repeat)
        finally:
            os.chdir(cwd)
    return found


# ---------------------------------------------------------------- report

def table(rows: list) -> str:
    lines = ["| workload | engine | workers | rows/s | vs one process | seconds | "
             "bit-identical to one BLAS thread | max diff vs this one process | load avg |",
             "|---|---|---|---|---|---|---|---|---|"]
    base = {r["workload"]: r["rows_per_s"] for r in rows if r["engine"].startswith("numpy")}
    for r in rows:
        lines.append(f"| {r['workload']} | {r['engine']} | {r['workers']} | "
                     f"{r['rows_per_s']:,.0f} | {r['rows_per_s'] / base[r['workload']]:.2f}x | "
                     f"{r['seconds']:.2f} | {r['identical']} | {r['difference']:.1e} | "
                     f"{r['load']} |")
    return "\n".join(lines)


def report(default: dict, single_blas: dict | None) -> str:
    cost = default["cost"]
    starts = sorted({round(r["cluster_start_s"], 1) for r in default["throughput"]
                     if "cluster_start_s" in r})
    parts = [
        "# The Dask engine: measured throughput and cost model",
        "",
        f"Machine: {os.cpu_count()} cores, shared with other developers' builds and tests "
        "while this ran (load average in each row). Written by "
        "`python benchmarks/dask_scaling.py`.",
        "",
        "## Throughput: `seqcli run` as it is, against the Dask engine as it is",
        "",
        table(default["throughput"]),
        "",
        f"Starting the local cluster took {', '.join(f'{s} s' for s in starts)} "
        "(not counted above).",
    ]
    if single_blas:
        parts += ["", "## Throughput with OPENBLAS_NUM_THREADS=1 everywhere", "",
                  table(single_blas["throughput"])]
    parts += [
        "", "## Cost-model terms (2 workers)", "",
        "| term | measured |", "|---|---|",
        f"| model, weights and job, scattered once per worker | "
        f"{cost['payload_bytes_once_per_worker']:,} bytes |",
        f"| one chunk's task, client to scheduler to worker | "
        f"{cost['task_bytes_per_chunk']:,} bytes |",
        f"| one chunk's result back (Zarr or folder output) | "
        f"{cost['result_bytes_per_chunk_zarr']:,} bytes |",
        f"| input read by the worker itself, per row (MLP) | "
        f"{cost['input_bytes_per_row']:,} bytes |",
        f"| overhead per task, end to end (tiny chunks, `-o out.npy`) | "
        f"{cost['seconds_per_task_end_to_end_npy_out'] * 1e3:.2f} ms |",
        f"| overhead per task, end to end (tiny chunks, `-o folder/`) | "
        f"{cost['seconds_per_task_end_to_end_folder_out'] * 1e3:.2f} ms |",
        f"| bare `client.map` of a no-op, per task | "
        f"{cost['seconds_per_task_bare_client_map'] * 1e3:.2f} ms |",
        "", "Throughput against chunk size (MLP, 2 workers, `-o out.zarr`):", "",
        "| --chunk-rows | chunks | rows/s | load avg |", "|---|---|---|---|",
    ]
    parts += [f"| {c['chunk_rows']:,} | {c['chunks']:,} | {c['rows_per_s']:,.0f} | "
              f"{c['load']} |" for c in cost["chunk_curve"]]
    return "\n".join(parts) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows-mlp", type=int, default=65536)
    parser.add_argument("--rows-cnn", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print raw results (for the "
                        "single-BLAS child run)")
    parser.add_argument("--output", default=os.path.join(HERE, "DASK_RESULTS.md"))
    args = parser.parse_args()
    if args.json:
        print(json.dumps(measure(args.rows_mlp, args.rows_cnn, args.repeat, False)))
        return
    default = measure(args.rows_mlp, args.rows_cnn, args.repeat, True)
    child = subprocess.run([sys.executable, __file__, "--json", "--rows-mlp",
                            str(args.rows_mlp), "--rows-cnn", str(args.rows_cnn), "--repeat",
                            str(args.repeat)], capture_output=True, text=True,
                           env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    single = json.loads(child.stdout) if child.returncode == 0 else None
    if single is None:
        print(child.stderr[-2000:], file=sys.stderr)
    text = report(default, single)
    with open(args.output, "w") as handle:
        handle.write(text)
    print(text)


if __name__ == "__main__":
    main()
