"""What Keras users reach for: bare class names in a spec, layers inside nested models
for `extract`, data and weights from standard input, CSV/TSV numbers."""

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import SPECS
from tests.test_cli import assert_clean_error


@pytest.fixture
def work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


BARE = "input_shape: [4, 4]\nlayers:\n  - Flatten   # bare\n  - Dense: {units: 3}\n  - ReLU\n"
LONG = ("input_shape: [4, 4]\nlayers:\n  - Flatten: {}\n  - Dense: {units: 3}\n"
        "  - ReLU: {}\n")


def test_a_bare_class_name_is_that_layer_with_keras_defaults(cli, work):
    (work / "bare.yaml").write_text(BARE)
    (work / "long.yaml").write_text(LONG)
    bare, long = cli("summary", "bare.yaml"), cli("summary", "long.yaml")
    assert bare.exit_code == 0 and bare.stdout == long.stdout
    assert "flatten (Flatten)" in bare.stdout and "re_lu (ReLU)" in bare.stdout
    as_json = cli("summary", "-", input='{"input_shape": [4, 4], "layers": ["Flatten", '
                  '{"Dense": {"units": 3}}, "ReLU"]}')
    assert as_json.stdout == long.stdout


def test_freezing_a_bare_entry_gives_it_arguments(cli, work):
    (work / "bare.yaml").write_text(BARE)
    result = cli("freeze", "bare.yaml", "--all")
    assert result.exit_code == 0, result.stderr
    assert "  - Flatten: {trainable: false}   # bare\n" in result.stdout
    assert "  - ReLU: {trainable: false}\n" in result.stdout
    (work / "frozen.yaml").write_text(result.stdout)
    assert "Non-trainable params: 51" in cli("summary", "frozen.yaml").stdout
    json_spec = '{"input_shape": [4, 4], "layers": ["Flatten", {"Dense": {"units": 3}}]}'
    frozen = cli("freeze", "-", "--all", input=json_spec)
    assert '[{"Flatten": {"trainable": false}}, {"Dense": {"units": 3, "trainable": false}}]' \
        in frozen.stdout


@pytest.mark.parametrize("entry,words", [
    ("Flaten", "did you mean 'Flatten'"), ("5", "a bare class name"), ('""', "bare class"),
    ("[Flatten]", "bare class name")])
def test_bad_bare_entries_are_located(cli, work, entry, words):
    result = cli("summary", "-", input=f"input_shape: [4]\nlayers:\n  - {entry}\n")
    assert_clean_error(result, 1, "<stdin>:3:5", words)


TRANSFER = os.path.join(SPECS, "guide_transfer.yaml")


def test_extract_reaches_into_a_nested_model(cli, work):
    np.save("x.npy", np.random.default_rng(0).random((3, 64, 64, 3), dtype=np.float32))
    assert cli("init", TRANSFER, "-o", "w.npz").exit_code == 0
    weights = np.load("w.npz")
    np.savez("base.npz", **{k[len("base/"):]: weights[k] for k in weights.files
                            if k.startswith("base/")})
    result = cli("extract", TRANSFER, "--input", "x.npy", "--weights", "w.npz",
                 "--layer", "base/conv2d", "--layer", "base/max_pooling2d", "-o", "f.npz")
    assert result.exit_code == 0, result.stderr
    assert "seqcli: base/conv2d: (3, 31, 31, 16)" in result.stderr
    alone = cli("extract", os.path.join(SPECS, "base_cnn.yaml"), "--input", "x.npy",
                "--weights", "base.npz", "--layer", "conv2d", "--layer", "max_pooling2d",
                "-o", "alone.npz")
    assert alone.exit_code == 0, alone.stderr
    nested, plain = np.load("f.npz"), np.load("alone.npz")
    assert sorted(nested.files) == ["base/conv2d", "base/max_pooling2d"]
    assert np.array_equal(nested["base/conv2d"], plain["conv2d"])
    assert np.array_equal(nested["base/max_pooling2d"], plain["max_pooling2d"])


