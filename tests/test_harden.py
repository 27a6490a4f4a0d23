"""Issue 16: option handling and empty data, beyond the hostile table."""

import numpy as np
import pytest

from tests.test_cli import assert_clean_error

SPEC = "name: m\ninput_shape: [4]\nlayers:\n  - Dense: {units: 2}\n"


def test_debug_after_the_command_name_is_accepted(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(SPEC)
    result = cli("summary", "s.yaml", "--debug")
    assert result.exit_code == 0, result.stderr
    assert "Total params: 10" in result.stdout
    failing = cli("summary", "s.yaml", "--input-shape", "4,5", "--debug")
    assert failing.exit_code == 1
    assert "NoSuchOption" not in failing.stderr and "incompatible" in failing.stderr


def test_a_trailing_comma_in_a_shape_is_python_tuple_style(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(SPEC)
    result = cli("summary", "s.yaml", "--input-shape", "4,")
    assert result.exit_code == 0, result.stderr


def test_summary_of_data_with_no_rows_shows_an_unknown_batch(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(SPEC)
    np.save("x.npy", np.ones((0, 4), np.float32))
    result = cli("summary", "s.yaml", "--input", "x.npy")
    assert result.exit_code == 0, result.stderr
    assert "(None, 2)" in result.stdout


def test_data_with_no_rows_is_a_clean_error_for_fit(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(SPEC)
    np.save("x.npy", np.ones((0, 4), np.float32))
    np.save("y.npy", np.ones((0, 2), np.float32))
    result = cli("fit", "s.yaml", "--x", "x.npy", "--y", "y.npy", "--loss", "mse",
                 "--optimizer", "sgd", "-o", "w.npz")
    assert_clean_error(result, 1, "0 samples")
    assert not (tmp_path / "w.npz").exists()


def test_dash_output_is_standard_output_for_every_writer(cli, tmp_path, monkeypatch):
    import io

    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(SPEC)
    np.save("x.npy", np.ones((3, 4), np.float32))
    np.save("y.npy", np.ones((3, 2), np.float32))
    for args in (["init", "s.yaml"], ["fit", "s.yaml", "--x", "x.npy", "--y", "y.npy",
                                      "--loss", "mse", "--optimizer", "sgd"]):
        result = cli(*args, "-o", "-")
        assert result.exit_code == 0, result.stderr
        assert sorted(np.load(io.BytesIO(result.stdout_bytes))) == ["dense/bias", "dense/kernel"]
    extracted = cli("extract", "s.yaml", "--input", "x.npy", "--layer", "dense", "-o", "-")
    assert np.load(io.BytesIO(extracted.stdout_bytes))["dense"].shape == (3, 2)
    for args in (["freeze", "s.yaml", "--all"], ["pop", "s.yaml"], ["new", "--input-shape", "4"]):
        result = cli(*args, "-o", "-")
        assert result.exit_code == 0, result.stderr
        assert "input_shape: [4]" in result.stdout
    assert not (tmp_path / "-").exists()


def test_fit_checks_every_destination_before_any_work(cli, tmp_path, monkeypatch):
    from seqcli import training

    def no_training(*args, **kwargs):
        raise AssertionError("training started before the destinations were checked")

    monkeypatch.setattr(training, "fit", no_training)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(SPEC)
    np.savez("d.npz", x=np.ones((3, 4), np.float32), y=np.ones((3, 2), np.float32))
    for extra, where in ((["-o", "gone/w.npz"], "-o gone/w.npz"),
                         (["-o", "w.npz", "--checkpoint", "s.yaml/b.npz"], "--checkpoint s.yaml/b.npz"),
                         (["-o", "w.npz", "--history", "gone/h.json"], "--history gone/h.json")):
        result = cli("fit", "s.yaml", "--data", "d.npz", "--loss", "mse", *extra)
        assert_clean_error(result, 1, where)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.npz", "s.yaml"]


def test_a_refused_first_batch_leaves_a_stream_empty_and_no_rows_give_a_header(cli, tmp_path,
                                                                                monkeypatch):
    import io

    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(SPEC)
    x = np.ones((40, 4), np.float32)
    x[0, 1] = np.inf
    np.save("bad.npy", x)
    refused = cli("run", "s.yaml", "--input", "bad.npy", "-o", "-")
    assert_clean_error(refused, 1, "NaN or Inf (first in sample 0)")
    assert refused.stdout_bytes == b""
    np.save("none.npy", np.ones((0, 4), np.float32))
    empty = cli("run", "s.yaml", "--input", "none.npy", "-o", "-")
    assert empty.exit_code == 0, empty.stderr
    assert np.load(io.BytesIO(empty.stdout_bytes)).shape == (0, 2)


@pytest.mark.parametrize("engine", ["numpy", "onnxruntime"])
def test_no_rows_on_every_data_command(cli, tmp_path, monkeypatch, engine):
    """0 rows: run and extract give empty results of the right shape; evaluate and fit
    (and --validation-data) refuse in one line, as Keras refuses empty data."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(SPEC)
    np.save("none.npy", np.ones((0, 4), np.float32))
    np.savez("none.npz", x=np.ones((0, 4), np.float32), y=np.ones((0, 2), np.float32))
    np.savez("d.npz", x=np.ones((3, 4), np.float32), y=np.ones((3, 2), np.float32))
    engine_args = ["--engine", engine]
    ran = cli("run", "s.yaml", "--input", "none.npy", "-o", "y.npy", *engine_args)
    assert ran.exit_code == 0, ran.stderr
    assert np.load("y.npy").shape == (0, 2)
    printed = cli("run", "s.yaml", "--input", "none.npy", *engine_args)
    assert printed.exit_code == 0, printed.stderr
    extracted = cli("extract", "s.yaml", "--input", "none.npy", "--all", "-o", "f.npz",
                    *engine_args)
    assert extracted.exit_code == 0, extracted.stderr
    assert np.load("f.npz")["dense"].shape == (0, 2)
    scored = cli("evaluate", "s.yaml", "--data", "none.npz", "--loss", "mse", *engine_args)
    assert_clean_error(scored, 1, "none.npz", "0 samples")
    for data in (["--data", "none.npz"], ["--data", "d.npz", "--validation-data", "none.npz"]):
        trained = cli("fit", "s.yaml", *data, "--loss", "mse", "-o", "w.npz")
        assert_clean_error(trained, 1, "none.npz", "0 samples")
    assert not (tmp_path / "w.npz").exists()


NAMED = "name: m\ninput_shape: [4]\nlayers:\n  - Dense: {units: 2, name: dünn}\n  - Dense: {units: 3}\n"


@pytest.mark.parametrize("args", [
    ["add", "s.yaml", 'Dense(2, name="größe")', "-o", "out"], ["pop", "s.yaml", "-o", "out"],
    ["freeze", "s.yaml", "--layers", "dünn", "-o", "out"],
    ["unfreeze", "s.yaml", "--all", "-o", "out"], ["add", "s.json", 'Dense(2, name="größe")',
                                                  "-o", "out"],
    ["new", "--name", "größe", "-o", "out"], ["new", "--name", "größe", "--json", "-o", "out"],
    ["convert", "s.yaml", "-o", "out.yaml"], ["convert", "s.yaml", "-o", "out.json"],
])
def test_non_ascii_names_are_written_as_readable_utf8(cli, tmp_path, monkeypatch, args):
    """Every command that writes a spec (issue 16: `\\xFC` escapes instead of ü)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(NAMED, encoding="utf-8")
    (tmp_path / "s.json").write_text('{"input_shape": [4], "layers": [{"Dense": {"units": 2, '
                                     '"name": "dünn"}}]}\n', encoding="utf-8")
    result = cli(*args)
    assert result.exit_code == 0, result.stderr
    text = (tmp_path / args[-1]).read_text(encoding="utf-8")
    assert "\\x" not in text and "\\u" not in text, text
    assert "größe" in text or "dünn" in text


@pytest.mark.parametrize("args", [
    ["add", "s", "Dense(3)"], ["pop", "s"], ["freeze", "s", "--layers", "dense"],
    ["freeze", "s", "--all"]])
@pytest.mark.parametrize("text", [
    "name: m\ninput_shape: [4]\nlayers:\n  - Dense: {units: 2}  # c\n  - type: Dense\n    units: 1\n",
    '{"input_shape": [4],\n "layers": [\n  {"Dense": {"units": 2}},\n  {"Dense": {"units": 1}}\n ]}\n',
])
def test_in_place_edits_keep_windows_line_endings(cli, tmp_path, monkeypatch, args, text):
    monkeypatch.chdir(tmp_path)
    name = "s.json" if text.startswith("{") else "s.yaml"
    path = tmp_path / name
    path.write_bytes(text.replace("\n", "\r\n").encode())
    result = cli(*[name if a == "s" else a for a in args], "-i")
    assert result.exit_code == 0, result.stderr
    data = path.read_bytes()
    assert data != text.replace("\n", "\r\n").encode()  # it was edited
    assert data.count(b"\n") == data.count(b"\r\n"), data


def test_printed_outputs_are_complete_and_full_precision_reads_back_exactly(cli, tmp_path,
                                                                           monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(SPEC)
    np.save("x.npy", np.random.default_rng(0).normal(size=(1437, 4)).astype(np.float32))
    assert cli("run", "s.yaml", "--input", "x.npy", "-o", "y.npy").exit_code == 0
    exact = np.load("y.npy")
    shown = cli("run", "s.yaml", "--input", "x.npy")
    assert shown.exit_code == 0, shown.stderr
    assert "..." not in shown.stdout and shown.stdout.count("[") == 1437 + 1
    full = cli("run", "s.yaml", "--input", "x.npy", "--precision", "full")
    numbers = full.stdout.replace("[", " ").replace("]", " ").split()
    read_back = np.array(numbers, dtype=np.float32).reshape(exact.shape)
    assert np.array_equal(read_back, exact)
    three = cli("run", "s.yaml", "--input", "x.npy", "--precision", "3")
    assert all(len(n.split(".")[1]) <= 3 for n in three.stdout.replace("[", " ")
               .replace("]", " ").split() if "e" not in n)


def test_init_writes_the_format_its_output_names_as_fit_does(cli, tmp_path, monkeypatch):
    """`init -o w.weights.h5` (or `.keras`) once wrote .npz bytes under that name; now
    init and fit choose the format by the same rule, and seqcli reads each back."""
    import zipfile

    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(SPEC)
    np.save("x.npy", np.ones((3, 4), np.float32))
    assert cli("init", "s.yaml", "-o", "w.npz", "--seed", "3").exit_code == 0
    expected = cli("run", "s.yaml", "--input", "x.npy", "--weights", "w.npz").stdout
    for name in ("w.weights.h5", "w.keras"):
        result = cli("init", "s.yaml", "-o", name, "--seed", "3")
        assert result.exit_code == 0, result.stderr
    assert open("w.weights.h5", "rb").read(8) == b"\x89HDF\r\n\x1a\n"
    assert "config.json" in zipfile.ZipFile("w.keras").namelist()
    assert cli("run", "s.yaml", "--input", "x.npy", "--weights", "w.weights.h5").stdout \
        == expected
    assert cli("run", "w.keras", "--input", "x.npy").stdout == expected


@pytest.mark.parametrize("command", [["check"], ["plot", "-o", "m.svg"]])
def test_an_unbuilt_model_is_told_only_the_options_its_command_has(cli, tmp_path,
                                                                   monkeypatch, command):
    """check and plot have --input-shape but no --input (init's fix, for every command)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text("layers:\n  - Dense: {units: 2}\n")
    result = cli(command[0], "s.yaml", *command[1:])
    assert_clean_error(result, 1, "s.yaml: This model has not yet been built")
    assert result.stderr.rstrip().endswith("or with --input-shape")


def test_bare_seqcli_prints_its_help_and_a_typo_gets_a_suggestion(cli):
    """`seqcli` alone printed its whole help squashed into one `seqcli: error:` line."""
    bare = cli()
    assert bare.exit_code == 2
    assert bare.stderr.startswith("Usage: ") and "[OPTIONS] COMMAND" in bare.stderr
    assert "\nCommands:\n" in bare.stderr and "seqcli: error" not in bare.stderr
    assert_clean_error(cli("summay", "m.yaml"), 2, "No such command 'summay'",
                       "did you mean 'summary'?")


def test_one_step_is_one_step(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(SPEC)
    np.savez("d.npz", x=np.ones((3, 4), np.float32), y=np.ones((3, 2), np.float32))
    result = cli("fit", "s.yaml", "--data", "d.npz", "--loss", "mse", "-o", "w.npz")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("Epoch 1/1 - 1 step - ")


def test_catalog_takes_a_class_as_keras_code_writes_it(cli):
    """`add` reads keras.layers.Dense(...); `catalog keras.layers.Dense` now does too."""
    for name in ("keras.layers.Dense", "layers.Dense", "tf.keras.layers.Dense"):
        result = cli("catalog", name)
        assert result.exit_code == 0, result.stderr
        assert result.stdout == cli("catalog", "Dense").stdout


def test_every_option_a_help_mentions_is_one_its_command_has(cli):
    """evaluate's --engine help offered --input and -o, and fit's --x offered --engine:
    options help text names must exist on that command."""
    import re

    from tests.test_cli import COMMANDS

    for command in COMMANDS:
        text = cli(command, "--help").stdout
        options = text[text.index("\nOptions:"):]
        own = set(re.findall(r"^\s+(?:-\w, )?(--[\w-]+)(?: / (--[\w-]+))?", options, re.M))
        own = {name for pair in own for name in pair if name}
        mentioned = set(re.findall(r"--[a-z][\w-]*[a-z]", re.sub(r"-\n\s+", "-", options)))
        assert mentioned <= own, (command, mentioned - own)
