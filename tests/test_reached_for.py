"""What Keras users reach for: bare class names in a spec, layers inside nested models
for `extract`, data and weights from standard input, CSV/TSV numbers."""

import os

import numpy as np
import pytest

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


def test_an_unknown_nested_path_names_the_paths(cli, work):
    np.save("x.npy", np.zeros((1, 64, 64, 3), dtype=np.float32))
    result = cli("extract", TRANSFER, "--input", "x.npy", "--layer", "base/conv2", "-o", "f.npz")
    assert_clean_error(result, 1, "--layer base/conv2", "did you mean 'base/conv2d'",
                       "base/global_max_pooling2d")
    assert not os.path.exists("f.npz")