def test_the_dask_engine_says_it_extracts_top_level_layers(cli, work):
    pytest.importorskip("distributed")
    np.save("x.npy", np.zeros((1, 64, 64, 3), dtype=np.float32))
    result = cli("extract", TRANSFER, "--input", "x.npy", "--layer", "base/conv2d", "-o",
                 "f.npz", "--engine", "dask")
    assert_clean_error(result, 1, "--layer base/conv2d: --engine dask extracts the outputs "
                       "of top-level layers")


def test_an_unknown_nested_path_names_the_paths(cli, work):
    np.save("x.npy", np.zeros((1, 64, 64, 3), dtype=np.float32))
    result = cli("extract", TRANSFER, "--input", "x.npy", "--layer", "base/conv2", "-o", "f.npz")
    assert_clean_error(result, 1, "--layer base/conv2", "did you mean 'base/conv2d'",
                       "base/global_max_pooling2d")
    assert not os.path.exists("f.npz")


# ---------------------------------------------------------------- CSV/TSV and standard input

LAYERS = os.path.join(SPECS, "guide_layers.yaml")  # takes 3 numbers per sample
DIGITS = os.path.join(SPECS, "digits")


@pytest.fixture
def layer_weights(cli, work):
    assert cli("init", LAYERS, "-o", "w.npz").exit_code == 0
    return "w.npz"


def run_values(cli, *args, input=None):
    result = cli("run", LAYERS, "--weights", "w.npz", *args, "-o", "out.npy", input=input)
    assert result.exit_code == 0, result.stderr
    return np.load("out.npy")


@pytest.mark.parametrize("name,text", [
    ("x.csv", "a,b,c\n1,2,3\n-4.5,5e-1,6\n"),                # a header
    ("x.csv", "1,2,3\r\n-4.5,0.5,6\r\n"),                     # none, CRLF
    ("x.tsv", "\ufeff1\t2\t3\n\n-4.5\t .5 \t6\n\n"),          # BOM, blank lines, spaces
    ("x.txt", '"a"\t"b"\t"c"\n"1"\t2\t3\n-4.5\t0.5\t+6\n'),   # sniffed tabs, quotes
])
def test_csv_and_tsv_give_the_same_numbers_as_npy(cli, layer_weights, name, text):
    np.save("x.npy", np.array([[1, 2, 3], [-4.5, 0.5, 6]], dtype=np.float32))
    expected = run_values(cli, "--input", "x.npy")
    with open(name, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)
    assert np.array_equal(run_values(cli, "--input", name), expected)
    assert np.array_equal(run_values(cli, "--input", "-", input=text.encode()), expected)


@pytest.mark.parametrize("text,where,words", [
    ("a,b,c\n1,2,x\n", "x.csv:2:5", "'x' is not a number"),
    ("a,b,c\n1,,3\n", "x.csv:2:3", "an empty cell"),
    ("a,2,c\n1,2,3\n", "x.csv:1:3", "mixes names and numbers"),
    ("a,,c\n1,2,3\n", "x.csv:1:3", "an empty cell in the header"),
    ("1,,3\n4,5,6\n", "x.csv:1:3", "an empty cell; every cell needs a number"),
    ("1,2,3\n1,2\n", "x.csv:2:1", "this line has 2 values; the first line has 3"),
    ("1,2,3\n1,2,1_000\n", "x.csv:2:5", "'1_000' is not a number"),
    ("1,2,3\n1,-1e39,3\n", "x.csv:2:3", "'-1e39' is beyond float32's range"),
    ("\n\n", "x.csv", "the text is empty"),
    ("1,2,3\n\xff\n", "x.csv", "not UTF-8 text"),
])
def test_a_bad_table_is_located_by_line_and_column(cli, layer_weights, text, where, words):
    with open("x.csv", "wb") as handle:
        handle.write(text.encode("latin-1"))
    result = cli("run", LAYERS, "--weights", "w.npz", "--input", "x.csv", "-o", "out.npy")
    assert_clean_error(result, 1, f"seqcli: error: {where}: ", words)
    assert not os.path.exists("out.npy")


