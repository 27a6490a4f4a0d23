"""seqcli's performance targets, measured against PyTorch and Keras in one run.

  pip install '.[bench]'          # PyTorch (CPU), Keras 3 and JAX, for the peers
  python benchmarks/run.py        # prints the table and writes benchmarks/RESULTS.md
  python benchmarks/run.py --only recurrent --only fit   # some sections, printed only

A peer that is not installed is skipped with a note. Times are the best of several
repetitions (the machine may be shared); every ratio compares figures taken in this
run, on this machine, with the same number of threads.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from seqcli import arrays, memory, runner, spec, weights  # noqa: E402
from seqcli.engines.numpy_engine import NumpyEngine  # noqa: E402

import bench_fit  # noqa: E402
import bench_recurrent  # noqa: E402
from timing import THREADS, best, compare, peer, skipped, wall  # noqa: E402

CNN = os.path.join(ROOT, "specs", "guide_cnn.yaml")
MLP = os.path.join(ROOT, "specs", "guide_mlp.yaml")
os.environ.setdefault("KERAS_BACKEND", "numpy")  # Keras 3's backend with no TensorFlow
# the allocator settings seqcli's compute commands make (seqcli/memory.py); PyTorch, in
# this same process, runs with them too
memory.keep_freed_memory()


# ---------------------------------------------------------------- the machine

def machine() -> dict:
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle
                       if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "threads": THREADS, "python": platform.python_version(),
            "numpy": np.__version__}


def matmul_peak() -> float:
    """The float32 matrix-multiply rate numpy reaches here (GFLOP/s): the ceiling."""
    a = np.random.default_rng(0).random((2048, 2048), dtype=np.float32)
    return 2 * 2048 ** 3 / best(lambda: a @ a, repeat=15) / 1e9  # best: the machine is shared


# ---------------------------------------------------------------- 1. summary start-up

KERAS_SUMMARY = """
import os
os.environ["KERAS_BACKEND"] = "numpy"
import keras
from keras import layers
model = keras.Sequential([keras.Input(shape=(250, 250, 3)),
    layers.Conv2D(32, 5, strides=2, activation="relu"), layers.Conv2D(32, 3, activation="relu"),
    layers.MaxPooling2D(3), layers.Conv2D(32, 3, activation="relu"),
    layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(3),
    layers.Conv2D(32, 3, activation="relu"), layers.Conv2D(32, 3, activation="relu"),
    layers.MaxPooling2D(2), layers.GlobalMaxPooling2D(), layers.Dense(10)])
