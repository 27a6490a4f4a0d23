"""Files Keras wrote (tests/fixtures/kerasfiles, made by make_kerasfiles.py), read by
seqcli: the same summary rows, weights and outputs (1e-5) as Keras, from a `.keras`
archive, from `to_json()` plus `.weights.h5`, from Keras 3's and Keras 2's legacy `.h5`,
and from Keras 2's `save_weights` `.h5`. No Keras needed."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from seqcli import engines, runner
from seqcli import spec as sources  # spec.load reads Keras files too
from seqcli import weights as weights_module
from tests.conftest import FIXTURES

KERAS = os.path.join(FIXTURES, "kerasfiles")
ALL = sorted(f[:-4] for f in os.listdir(KERAS) if f.endswith(".npz") and "_k2" not in f)
FULL = [name for name in ALL if os.path.exists(os.path.join(KERAS, f"{name}.keras"))]
KERAS2 = [name for name in FULL if os.path.exists(os.path.join(KERAS, f"{name}_k2.h5"))]


def fixture(name):
    return np.load(os.path.join(KERAS, f"{name}.npz"))


def path(name, suffix):
    return os.path.join(KERAS, name + suffix)


def rows_of(model):
    return [[step.layer.name, type(step.layer).__name__, list(step.output_shape[1:]),
             sum(spec.size for spec in step.weights)] for step in model.plan.steps]


def predict(model, weights, x):
    model = runner.build_for(model, x)
    return runner.predict(engines.get("numpy")(model, weights), x)


def test_the_fixtures_cover_what_the_issue_names():
    for name in ("mnist_convnet", "bilstm_text", "bn_cnn", "frozen_nested"):
        assert name in KERAS2
    assert any(name.startswith("random_") for name in FULL)
    assert any(name.startswith("guide_") for name in ALL)
    assert len(ALL) > len(FULL)  # the big models: config and rows only


@pytest.mark.parametrize("name", ALL)
def test_to_json_gives_keras_summary_rows(name):
    model = sources.load(path(name, ".json")).model
    assert rows_of(model) == json.loads(str(fixture(name)["rows"]))


@pytest.mark.parametrize("suffix", [".keras", ".h5", "_k2.h5"])
@pytest.mark.parametrize("name", FULL)
def test_model_files_give_keras_rows_weights_and_outputs(name, suffix):
    if not os.path.exists(path(name, suffix)):
        pytest.skip("tf-keras 2 has no such model")
    data = fixture(name)
    loaded = sources.load(path(name, suffix))
    assert rows_of(loaded.model) == json.loads(str(data["rows"]))
    weights, notes = weights_module.load(loaded.model, None)  # the file's own weights
    assert notes == [f"weights from {path(name, suffix)}"]
    expected = {key[2:]: data[key] for key in data.files if key.startswith("w:")}
    assert set(weights) == set(expected)
    for key, value in expected.items():
        assert np.array_equal(weights[key], value), key  # bit-identical
    np.testing.assert_allclose(predict(loaded.model, weights, data["x"]), data["y"],
                               atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("weights_suffix", [".weights.h5", "_k2w.h5", ".keras", ".h5"])
@pytest.mark.parametrize("name", FULL)
def test_to_json_with_a_weights_file(name, weights_suffix):
    if not os.path.exists(path(name, weights_suffix)):
        pytest.skip("tf-keras 2 has no such model")
    data = fixture(name)
    model = sources.load(path(name, ".json")).model
    weights, _ = weights_module.load(model, path(name, weights_suffix))
    np.testing.assert_allclose(predict(model, weights, data["x"]), data["y"],
                               atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", KERAS2)
def test_keras2_agrees_with_keras3_on_the_same_weights(name):
    np.testing.assert_allclose(np.load(path(name, "_k2.npz"))["y"], fixture(name)["y"],
                               atol=1e-5, rtol=1e-5)


def test_frozen_nested_model_keeps_its_freezing_and_compile_settings():
    loaded = sources.load(path("frozen_nested", ".keras"))
    base = loaded.model.layers[0]
    assert base.name == "base" and base.trainable is False
    assert all(layer.trainable is False for layer in base.layers)
    assert loaded.compile == {"optimizer": {"Adam": loaded.compile["optimizer"]["Adam"]},
                              "loss": "sparse_categorical_crossentropy",
                              "metrics": ["accuracy"]}
    assert loaded.compile["optimizer"]["Adam"]["learning_rate"] == 0.001


MNIST_SPEC = """
name: mnist_convnet
input_shape: [28, 28, 1]
layers:
  - Conv2D: {filters: 8, kernel_size: 3, activation: relu}
  - MaxPooling2D: {pool_size: 2}
  - Conv2D: {filters: 8, kernel_size: 3, activation: relu}
  - MaxPooling2D: {pool_size: 2}
  - Flatten:
  - Dropout: {rate: 0.5}
  - Dense: {units: 10, activation: softmax}
"""


@pytest.mark.parametrize("weights_suffix", [".weights.h5", "_k2w.h5"])
def test_a_hand_written_spec_takes_keras_weights_files(weights_suffix):
    """--weights with a seqcli spec: Keras 3's file maps by class and order, Keras 2's
    by layer order, whatever the layer names."""
    from seqcli import spec as spec_module

    data = fixture("mnist_convnet")
    model = spec_module.load_text(MNIST_SPEC.replace("mnist_convnet", "renamed"), "m.yaml").model
    weights, _ = weights_module.load(model, path("mnist_convnet", weights_suffix))
    np.testing.assert_allclose(predict(model, weights, data["x"]), data["y"], atol=1e-5)
