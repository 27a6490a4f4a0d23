"""Every command through click's CliRunner, as a user would call it."""

import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from seqcli.cli import cli as seqcli_group
from tests.conftest import ROOT, spec_path

COMMANDS = seqcli_group.list_commands(None)


def test_every_command_is_listed_and_loads():
    import click

    assert COMMANDS == sorted(["summary", "init", "weights", "run", "extract", "catalog",
                               "freeze", "unfreeze", "new", "add", "pop", "fit", "evaluate",
                               "convert", "check", "plot", "diff", "explain", "adapt"])
    for name in COMMANDS:
        assert isinstance(seqcli_group.get_command(None, name), click.Command)


@pytest.fixture
def work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    np.save("x3.npy", np.linspace(-1, 1, 9, dtype=np.float32).reshape(3, 3))
    np.save("ones_1x4.npy", np.ones((1, 4)))  # float64: cast explicitly
    np.save("img.npy", np.random.default_rng(0).random((2, 250, 250, 3), dtype=np.float32))
    return tmp_path


def assert_clean_error(result, status, *words):
    """One `seqcli: error:` line, last; before it at most `seqcli:` notes; no traceback."""
    assert result.exit_code == status, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("seqcli: error: "), result.stderr
    assert all(line.startswith("seqcli: ") and "error" not in line.split(":")[1]
               for line in lines[:-1]), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for word in words:
        assert word in lines[-1]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(cli, command):
    result = cli(command, "--help")
    assert result.exit_code == 0
    assert "Example:" in result.stdout and f"seqcli {command}" in result.stdout


def test_summary_formats(cli):
    text = cli("summary", spec_path("guide_cnn.yaml"))
    assert text.exit_code == 0 and "Total params: 49,002" in text.stdout
    data = json.loads(cli("summary", spec_path("guide_cnn.yaml"), "--format", "json").stdout)
    assert data["input_shape"] == [None, 250, 250, 3]
    contract = {"name": "conv2d", "class_name": "Conv2D", "output_shape": [None, 123, 123, 32],
                "params": 2432, "trainable_params": 2432, "non_trainable_params": 0,
                "trainable": True}
    assert {key: data["layers"][0][key] for key in contract} == contract  # more keys may come
    assert (data["total_params"], data["trainable_params"], data["non_trainable_params"]) == \
        (49002, 49002, 0)
    markdown = cli("summary", spec_path("guide_cnn.yaml"), "--format", "markdown").stdout
    assert "| conv2d (Conv2D)" in markdown and "Total params: 49,002" in markdown


def test_summary_json_of_a_frozen_nested_base(cli):
    data = json.loads(cli("summary", spec_path("guide_transfer.yaml"), "--format", "json").stdout)
    base = data["layers"][0]
    assert base["class_name"] == "Sequential" and base["trainable"] is False
    assert base["params"] == base["non_trainable_params"] == 5088
    assert [row["name"] for row in base["layers"]] == ["conv2d", "conv2d_1", "max_pooling2d",
                                                       "global_max_pooling2d"]
    assert all(row["trainable"] is False for row in base["layers"])
    assert data["trainable_params"] == 33000


def test_summary_input_shape_and_batch_size(cli):
    result = cli("summary", spec_path("guide_unbuilt.yaml"), "--input-shape", "4", "--batch-size", "8")
    assert result.exit_code == 0 and "(8, 2)" in result.stdout
    assert_clean_error(cli("summary", spec_path("guide_unbuilt.yaml")), 1,
                       "This model has not yet been built")
    assert_clean_error(cli("summary", spec_path("guide_input.yaml"), "--input-shape", "5"), 1,
                       "incompatible")
    assert_clean_error(cli("summary", spec_path("guide_input.yaml"), "--input-shape", "x"), 2,
                       "250,250,3")


def test_summary_from_stdin(cli):
    with open(spec_path("guide_input.yaml"), encoding="utf-8") as handle:
        result = cli("summary", "-", input=handle.read())
    assert result.exit_code == 0 and "dense_10 (Dense)" in result.stdout


def test_init_is_reproducible_and_follows_glorot(cli, work):
    assert cli("init", spec_path("guide_mlp.yaml"), "-o", "a.npz", "--seed", "7").exit_code == 0
    assert cli("init", spec_path("guide_mlp.yaml"), "-o", "b.npz", "--seed", "7").exit_code == 0
    assert cli("init", spec_path("guide_mlp.yaml"), "-o", "c.npz", "--seed", "8").exit_code == 0
    a, b, c = (np.load(f"{n}.npz") for n in "abc")
    assert sorted(a.files) == sorted(f"{l}/{w}" for l in ("dense", "dense_1", "dense_2", "dense_3")
                                     for w in ("kernel", "bias"))
    assert all(np.array_equal(a[k], b[k]) for k in a.files)
    assert not np.array_equal(a["dense/kernel"], c["dense/kernel"])
    kernel = a["dense/kernel"]
    limit = np.sqrt(6 / (784 + 32))
    assert kernel.dtype == np.float32 and np.abs(kernel).max() <= limit
    assert np.abs(kernel).max() > 0.9 * limit  # uniform over the whole range
    assert not a["dense/bias"].any()