model.summary()
"""

NO_NUMPY = [["summary", CNN], ["catalog", "Conv2D"], ["freeze", MLP, "--except-last"],
            ["new"], ["pop", CNN]]


def startup(results):
    # as after `pip install`, which compiles bytecode (Keras's is compiled): an editable
    # install under PYTHONDONTWRITEBYTECODE would otherwise recompile seqcli every run
    import compileall

    import seqcli as package

    compileall.compile_dir(os.path.dirname(package.__file__), quiet=1)
    seqcli = [sys.executable, "-m", "seqcli"]
    run_ours = lambda: wall(seqcli + ["summary", CNN], repeat=1)  # noqa: E731
    row = {"target": "summary start-up (guide CNN, whole process)"}
    if peer("keras") is not None:
        run_theirs = lambda: wall([sys.executable, "-c", KERAS_SUMMARY], repeat=1)  # noqa
        pairs = [(run_ours(), run_theirs()) for _ in range(7)]  # alternating processes
        ours = min(p[0] for p in pairs)  # best of each, as for every other comparison
        theirs = min(p[1] for p in pairs)
        row.update(peer_figure=f"Keras 3 (numpy backend): {theirs:.2f} s",
                   ratio=theirs / ours, goal=15.0)
    else:
        ours = wall(seqcli + ["summary", CNN], repeat=9)
        row.update(peer_figure="Keras not installed: skipped", ratio=None, goal=15.0)
    row["seqcli"] = f"{ours:.3f} s"
    results.append(row)
    clean = []
    for args in NO_NUMPY:
        out = subprocess.run(seqcli[:1] + ["-X", "importtime"] + seqcli[1:] + args,
                             capture_output=True, text=True)
        imported = {line.split("|")[-1].strip() for line in out.stderr.splitlines()}
        clean.append((args[0], "numpy" not in imported))
    start_up_ratios(results, seqcli)
    results.append({"target": "commands that import no numpy (python -X importtime)",
                    "seqcli": ", ".join(f"{c}: {'none' if ok else 'NUMPY'}" for c, ok in clean),
                    "ratio": float(all(ok for _, ok in clean)), "goal": 1.0,
                    "peer_figure": "-"})


BARE_GOAL = 2.5  # a command's whole process, at most this many times a bare interpreter's
BARE_COMMANDS = [["summary", CNN], ["catalog", "Conv2D"], ["freeze", MLP, "--except-last"],
                 ["add", MLP, "Dense(4)"], ["pop", CNN]]


def start_up_ratios(results, seqcli):
    """Each command's whole process against `python -c pass` on the same interpreter, in
    alternating rounds (median of each side: a process's start-up varies a lot)."""
    bare = [sys.executable, "-c", "pass"]
    commands = {args[0]: seqcli + args for args in BARE_COMMANDS}
    times = {name: [] for name in ["bare", *commands]}
    for _ in range(15):
        times["bare"].append(wall(bare, repeat=1))
        for name, args in commands.items():
            times[name].append(wall(args, repeat=1))
    bare_time = statistics.median(times["bare"])
    for name in commands:
        ours = statistics.median(times[name])
        results.append({"target": f"`seqcli {name}` start-up (whole process) vs `python -c pass`",
                        "seqcli": f"{ours * 1e3:.0f} ms ({ours / bare_time:.1f}x)",
                        "peer_figure": f"python -c pass: {bare_time * 1e3:.0f} ms",
                        "ratio": BARE_GOAL * bare_time / ours, "goal": 1.0,
                        "note": f"goal: within {BARE_GOAL:g}x"})


# ---------------------------------------------------------------- 2. convolutional forward

def cnn_flops(model) -> float:
    """Multiply-adds x 2 of one image through the guide's CNN (convolutions and Dense)."""
    total, shape = 0, (1, *model.input_shape)
    for layer in model.layers:
        out = layer.output_shape(shape)
        kernel = getattr(layer, "kernel_size", None)
        if kernel:
            total += 2 * int(np.prod(out[1:])) * kernel[0] * kernel[1] * shape[-1]
        elif type(layer).__name__ == "Dense":
            total += 2 * out[-1] * shape[-1]
        shape = out
    return total


def torch_cnn(torch):
    nn = torch.nn
    layers = [nn.Conv2d(3, 32, 5, 2), nn.ReLU(), nn.Conv2d(32, 32, 3), nn.ReLU(), nn.MaxPool2d(3)]
    layers += [nn.Conv2d(32, 32, 3), nn.ReLU(), nn.Conv2d(32, 32, 3), nn.ReLU(), nn.MaxPool2d(3)]
    layers += [nn.Conv2d(32, 32, 3), nn.ReLU(), nn.Conv2d(32, 32, 3), nn.ReLU(), nn.MaxPool2d(2)]
    layers += [nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(32, 10)]
    return nn.Sequential(*layers).eval().to(memory_format=torch.channels_last)


def keras_model(path):
    import keras

    model = spec.load(path).model
    built = [keras.Input(shape=model.input_shape)]
    built += [getattr(keras.layers, type(layer).__name__)(**layer.config())
              for layer in model.layers]
    return keras.Sequential(built)


def conv_forward(results, peak):
    model = spec.load(CNN).model
    params = weights.nest(weights.fresh(model))
    x = np.random.default_rng(0).random((32, 250, 250, 3), dtype=np.float32)
    torch = peer("torch")
    if torch is not None:
        torch.set_num_threads(THREADS)
        net = torch_cnn(torch)
        tx = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            ours, theirs = (32 / t for t in compare(lambda: model.forward(params, x),
                                                    lambda: net(tx), repeat=11))
        fraction = ours * cnn_flops(model) / 1e9 / peak
        results.append({"target": "guide CNN forward, batch 32 (images/s) vs PyTorch CPU",
                        "seqcli": f"{ours:.1f} img/s ({fraction:.0%} of matmul peak)",
                        "peer_figure": f"PyTorch {torch.__version__}: {theirs:.1f} img/s",
                        "ratio": ours / theirs, "goal": 1.0})
    else:
        results.append(skipped("guide CNN forward vs PyTorch", "PyTorch", 1.0))
    if peer("keras") is not None and peer("jax") is not None:
        k_model = keras_model(CNN)
        ours, theirs = (32 / t for t in compare(lambda: model.forward(params, x),
                                                lambda: k_model.predict_on_batch(x), repeat=3))
        results.append({"target": "guide CNN forward, batch 32 (images/s) vs Keras numpy",
                        "seqcli": f"{ours:.1f} img/s",
                        "peer_figure": f"Keras 3 numpy backend: {theirs:.1f} img/s",
                        "ratio": ours / theirs, "goal": 3.0})
    else:
        results.append(skipped("guide CNN forward vs Keras numpy backend", "Keras/JAX", 3.0))


# ---------------------------------------------------------------- 3. dense forward

def dense_forward(results):
    model = spec.load(MLP).model
    params = weights.nest(weights.fresh(model))
    torch = peer("torch")
    if torch is None:
        results.append(skipped("guide MLP forward vs PyTorch", "PyTorch", 2.0))
        return
    torch.set_num_threads(THREADS)
    net = torch_mlp(torch)
    for batch, number, goal in ((1, 3000, 2.0), (4096, 30, 0.9)):
        x = np.random.default_rng(0).random((batch, 784), dtype=np.float32)
        tx = torch.from_numpy(x)
        with torch.inference_mode():
            ours, theirs = compare(lambda: model.forward(params, x), lambda: net(tx),
                                   repeat=9, number=number)
        results.append({"target": f"guide MLP forward, batch {batch} (per call)",
                        "seqcli": f"{ours * 1e6:.1f} us ({batch / ours:,.0f} samples/s)",
                        "peer_figure": f"PyTorch: {theirs * 1e6:.1f} us",
                        "ratio": theirs / ours, "goal": goal})
    # the profile of the large batch: one 4096x784 @ 784x32 product, numpy's BLAS vs torch's
    a = np.random.default_rng(0).random((4096, 784), dtype=np.float32)
    b = np.random.default_rng(1).random((784, 32), dtype=np.float32)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    numpy_mm, torch_mm = compare(lambda: a @ b, lambda: ta @ tb, number=30)
    results.append({"target": "profile: 4096x784 @ 784x32 sgemm (the MLP's first layer)",
                    "seqcli": f"numpy/OpenBLAS {numpy_mm * 1e6:.0f} us",
                    "peer_figure": f"torch.mm {torch_mm * 1e6:.0f} us",
                    "ratio": None, "goal": None})


def torch_mlp(torch):
    nn = torch.nn
    return nn.Sequential(nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(),
                         nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 10)).eval()