def test_a_header_alone_is_zero_rows(cli, layer_weights):
    with open("x.csv", "w") as handle:
        handle.write("a,b,c\n")
    assert run_values(cli, "--input", "x.csv").shape == (0, 4)


def test_summary_builds_from_a_table_without_numpy(work):
    import subprocess
    import sys

    from tests.conftest import ROOT

    with open("x.csv", "w") as handle:
        handle.write("a,b,c,d\n1,2,3,4\n5,6,7,8\n")
    unbuilt = os.path.join(SPECS, "guide_unbuilt.yaml")
    code = ("import sys\nfrom seqcli.cli import cli\n"
            f"try:\n    cli.main(['summary', {unbuilt!r}, '--input', 'x.csv'])\n"
            "except SystemExit as e:\n    assert e.code == 0, e.code\n"
            "assert 'numpy' not in sys.modules, 'numpy was imported'\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": ROOT}, timeout=60)
    assert result.returncode == 0, result.stderr
    assert " dense_7 (Dense)             (2, 2)" in result.stdout


def test_fit_and_evaluate_take_tables_and_standard_input(cli, work):
    test = np.load(os.path.join(DIGITS, "test.npz"))
    np.savetxt("x.csv", test["x"], delimiter=",", comments="",
               header=",".join(f"p{i}" for i in range(64)))
    np.savetxt("y.tsv", test["y"][:, None], fmt="%d")
    mlp = os.path.join(DIGITS, "mlp.yaml")
    with open(os.path.join(DIGITS, "train.npz"), "rb") as handle:
        trained = cli("fit", mlp, "--data", "-", "-o", "t.npz", "--epochs", "1",
                      input=handle.read())
    assert trained.exit_code == 0, trained.stderr
    from_npz = cli("evaluate", mlp, "--data", os.path.join(DIGITS, "test.npz"),
                   "--weights", "t.npz")
    with open("t.npz", "rb") as handle:
        from_tables = cli("evaluate", mlp, "--x", "x.csv", "--y", "y.tsv", "--weights", "-",
                          input=handle.read())
    assert from_npz.exit_code == 0 and from_tables.stdout == from_npz.stdout


def test_weights_from_standard_input_in_every_format(cli, layer_weights):
    np.save("x.npy", np.ones((2, 3), dtype=np.float32))
    expected = run_values(cli, "--input", "x.npy")
    assert cli("convert", LAYERS, "--weights", "w.npz", "-o", "w.weights.h5").exit_code == 0
    for name in ("w.npz", "w.weights.h5"):
        with open(name, "rb") as handle:
            result = cli("run", LAYERS, "--input", "x.npy", "--weights", "-", "-o", "o.npy",
                         input=handle.read())
        assert result.exit_code == 0, result.stderr
        assert np.array_equal(np.load("o.npy"), expected)


@pytest.mark.parametrize("args,data,status,words", [
    (["--input", "x.npy", "--weights", "-"], b"not weights\n", 1,
     "<stdin>: expected weights (.npz, Keras .weights.h5 or .h5, or a .keras archive)"),
    (["--input", "x.npy", "--weights", "-"], b"PK\x03\x04broken", 1,
     "<stdin>: not a readable .npz archive"),
    (["--input", "-", "--weights", "-"], b"1,2,3\n", 2, "cannot both read standard input"),
    (["--input", "-"], b"\x00\x01\x02\xff" * 8, 1,
     "<stdin>: not a .npy array nor numbers as CSV/TSV text: it starts with bytes"),
    (["--input", "-"], b"", 1, "<stdin>: not a .npy array nor numbers as CSV/TSV text: "
     "standard input is empty"),
])
def test_standard_input_is_sniffed_and_refused_cleanly(cli, layer_weights, args, data,
                                                       status, words):
    np.save("x.npy", np.ones((2, 3), dtype=np.float32))
    args = [*args, "--weights", "w.npz"] if "--weights" not in args else args
    result = cli("run", LAYERS, *args, "-o", "o.npy", input=data)
    assert_clean_error(result, status, words)
    assert not os.path.exists("o.npy")