def test_weights_lists_keys_and_checks_a_file(cli, work):
    result = cli("weights", spec_path("guide_transfer.yaml"), "--format", "json")
    rows = json.loads(result.stdout)
    assert rows[0] == {"key": "base/conv2d/kernel", "shape": [3, 3, 3, 16], "dtype": "float32",
                       "trainable": False, "params": 432}
    assert rows[-1]["key"] == "dense/bias" and rows[-1]["trainable"] is True
    assert_clean_error(cli("weights", spec_path("guide_unbuilt.yaml")), 1,
                       "Weights for model sequential_4 have not yet been created")
    cli("init", spec_path("guide_layers.yaml"), "-o", "w.npz")
    weights = dict(np.load("w.npz"))
    weights["layer2/kernel"] = np.zeros((3, 3), np.float32)
    np.savez("bad_shape.npz", **weights)
    assert_clean_error(cli("weights", spec_path("guide_layers.yaml"), "--weights", "bad_shape.npz"),
                       1, "bad_shape.npz", "'layer2/kernel'", "(3, 3)", "expected (2, 3)")
    del weights["layer2/kernel"]
    np.savez("missing.npz", **weights)
    assert_clean_error(cli("run", spec_path("guide_layers.yaml"), "--input", "x3.npy",
                           "--weights", "missing.npz"), 1, "missing weight 'layer2/kernel'")
    np.savez("extra.npz", **weights, **{"layer2/kernel": np.zeros((2, 3)), "x/y": np.zeros(1)})
    assert_clean_error(cli("weights", spec_path("guide_layers.yaml"), "--weights", "extra.npz"),
                       1, "unexpected weight 'x/y'")


def test_run_matches_a_numpy_reference(cli, work):
    cli("init", spec_path("guide_layers.yaml"), "-o", "w.npz", "--seed", "1")
    result = cli("run", spec_path("guide_layers.yaml"), "--input", "x3.npy", "--weights", "w.npz",
                 "-o", "y.npy")
    assert result.exit_code == 0, result.stderr
    w, x = np.load("w.npz"), np.load("x3.npy")
    h = np.maximum(x @ w["layer1/kernel"] + w["layer1/bias"], 0)
    h = np.maximum(h @ w["layer2/kernel"] + w["layer2/bias"], 0)
    expected = h @ w["layer3/kernel"] + w["layer3/bias"]
    np.testing.assert_allclose(np.load("y.npy"), expected, rtol=1e-6, atol=1e-6)
    text = cli("run", spec_path("guide_layers.yaml"), "--input", "x3.npy", "--weights", "w.npz")
    assert text.exit_code == 0 and text.stdout.startswith("[[")


def test_run_in_a_pipe_and_in_batches(cli, work):
    cli("init", spec_path("guide_cnn.yaml"), "-o", "w.npz")
    with open("img.npy", "rb") as handle:
        piped = cli("run", spec_path("guide_cnn.yaml"), "--input", "-", "--weights", "w.npz",
                    "-o", "-", "--batch-size", "1", input=handle.read())
    assert piped.exit_code == 0, piped.stderr
    y_pipe = np.load(io.BytesIO(piped.stdout_bytes))
    cli("run", spec_path("guide_cnn.yaml"), "--input", "img.npy", "--weights", "w.npz", "-o", "y.npy")
    assert y_pipe.shape == (2, 10)
    np.testing.assert_allclose(y_pipe, np.load("y.npy"), rtol=1e-6, atol=1e-6)


def test_run_without_weights_says_so_and_builds_from_data(cli, work):
    result = cli("run", spec_path("guide_unbuilt.yaml"), "--input", "ones_1x4.npy", "-o", "y.npy")
    assert result.exit_code == 0
    assert "fresh weights (seed 0)" in result.stderr
    assert np.load("y.npy").shape == (1, 4) and np.load("y.npy").dtype == np.float32


def test_run_errors(cli, work):
    assert_clean_error(cli("run", spec_path("guide_cnn.yaml"), "--input", "x3.npy"), 1,
                       "expected shape=(None, 250, 250, 3)", "found shape=(None, 3)")
    np.save("objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert_clean_error(cli("run", spec_path("guide_layers.yaml"), "--input", "objects.npy"), 1,
                       "never loads")
    with open("junk.npy", "wb") as handle:
        handle.write(b"not numpy")
    assert_clean_error(cli("run", spec_path("guide_layers.yaml"), "--input", "junk.npy"), 1,
                       "junk.npy")
    assert_clean_error(cli("run", spec_path("guide_layers.yaml")), 2, "--input")
    assert_clean_error(cli("run", "-", "--input", "-"), 2, "both")