# ---------------------------------------------------------------- 3b. the onnxruntime engine

def onnx_forward(results):
    """seqcli's onnxruntime engine (export once, then ONNX Runtime) against PyTorch CPU,
    in-process, per call: the CNN at batch 32, the MLP at batch 1 and 4096."""
    torch = peer("torch")
    if torch is None or peer("onnxruntime") is None:
        results.append(skipped("onnxruntime engine vs PyTorch", "PyTorch or ONNX Runtime", 2.0))
        return
    from seqcli.engines.onnxruntime_engine import OnnxRuntimeEngine

    torch.set_num_threads(THREADS)
    cases = (("CNN", CNN, torch_cnn(torch), 32, 2.0, 11, 1),
             ("MLP", MLP, torch_mlp(torch), 1, 1.0, 9, 3000),
             ("MLP", MLP, torch_mlp(torch), 4096, 1.0, 9, 30))
    for name, path, net, batch, goal, repeat, number in cases:
        model = spec.load(path).model
        engine = OnnxRuntimeEngine(model, weights.fresh(model))
        x = np.random.default_rng(0).random((batch, *model.input_shape), dtype=np.float32)
        tx = torch.from_numpy(x)
        if x.ndim == 4:  # PyTorch's fastest CPU layout for convolutions
            tx = tx.permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            ours, theirs = compare(lambda: engine.forward(x), lambda: net(tx), repeat=repeat,
                                   number=number)
        results.append({"target": f"onnxruntime engine: guide {name} forward, batch {batch} "
                                  "(per call) vs PyTorch CPU",
                        "seqcli": f"{ours * 1e3:.3f} ms ({batch / ours:,.0f} samples/s)",
                        "peer_figure": f"PyTorch: {theirs * 1e3:.3f} ms",
                        "ratio": theirs / ours, "goal": goal})


