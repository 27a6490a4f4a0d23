"""Property tests over every command's options: random combinations of valid and invalid
values, files and standard input end in a clean result or one clean error line (exit 1
or 2, or 3 for a check), never a traceback or an "internal error".

The options are read from the commands themselves (click's parameters), so a new option
is covered as soon as it exists. Values come from pools by the option's type and name:
good and bad files of every kind, good and bad numbers, names and calls.

The default run tries a few hundred combinations. For the long profile (10,000 per
test, minutes), run:

  SEQCLI_HYPOTHESIS_PROFILE=long python -m pytest tests/test_option_properties.py
"""

from __future__ import annotations

import io
import os
import tempfile

import click
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seqcli.cli import COMMAND_MODULES, cli

# examples per test: a few hundred by default, 10,000 in the long profile
EXAMPLES = {"default": 300, "long": 10_000}[os.environ.get("SEQCLI_HYPOTHESIS_PROFILE",
                                                           "default")]

SPEC = ("input_shape: [3]\ncompile: {loss: mse, optimizer: sgd, metrics: [mae]}\n"
        "layers:\n  - Dense: {units: 4, activation: relu}\n  - Dense: {units: 2}\n")
NESTED = ("input_shape: [3]\nlayers:\n  - Sequential: {name: base, layers: [Dense: {units: 4}]}"
          "\n  - Dense: {units: 2}\n")


def make_files(folder: str) -> dict:
    """Every kind of file a user may point an option at, good and bad; name -> bytes."""
    rng = np.random.default_rng(0)
    x, y = rng.random((8, 3), dtype=np.float32), rng.random((8, 2), dtype=np.float32)

    def npy(array):
        buffer = io.BytesIO()
        np.save(buffer, array)
        return buffer.getvalue()

    def npz(**arrays):
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        return buffer.getvalue()

    weights = {"dense/kernel": rng.random((3, 4), dtype=np.float32),
               "dense/bias": np.zeros(4, np.float32),
               "dense_1/kernel": rng.random((4, 2), dtype=np.float32),
               "dense_1/bias": np.zeros(2, np.float32)}
    files = {
        "spec.yaml": SPEC.encode(), "nested.yaml": NESTED.encode(),
        "spec.json": b'{"input_shape": [3], "layers": ["Flatten", {"Dense": {"units": 2}}]}',
        "bad.yaml": b"layers:\n  - Dense: {units: -1}\n", "typo.yaml": b"layers: [Dnse: {}]\n",
        "x.npy": npy(x), "y.npy": npy(y), "x4.npy": npy(rng.random((8, 4), dtype=np.float32)),
        "nan.npy": npy(np.full((2, 3), np.nan, np.float32)), "empty.npy": npy(x[:0]),
        "x.csv": b"a,b,c\n1,2,3\n4,5,6\n", "bad.csv": b"1,2,3\n4,x,6\n", "y.tsv": b"1\t2\n3\t4\n",
        "w.npz": npz(**weights), "other.npz": npz(a=x), "data.npz": npz(x=x, y=y),
        "garbage.bin": bytes(range(256)), "zero.npy": b"",
        "sw.npy": npy(rng.random(8, dtype=np.float32)),
    }
    for name, data in files.items():
        with open(os.path.join(folder, name), "wb") as handle:
            handle.write(data)
    os.mkdir(os.path.join(folder, "folder"))
    return files


INPUTS = ["spec.yaml", "nested.yaml", "spec.json", "bad.yaml", "typo.yaml", "x.npy", "y.npy",
          "x4.npy", "nan.npy", "empty.npy", "x.csv", "bad.csv", "y.tsv", "w.npz", "other.npz",
          "data.npz", "garbage.bin", "zero.npy", "missing.npy", "folder", "-", ""]
OUTPUTS = ["out.npy", "out.npz", "out.yaml", "out.json", "out.csv", "out.svg", "out.dot",
           "out.keras", "out.weights.h5", "out.txt", "-", "folder", "nodir/out.npz",
           "spec.yaml", "x.npy"]
