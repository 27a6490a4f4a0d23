"""A Keras user's own weights dump (`{v.path: v.numpy() for v in model.weights}`) drops
into --weights: Keras 3's paths map to seqcli's keys (fixtures from real Keras 3,
tests/fixtures/make_keras_paths.py)."""

import json
import os

import numpy as np
import pytest

from tests.conftest import FIXTURES
from tests.test_cli import assert_clean_error

HERE = os.path.join(FIXTURES, "keras_paths")
CASES = sorted(name[:-len(".weights.npz")] for name in os.listdir(HERE)
               if name.endswith(".weights.npz"))


def test_the_fixtures_cover_the_issues_layouts():
    keys = {key for case in CASES for key in np.load(os.path.join(HERE, f"{case}.weights.npz"))}
    assert "sequential/dense/kernel" in keys
    assert any(key.endswith("/lstm/lstm_cell/kernel") for key in keys)
    assert any("/forward_lstm" in key and "/lstm_cell/" in key for key in keys)
    assert any(key.startswith("base/") for key in keys)  # a nested model built on its own
    assert any(key.startswith("outer/mid/base/") for key in keys)  # built by the outer one


@pytest.mark.parametrize("case", CASES)
def test_keras_paths_load_and_give_keras_outputs(cli, tmp_path, monkeypatch, case):
    monkeypatch.chdir(tmp_path)
    reference = np.load(os.path.join(HERE, f"{case}.npz"))
    (tmp_path / "model.json").write_text(str(reference["spec"]))
    np.save("x.npy", reference["x"])
    weights = os.path.join(HERE, f"{case}.weights.npz")
    result = cli("run", "model.json", "--input", "x.npy", "--weights", weights, "-o", "y.npy")
    assert result.exit_code == 0, result.stderr
    np.testing.assert_allclose(np.load("y.npy"), reference["y"], atol=1e-5, rtol=0)
    listed = cli("weights", "model.json", "--weights", weights, "--format", "json")
    assert listed.exit_code == 0, listed.stderr
    assert len(json.loads(listed.stdout)) == len(np.load(weights).files)


SPEC = "name: m\ninput_shape: [3, 2]\nlayers:\n  - LSTM: {units: 2}\n  - Dense: {units: 1}\n"


def keras_dump(prefix="sequential"):
    return {f"{prefix}/lstm/lstm_cell/kernel": np.zeros((2, 8), np.float32),
            f"{prefix}/lstm/lstm_cell/recurrent_kernel": np.zeros((2, 8), np.float32),
            f"{prefix}/lstm/lstm_cell/bias": np.zeros(8, np.float32),
            f"{prefix}/dense/kernel": np.zeros((2, 1), np.float32),
            f"{prefix}/dense/bias": np.zeros(1, np.float32)}


@pytest.mark.parametrize("arrays, words", [
    ({**keras_dump(), "dense/kernel": np.zeros((2, 1), np.float32)},
     ["'sequential/dense/kernel' and 'dense/kernel' are both weight 'dense/kernel'"]),
    ({**keras_dump(), "other/dense/kernel": np.zeros((2, 1), np.float32)},
     ["both weight 'dense/kernel'"]),
    ({**keras_dump("a"), **{k: v for k, v in keras_dump("b").items() if "dense" in k}},
     ["both weight"]),
    ({**{k: v for k, v in keras_dump("a").items() if "lstm" in k},
      **{k: v for k, v in keras_dump("b").items() if "dense" in k}},
     ["Keras paths of 2 different models (a, b)"]),
    ({**keras_dump(), "sequential/lstm/lstm_cell/extra": np.zeros(1, np.float32)},
     ["unexpected weight 'sequential/lstm/lstm_cell/extra'"]),
])
def test_an_unclear_mapping_is_one_line(cli, tmp_path, monkeypatch, arrays, words):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(SPEC)
    np.savez("w.npz", **arrays)
    assert_clean_error(cli("weights", "s.yaml", "--weights", "w.npz"), 1, "w.npz", *words)


def test_a_nested_models_own_weights_file_may_be_a_keras_dump(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "base.yaml").write_text("name: base\nlayers:\n  - LSTM: {units: 2}\n")
    (tmp_path / "s.yaml").write_text("input_shape: [3, 2]\nlayers:\n  - Sequential: {spec: "
                                     "base.yaml, weights: base.npz}\n  - Dense: {units: 1}\n")
    np.savez("base.npz", **{k.replace("sequential/", "base/"): v
                            for k, v in keras_dump().items() if "lstm" in k})
    np.save("x.npy", np.ones((2, 3, 2), np.float32))
    result = cli("run", "s.yaml", "--input", "x.npy")
    assert result.exit_code == 0, result.stderr
    assert "base: weights from base.npz" in result.stderr