# ---------------------------------------------------------------- 4. streaming

def streaming(results, gigabytes):
    rows = int(gigabytes * 1e9) // (784 * 4)
    folder = tempfile.mkdtemp(prefix="seqcli-bench-")
    big, out = os.path.join(folder, "big.npy"), os.path.join(folder, "out.npy")
    # written by another process: a child inherits its parent's peak resident memory
    # at fork on Linux, so this process must never hold the 2 GB itself
    subprocess.run([sys.executable, "-c", WRITE_DATA, big, str(rows)], check=True)
    peak_mb = _peak_rss([sys.executable, "-m", "seqcli", "run", MLP, "--input", big,
                         "-o", out]) / 1024
    results.append({"target": f"seqcli run over a {gigabytes:g} GB .npy: peak resident memory",
                    "seqcli": f"{peak_mb:.0f} MB", "peer_figure": "-",
                    "ratio": 300 / peak_mb, "goal": 1.0, "note": "goal: under 300 MB"})
    model = spec.load(MLP).model
    w = weights.fresh(model)
    streamed = arrays.open_rows(big)
    built = runner.build_for(model, streamed)
    engine = NumpyEngine(built, w)
    in_memory = np.load(big)
    stream_time, memory_time = compare(
        lambda: runner.stream_npy(engine, streamed, 32, _Sink()),
        lambda: runner.predict(engine, in_memory, 32), repeat=5)
    results.append({"target": "streamed run vs the same rows in memory (throughput)",
                    "seqcli": f"{rows / stream_time:,.0f} rows/s streamed",
                    "peer_figure": f"{rows / memory_time:,.0f} rows/s in memory",
                    "ratio": memory_time / stream_time, "goal": 0.9})
    del in_memory
    for path in (big, out):
        if os.path.exists(path):
            os.unlink(path)
    os.rmdir(folder)


WRITE_DATA = """
import sys, numpy as np
path, rows = sys.argv[1], int(sys.argv[2])
data = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, 784))
for start in range(0, rows, 65536):
    data[start:start + 65536] = np.random.default_rng(start).random(
        (min(65536, rows - start), 784), dtype=np.float32)
data.flush()
"""


class _Sink(io.RawIOBase):
    def writable(self):
        return True

    def write(self, data):
        return len(data)