def test_extract_named_and_all_layers(cli, work):
    cli("init", spec_path("guide_features.yaml"), "-o", "w.npz")
    one = cli("extract", spec_path("guide_features.yaml"), "--input", "img.npy", "--weights",
              "w.npz", "--layer", "my_intermediate_layer", "-o", "f.npz")
    assert one.exit_code == 0, one.stderr
    features = np.load("f.npz")
    assert features.files == ["my_intermediate_layer"]
    assert features["my_intermediate_layer"].shape == (2, 121, 121, 32)
    every = cli("extract", spec_path("guide_features.yaml"), "--input", "img.npy", "--weights",
                "w.npz", "--all", "-o", "all.npz", "--batch-size", "1")
    assert every.exit_code == 0
    all_features = np.load("all.npz")
    assert all_features.files == ["conv2d", "my_intermediate_layer", "conv2d_1"]
    np.testing.assert_array_equal(all_features["my_intermediate_layer"],
                                  features["my_intermediate_layer"])
    cli("run", spec_path("guide_features.yaml"), "--input", "img.npy", "--weights", "w.npz",
        "-o", "y.npy")
    np.testing.assert_array_equal(all_features["conv2d_1"], np.load("y.npy"))
    assert_clean_error(cli("extract", spec_path("guide_features.yaml"), "--input", "img.npy",
                           "--layer", "my_intermediate", "-o", "g.npz"), 1,
                       "did you mean 'my_intermediate_layer'")
    assert_clean_error(cli("extract", spec_path("guide_features.yaml"), "--input", "img.npy",
                           "-o", "g.npz"), 2, "--all")
    assert not os.path.exists("g.npz")


def test_catalog(cli):
    overview = cli("catalog")
    for name in ("Dense", "Conv2D", "MaxPooling2D", "MaxPool2D", "GlobalMaxPooling2D",
                 "Flatten", "Dropout", "Activation", "Sequential", "Input"):
        assert name in overview.stdout
    detail = cli("catalog", "MaxPool2D")
    assert detail.exit_code == 0 and "pool_size" in detail.stdout and "defaults to pool_size" \
        in detail.stdout
    assert_clean_error(cli("catalog", "Dens"), 1, "did you mean 'Dense'")


def test_usage_errors_exit_2(cli):
    assert_clean_error(cli("frobnicate"), 2, "No such command")
    assert_clean_error(cli("summary", spec_path("guide_cnn.yaml"), "--bogus"), 2, "--bogus")
    assert_clean_error(cli("summary"), 2, "SPEC")
    assert_clean_error(cli("summary", spec_path("guide_cnn.yaml"), "--format", "xml"), 2, "xml")


def test_spec_errors_exit_1_with_location(cli, work):
    with open("bad.yaml", "w") as handle:
        handle.write("name: m\nlayers:\n  - Dense: {units: 0}\n")
    assert_clean_error(cli("summary", "bad.yaml"), 1, "bad.yaml:3:20", "units")
    assert_clean_error(cli("summary", "missing.yaml"), 1, "missing.yaml")
    os.mkdir("folder.yaml")
    assert_clean_error(cli("summary", "folder.yaml"), 2, "folder.yaml")


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)


@pytest.mark.parametrize("args", [
    ["summary", "specs/guide_cnn.yaml"],
    ["summary", "specs/guide_transfer.yaml", "--format", "json", "--expand-nested"],
    ["summary", "specs/guide_unbuilt.yaml", "--input-shape", "4"],
    ["catalog"],
    ["catalog", "Conv2D"],
    ["freeze", "specs/guide_mlp.yaml", "--except-last"],
    ["unfreeze", "specs/guide_mlp.yaml", "--all"],
    ["new", "--input-shape", "4"],
    ["add", "specs/guide_cnn.yaml", "Dense(3)"],
    ["pop", "specs/guide_cnn.yaml"],
])
def test_commands_that_need_no_arrays_never_import_numpy(args):
    # nor, for start-up time, what only a file write (the temporary name's host tag), an
    # error's traceback, JSON or (for the catalog) reading a spec needs
    unused = ("numpy", "socket", "hashlib", "traceback") + (() if "json" in args else ("json",)) \
        + (("yaml",) if args[0] == "catalog" else ())
    code = ("import sys\nfrom seqcli.cli import cli\n"
            f"try:\n    cli.main({args!r})\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
            f"for name in {unused!r}:\n"
            "    assert name not in sys.modules, name + ' was imported'\n")
    result = run_python(code)
    assert result.returncode == 0, result.stderr


def test_debug_shows_the_traceback_and_python_m_works():
    quiet = subprocess.run([sys.executable, "-m", "seqcli", "summary", "nope.yaml"],
                           capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert quiet.returncode == 1 and quiet.stderr.startswith("seqcli: error: nope.yaml")
    loud = subprocess.run([sys.executable, "-m", "seqcli", "--debug", "summary", "nope.yaml"],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert loud.returncode == 1 and "Traceback" in loud.stderr