STDIN = [None, SPEC.encode(), b"garbage\x00\xff", b"1,2,3\n", b""]
INTS = ["-1", "0", "1", "2", "3", "7", "1000000000000", "x", "1.5", ""]
FLOATS = ["-0.5", "0", "0.2", "1", "1.5", "nan", "inf", "x"]
BY_NAME = {  # values an option of this name takes, right and wrong
    "epochs": ["0", "1", "2", "-1", "x"],
    "loss": ["mse", "Huber(0.5)", "mse(reduction='sum')", "BinaryCrossentropy(True, 0.1)",
             "SparseCategoricalCrossentropy(ignore_class=1)", "nope", "__import__('os')",
             "mse(None)", "", "Tversky(0.7, 0.3)", "Dice(axis=0)", "mape", "logcosh",
             "BinaryFocalCrossentropy(gamma='x')", "CosineSimilarity(axis=1)"],
    "optimizer": ["adam", "Adam(1e-3)", "SGD(0.1, 0.9, True)", "RMSprop(rho=2)", "Adam(x)",
                  "nope", "Adagrad(*a)"],
    "metric_names": ["mae", "accuracy", "mse,mae", "nope", ","],
    "layer_names": ["dense", "dense_1", "base/dense", "base/nope", "nope", ""],
    "layers": ["dense", "dense,dense_1", "dense,dense", ",", "nope"],
    "input_shape": ["3", "3,4", "4,,5", "-1", "x", "0", "100000,100000"],
    "max_memory": ["1K", "100M", "8G", "x", "0", "-5"],
    "class_weight": ["0:1,1:2", "x", "0:", "1:-1"],
    "monitor": ["loss", "val_loss", "mae", "nope"],
    "columns": ["params", "macs,flops", "nope", ""],
    "scheduler": ["tcp://127.0.0.1:1", "nope"],
    "until": ["dense", "dense_1", "nope"],
    "name": ["model", "", "a b", "x" * 300],
    # add's arguments: the spec, then a layer call
    "args": ["spec.yaml", "spec.json", "bad.yaml", "-", "missing.yaml", "Dense(3)", "Dense(",
             "Nope(1)", "Dense(units=-1)", "Flatten", "Bidirectional(LSTM(2))", "Dense(*x)"],
    "layer_name": ["dense", "base/dense", "nope", ""],
    "class_name": ["Dense", "Conv2D", "Nope", ""],
    "engine_name": ["numpy", "onnxruntime", "nope"],  # dask starts a cluster: its own tests
    "max_params": ["1K", "100", "x", "-1"], "max_macs": ["1M", "1", "x"],
    "max_flops": ["1G", "0", "x"],
}
SLOW = {"dask"}  # engine choices that start a cluster: their own tests cover them
RARE = {"scheduler", "chunk_rows", "validation_path"}  # each refused without another


def values_for(param: click.Parameter) -> list:
    """The pool of command-line values for one parameter, right and wrong."""
    kind = param.type
    if param.name in BY_NAME:
        return BY_NAME[param.name]
    if isinstance(kind, click.Choice):
        return [c for c in kind.choices if c not in SLOW] + ["nope"]
    if isinstance(kind, (click.IntRange, click.types.IntParamType)):
        return INTS
    if isinstance(kind, (click.FloatRange, click.types.FloatParamType)):
        return FLOATS
    if isinstance(kind, click.Path) or isinstance(kind, click.File):
        return OUTPUTS if param.name in WRITTEN else INPUTS
    return INPUTS + ["Dense(3)", "dense", "1", "x"]


WRITTEN = {"output", "weights_out", "history_path", "checkpoint_path", "spec_out"}
GOOD = {  # a right value per parameter name, so that many combinations do real work
    "spec": ["spec.yaml", "nested.yaml", "spec.json"], "spec_a": ["spec.yaml"],
    "spec_b": ["nested.yaml", "spec.json"], "input_path": ["x.npy", "x.csv"],
    "x_path": ["x.npy", "x.csv"], "y_path": ["y.npy"], "weights_path": ["w.npz"],
    "data_path": ["data.npz"], "validation_path": ["data.npz"], "history_path": ["h.csv"],
    "checkpoint_path": ["c.npz"], "weights_out": ["wo.npz"], "sample_weight_path": ["sw.npy"],
    "spec_out": ["adapted.yaml", "adapted.keras"],
    "epochs": ["1", "2"], "batch_size": ["1", "4", "32"], "validation_split": ["0.25"],
    "learning_rate": ["0.01"], "seed": ["0", "7"], "chunk_rows": ["4"],
}
OUTPUT_OF = {"run": ["out.npy", "-"], "convert": ["out.yaml", "out.json", "out.keras",
                                                  "out.weights.h5", "out.npz"],
             "plot": ["out.svg", "out.dot", "out.mmd"]}