MEASURE_PEAK = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
_, status, usage = os.wait4(child.pid, 0)
print(usage.ru_maxrss if status == 0 else -1)
"""


def _peak_rss(args) -> int:
    """Peak resident kilobytes of a command. Linux counts what a child inherited at fork
    (this process holds PyTorch and JAX), so a small launcher starts the command."""
    out = subprocess.run([sys.executable, "-c", MEASURE_PEAK, *args], check=True,
                         capture_output=True, text=True)
    peak = int(out.stdout.strip())
    if peak < 0:
        raise RuntimeError(f"{args} failed")
    return peak


# ---------------------------------------------------------------- 5. scale

def scale(results):
    folder = tempfile.mkdtemp(prefix="seqcli-bench-")
    times = {}
    for count in (1, 2500, 5000, 10000, 20000):
        path = os.path.join(folder, f"layers{count}.yaml")
        with open(path, "w") as handle:
            handle.write("input_shape: [8]\nlayers:\n" +
                         "  - Dense: {units: 8, activation: relu}\n" * count)
        times[count] = wall([sys.executable, "-m", "seqcli", "summary", path], repeat=9,
                            pick=min)
        os.unlink(path)
    os.rmdir(folder)
    start_up = times.pop(1)  # what does not depend on the layers
    # judged on the larger specs, where a fixed jitter of the machine matters least
    per_layer = {n: (t - start_up) / n for n, t in times.items() if n >= 5000}
    spread = max(per_layer.values()) / min(per_layer.values())
    results.append({"target": "summary of a 10,000-layer spec (whole process)",
                    "seqcli": f"{times[10000]:.2f} s", "peer_figure": "-",
                    "ratio": 1.0 / times[10000], "goal": 1.0, "note": "goal: under 1 s"})
    results.append({"target": "time linear in layers (2.5k/5k/10k/20k)",
                    "seqcli": ", ".join(f"{n:,}: {t:.2f} s" for n, t in times.items()),
                    "peer_figure": f"cost per layer from 5,000 layers up (start-up "
                                   f"{start_up:.2f} s taken off) varies {spread:.2f}x",
                    "ratio": 1.5 / spread, "goal": 1.0,
                    "note": "goal: the per-layer cost stays within 1.5x"})


# ---------------------------------------------------------------- report

def report(info, peak, results) -> str:
    lines = ["# seqcli benchmarks", "",
             f"Machine: {info['cpu']}, {info['threads']} threads; Python {info['python']}, "
             f"numpy {info['numpy']}. Float32 matmul peak measured here: {peak:.0f} GFLOP/s.",
             "Produced by `python benchmarks/run.py`; every figure below comes from one run.",
             "", "| target | seqcli | peer | ratio | goal | met |", "|---|---|---|---|---|---|"]
    for row in results:
        ratio, goal = row.get("ratio"), row.get("goal")
        met = "-" if ratio is None or goal is None else ("yes" if ratio >= goal else "**no**")
        shown_ratio = "-" if ratio is None else f"{ratio:.2f}"
        shown_goal = "-" if goal is None else (row.get("note") or f">= {goal:g}")
        lines.append(f"| {row['target']} | {row['seqcli']} | {row['peer_figure']} | "
                     f"{shown_ratio} | {shown_goal} | {met} |")
    return "\n".join(lines) + "\n"


DEFAULT_OUTPUT = os.path.join(HERE, "RESULTS.md")
SECTIONS = {"startup": startup, "conv": None, "dense": dense_forward, "onnx": onnx_forward,
            "recurrent": bench_recurrent.recurrent, "fit": bench_fit.fit, "streaming": None,
            "scale": scale}  # None: given its arguments in main


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stream-gb", type=float, default=2.0,
                        help="size of the streamed input (default 2 GB)")
    parser.add_argument("--output", default=DEFAULT_OUTPUT)
    parser.add_argument("--json", help="also write the raw results here")
    parser.add_argument("--only", action="append", choices=list(SECTIONS),
                        help="run only this section (repeatable); RESULTS.md is then not "
                             "written unless --output is given")
    args = parser.parse_args()
    info, peak, results = machine(), matmul_peak(), []
    sections = {**SECTIONS, "streaming": lambda r: streaming(r, args.stream_gb),
                "conv": lambda r: conv_forward(r, peak)}
    for name in args.only or SECTIONS:
        sections[name](results)
        print(report(info, peak, results).splitlines()[-1], flush=True)
    text = report(info, peak, results)
    if args.only and args.output == DEFAULT_OUTPUT:
        print(text)
        return
    with open(args.output, "w", encoding="utf-8") as handle:
        handle.write(text + _analysis())
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"machine": info, "peak_gflops": peak, "results": results}, handle,
                      indent=2)
    print(text)


def _analysis() -> str:
    """benchmarks/analysis.md: what bounds each figure and what would move it (by hand)."""
    path = os.path.join(HERE, "analysis.md")
    if not os.path.exists(path):
        return ""
    with open(path, encoding="utf-8") as handle:
        return "\n" + handle.read()


if __name__ == "__main__":
    main()
