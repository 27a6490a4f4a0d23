"""Forward outputs equal Keras's on the same weights (fixtures from make_fixtures.py)."""

import glob
import os

import numpy as np
import pytest

from seqcli.engines.numpy_engine import NumpyEngine
from seqcli import runner
from seqcli import spec as spec_module
from seqcli import weights as weights_module
from tests.conftest import FIXTURES, SPECS

CASES = sorted(glob.glob(os.path.join(FIXTURES, "forward", "*.npz")))


def load_case(path):
    data = np.load(path, allow_pickle=False)
    source = str(data["source"])
    name = os.path.join(SPECS, source) if source.endswith(".yaml") else source
    model = spec_module.load_text(str(data["spec"]), name).model
    model = runner.build_for(model, data["x"])
    arrays = {k[2:]: data[k] for k in data.files if k.startswith("w:")}
    specs = {s.name: s for s in weights_module.specs_of(model)}
    return model, weights_module.check(arrays, specs, path), data["x"], data["y"]


def classes_in(model):
    for layer in model.layers:
        yield from _classes_of(layer)


def _classes_of(layer):
    """A layer's class, a nested model's layers', and wrapped layers' (RNN cells)."""
    yield type(layer).__name__
    if hasattr(layer, "layers"):
        yield from classes_in(layer)
    for key in getattr(layer, "wraps", ()):
        inner = getattr(layer, key)
        for item in inner if isinstance(inner, tuple) else (inner,) if inner else ():
            yield from _classes_of(item)


def test_every_activation_and_layer_has_a_fixture():
    from seqcli.activations import ACTIVATIONS
    from seqcli.registry import all_layers

    names = {os.path.basename(p)[:-4] for p in CASES}
    for activation in ACTIVATIONS:
        assert f"activation_{activation}" in names and f"dense_{activation}" in names
    covered = {"Input"}  # an Input is in every whole-model fixture, and is not a layer
    for path in CASES:
        covered.update(classes_in(load_case(path)[0]))
    assert set(all_layers()) - covered == set()


@pytest.mark.parametrize("path", CASES, ids=lambda p: os.path.basename(p)[:-4])
def test_forward_matches_keras(path):
    model, weights, x, expected = load_case(path)
    y = runner.predict(NumpyEngine(model, weights), x, batch_size=2)
    assert y.shape == expected.shape
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(FIXTURES, "onnx", "*.npz"))),
                         ids=lambda p: os.path.basename(p)[:-4])
def test_the_onnx_fixtures_forward_as_keras_too(path):
    """make_onnx.py's Keras cases (unknown sizes, channels-first softmax...) through the
    numpy engine."""
    model, weights, x, expected = load_case(path)
    y = runner.predict(NumpyEngine(model, weights), x, batch_size=2)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


def test_weights_shapes_match_keras_layout():
    # the guide's CNN: every weight Keras made has seqcli's key and shape
    model, weights, _, _ = load_case(os.path.join(FIXTURES, "forward", "guide_cnn.npz"))
    assert weights["conv2d/kernel"].shape == (5, 5, 3, 32)
    assert weights["dense_13/kernel"].shape == (32, 10)
    assert len(weights) == 14


@pytest.mark.parametrize("path", CASES, ids=lambda p: os.path.basename(p)[:-4])
def test_gradients_match_keras(path):
    """dL/dx and dL/dweights of L = sum(y * r) equal JAX's through Keras."""
    model, weights, x, _ = load_case(path)
    data = np.load(path, allow_pickle=False)
    params = weights_module.nest(weights)
    y, cache = model.forward_train(params, x, rng=None)
    dx, grads = model.backward(params, cache, data["r"])
    flat = weights_module.flatten(grads)
    expected = {k[2:]: data[k] for k in data.files if k.startswith("g:")}
    scale = max(1.0, max(float(np.abs(g).max()) for g in expected.values()))
    np.testing.assert_allclose(dx, expected.pop("x"), rtol=1e-4, atol=1e-5 * scale)
    for key, grad in expected.items():
        np.testing.assert_allclose(flat[key], grad, rtol=1e-4, atol=1e-5 * scale, err_msg=key)


@pytest.mark.parametrize("path", CASES, ids=lambda p: os.path.basename(p)[:-4])
def test_summary_rows_match_keras(path):
    """Each layer's class, output shape and parameter count, as Keras built them."""
    import json

    from seqcli.summary import summarize

    model, _, _, _ = load_case(path)
    rows = [[row.class_name, list(row.output_shape[1:]), row.params]
            for row in summarize(model).rows]
    assert rows == json.loads(str(np.load(path, allow_pickle=False)["summary"]))


def test_random_stacks_are_covered():
    assert sum("random_" in os.path.basename(p) for p in CASES) >= 12


def test_catalog_stacks_draw_on_the_newer_layers():
    """make_catalog.py's random stacks: two dozen, using the layers added since the
    first random stacks (and the older ones) together."""
    stacks = [p for p in CASES if os.path.basename(p).startswith("catalog_stack_")]
    assert len(stacks) >= 30
    covered = set()
    for path in stacks:
        covered.update(classes_in(load_case(path)[0]))
    newer = {"Masking", "RMSNormalization", "Discretization", "CategoryEncoding", "RNN",
             "SimpleRNNCell", "LSTMCell", "GRUCell", "StackedRNNCells", "EinsumDense",
             "SpectralNormalization", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D", "RandomCrop",
             "AutoContrast", "Equalization", "RandomFlip", "RandomRotation"}
    assert newer - covered == set()
    assert {"Conv2D", "DepthwiseConv2D", "GRU", "Bidirectional", "TimeDistributed"} <= covered