def test_standard_input_over_the_limit_is_refused(cli, layer_weights, monkeypatch):
    from seqcli import streams

    monkeypatch.setattr(streams, "MAX_STDIN_BYTES", 64)
    result = cli("run", LAYERS, "--weights", "w.npz", "--input", "-", "-o", "o.npy",
                 input=b"1,2,3\n" * 20)
    assert_clean_error(result, 1, "<stdin>: standard input holds more than 64 bytes; give "
                       "--input a file path instead")


def test_a_spooled_weights_copy_is_removed(cli, layer_weights, monkeypatch, tmp_path):
    import tempfile

    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    np.save("x.npy", np.ones((2, 3), dtype=np.float32))
    with open("w.npz", "rb") as handle:
        result = cli("run", LAYERS, "--input", "x.npy", "--weights", "-", "-o", "o.npy",
                     input=handle.read())
    assert result.exit_code == 0 and os.listdir(private) == []


def test_sample_weights_from_a_column_of_text(cli, work):
    train = os.path.join(DIGITS, "train.npz")
    count = len(np.load(train)["y"])
    weights = np.random.default_rng(1).uniform(0, 2, count).astype(np.float32)
    np.save("sw.npy", weights)
    np.savetxt("sw.csv", weights, header="weight", comments="", fmt="%.9g")
    mlp = os.path.join(DIGITS, "mlp.yaml")
    for name in ("sw.npy", "sw.csv"):
        result = cli("fit", mlp, "--data", train, "--sample-weight", name, "-o", name + ".npz",
                     "--epochs", "1")
        assert result.exit_code == 0, result.stderr
    assert np.array_equal(np.load("sw.npy.npz")["dense/kernel"],
                          np.load("sw.csv.npz")["dense/kernel"])


@settings(max_examples=200, deadline=None)
@given(st.text("0123456789,.-+eE\t \"nanif\r\n\ufeffab", max_size=60))
def test_any_text_is_a_table_or_a_located_error(text):
    from seqcli import tables
    from seqcli.errors import SeqcliError

    try:
        values = tables.parse(text.encode("utf-8"), "t.csv")
    except SeqcliError as exc:
        assert exc.where == "t.csv" or exc.where.startswith("t.csv:"), exc.where
        return
    assert values.dtype == np.float32 and values.ndim == 2


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.floats(width=32, allow_nan=False, allow_infinity=False),
                         min_size=3, max_size=3), min_size=1, max_size=5),
       st.sampled_from([",", "\t"]), st.booleans())
def test_written_numbers_read_back_exactly(rows, delimiter, header):
    from seqcli import tables

    lines = ([delimiter.join(["a", "b", "c"])] if header else []) + [
        delimiter.join(repr(float(np.float32(v))) for v in row) for row in rows]
    values = tables.parse("\n".join(lines).encode(), "t.csv")
    assert np.array_equal(values, np.array(rows, dtype=np.float32))


def test_a_positional_argument_that_is_not_a_literal_is_named_by_its_position(cli, tmp_path):
    spec = tmp_path / "m.yaml"
    spec.write_text("input_shape: [2]\nlayers:\n  - Dense: {units: 1}\n")
    x = tmp_path / "x.npy"
    np.save(x, np.ones((4, 2), np.float32))
    result = cli("fit", spec, "--x", x, "--y", x, "--loss", "mse", "--optimizer",
                 "Adam(1e-3, beta)", "-o", tmp_path / "w.npz")
    assert result.exit_code == 1
    assert "(column 12 of the call): positional argument 2 must be a literal" in result.stderr
    assert not (tmp_path / "w.npz").exists()