def good_values(param: click.Parameter, command: str) -> list:
    if command == "adapt" and param.name == "data_path":
        return ["x.npy", "x4.npy"]
    if param.name == "output":
        return OUTPUT_OF.get(command, ["out.yaml"] if command in ("freeze", "unfreeze", "new",
                                                                   "add", "pop") else ["out.npz"])
    if param.name in GOOD:
        return GOOD[param.name]
    pool = values_for(param)
    return pool[:max(1, len(pool) // 2)]  # the pools list right values first


def command_params(name: str) -> list[click.Parameter]:
    command = cli.get_command(click.Context(cli), name)
    return [p for p in command.params if p.name not in ("help",)]


@st.composite
def invocations(draw, names):
    """(argv, stdin) for one of the commands `names`: required options always, others
    often; right values three times in four, anything from the pools otherwise."""
    name = draw(st.sampled_from(names))
    argv = [name]

    def value(param):
        right = draw(st.sampled_from([True, True, True, False]))
        return draw(st.sampled_from(good_values(param, name) if right else values_for(param)))

    # fit and evaluate take --data or --x and --y: mostly one of the two, sometimes anything
    mode = draw(st.sampled_from(["data", "xy", "any"]))
    forced = {"data": {"data_path"}, "xy": {"x_path", "y_path"}, "any": set()}[mode]
    left_out = {"data_path", "x_path", "y_path"} - forced if mode != "any" else set()
    for param in command_params(name):
        if param.name in left_out:
            continue
        if isinstance(param, click.Argument):
            count = 1 if param.nargs == 1 else draw(st.integers(0, 3))
            if param.name == "args" and draw(st.booleans()):  # add: a spec, then a call
                argv += [draw(st.sampled_from(GOOD["spec"])),
                         draw(st.sampled_from(values_for(param)[5:]))]
            elif param.name == "args":
                argv += [draw(st.sampled_from(values_for(param))) for _ in range(count)]
            else:
                argv += [value(param) for _ in range(count)]
            continue
        odds = 10 if param.name in RARE else 3  # one in `odds`, unless required
        if not (param.required or param.name in forced or draw(st.integers(1, odds)) == 1):
            continue
        flag = draw(st.sampled_from(param.opts))
        if param.is_flag:
            argv.append(draw(st.sampled_from(param.opts + param.secondary_opts)))
        else:
            for _ in range(draw(st.integers(1, 2)) if param.multiple else 1):
                argv += [flag, value(param)]
    stdin = draw(st.one_of(st.sampled_from(STDIN), st.binary(max_size=64),
                           st.text("0123456789,.-+e\n\t abn", max_size=40).map(str.encode)))
    return argv, stdin


def assert_clean(argv, stdin):
    from click.testing import CliRunner

    with tempfile.TemporaryDirectory() as folder:
        make_files(folder)
        before = os.getcwd()
        os.chdir(folder)
        try:
            result = CliRunner().invoke(cli, argv, input=stdin)
        finally:
            os.chdir(before)
    err = result.stderr
    assert not isinstance(result.exception, (AssertionError, MemoryError)), argv
    assert "Traceback" not in err and "internal error" not in err, (argv, err)
    assert result.exit_code in (0, 1, 2, 3), (argv, result.exit_code, err)
    if result.exit_code in (1, 2):
        lines = err.strip().splitlines()
        assert lines and lines[-1].startswith("seqcli: error: "), (argv, err)
        assert all(line.startswith("seqcli: ") for line in lines), (argv, err)


FAST = ["summary", "weights", "init", "run", "extract", "catalog", "freeze", "unfreeze", "new",
        "add", "pop", "plot", "check", "diff", "explain"]
SLOWER = ["fit", "evaluate", "convert", "adapt"]  # training, ONNX, Keras files, data passes


def test_the_pools_cover_every_command():
    assert sorted(FAST + SLOWER) == sorted(COMMAND_MODULES)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(invocations(FAST))
def test_any_options_end_cleanly(case):
    assert_clean(*case)


@settings(max_examples=EXAMPLES // 3, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(invocations(SLOWER))
def test_any_training_and_conversion_options_end_cleanly(case):
    assert_clean(*case)


@pytest.mark.parametrize("argv", [
    ["summary", "spec.yaml", "--style", "keras3", "--line-length", "1000000000000"],
    ["init", "spec.yaml", "--seed", "-5", "-o", "out.npz"],
    ["fit", "spec.yaml", "--data", "data.npz", "--seed", "-1", "-o", "out.npz"],
    ["fit", "spec.yaml", "--data", "data.npz", "--validation-split", "nan", "-o", "out.npz"],
    ["fit", "spec.yaml", "--data", "data.npz", "--learning-rate", "inf", "-o", "out.npz"],
])
def test_options_found_by_these_properties(argv):
    """Each of these once ended in an internal error (MemoryError, ValueError), or
    trained with a NaN learning rate."""
    from click.testing import CliRunner

    with tempfile.TemporaryDirectory() as folder:
        make_files(folder)
        before = os.getcwd()
        os.chdir(folder)
        try:
            result = CliRunner().invoke(cli, argv)
        finally:
            os.chdir(before)
    assert result.exit_code == 2 and result.stderr.startswith("seqcli: error: Invalid value")
