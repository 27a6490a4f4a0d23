"""Embedding's mask_zero: masks reach the layers that use them, as in Keras, and a use
seqcli lacks is refused up front."""

import json

import numpy as np
import pytest

from seqcli import spec as spec_module
from seqcli import training
from seqcli import weights as weights_module
from seqcli.errors import SeqcliError
from tests.test_layer_contract import numeric_gradient, sample_indices

MASKED = [{"Embedding": {"input_dim": 9, "output_dim": 3, "mask_zero": True}},
          {"LSTM": {"units": 3, "return_sequences": True}}, {"Dense": {"units": 2}},
          {"GRU": {"units": 2, "return_sequences": True, "go_backwards": True}},
          {"GlobalAveragePooling1D": {}}]


def load(layers, steps=6):
    return spec_module.load_text(json.dumps({"input_shape": [steps], "layers": layers}),
                                 "m.json").model


def test_masked_steps_change_nothing_but_what_keras_masks():
    model = load(MASKED)
    params = weights_module.nest(weights_module.fresh(model, seed=2))
    x = np.array([[3, 1, 4, 0, 0, 0]], np.float32)
    y = model.forward(params, x)
    # padding length does not matter: the masked steps are skipped entirely
    assert np.allclose(y, load(MASKED, steps=9).forward(params, np.pad(x, ((0, 0), (0, 3)))))
    unmasked = load([dict(MASKED[0], Embedding={**MASKED[0]["Embedding"], "mask_zero": False}),
                     *MASKED[1:]]).forward(params, x)
    assert not np.allclose(y, unmasked)


def test_masked_gradients_match_finite_differences():
    model = load(MASKED)
    rng = np.random.default_rng(0)
    params = weights_module.nest({k: v.astype(np.float64)
                                  for k, v in weights_module.fresh(model, seed=3).items()})
    x = np.array([[2, 5, 0, 1, 0, 0], [7, 0, 3, 3, 8, 0]], np.float64)
    r = rng.standard_normal(model.output_shape((2, 6)))

    def loss():
        return float(np.sum(model.forward_train(params, x, None)[0] * r))

    y, cache = model.forward_train(params, x, None)
    _, grads = model.backward(params, cache, r)
    flat_grads, flat_params = weights_module.flatten(grads), weights_module.flatten(params)
    for key, grad in flat_grads.items():
        for index in sample_indices(grad.shape, rng, count=6):
            assert grad[index] == pytest.approx(numeric_gradient(loss, flat_params[key], index),
                                                rel=1e-5, abs=1e-7), key


def test_a_mask_seqcli_cannot_honour_is_refused():
    with pytest.raises(SeqcliError, match="reaches this TimeDistributed") as info:
        load([MASKED[0], {"TimeDistributed": {"layer": {"Softmax": {}}}}, {"Flatten": {}}])
    assert str(info.value).startswith("m.json:1:")
    for layer in ({"Softmax": {}}, {"BatchNormalization": {}},
                  {"TimeDistributed": {"layer": {"Dense": {"units": 2}}}},
                  {"Bidirectional": {"layer": {"LSTM": {"units": 2}}}},
                  {"Sequential": {"layers": [{"LSTM": {"units": 2}}]}}):
        load([MASKED[0], layer, {"Flatten": {}}])  # Keras uses the mask: so does seqcli


def test_a_mask_that_does_not_fit_softmax_is_kerass_error():
    model = load([MASKED[0], {"Softmax": {}}])  # mask (batch, 6) against (batch, 6, 3)
    params = weights_module.nest(weights_module.fresh(model))
    with pytest.raises(SeqcliError, match="must be broadcastable"):
        model.forward(params, np.ones((2, 6), np.float32))


def test_a_dropped_mask_is_harmless_and_a_masked_output_masks_the_loss():
    load([MASKED[0], {"Conv1D": {"filters": 2, "kernel_size": 2}}, {"Softmax": {}}])  # dropped
    model = load([MASKED[0], {"LSTM": {"units": 2, "return_sequences": True}}])
    compiled = training.compile_settings({"loss": "mse", "metrics": ["mae"]})
    weights = weights_module.fresh(model, seed=1)
    x = np.array([[1, 2, 0, 0, 0, 0], [3, 4, 5, 0, 0, 0]], np.float32)
    y = np.random.default_rng(0).normal(size=(2, 6, 2)).astype(np.float32)
    scores = training.evaluate(model, weights, x, y, compiled)
    y[:, 3:] = 1e6  # targets under the mask change nothing
    assert training.evaluate(model, weights, x, y, compiled) == scores
    y_pred = model.forward(weights_module.nest(weights), x)
    valid = x != 0
    expected = ((y_pred - y) ** 2).mean(axis=-1)[valid].mean()
    assert scores["loss"] == pytest.approx(expected, rel=1e-6)


def test_fit_and_evaluate_mask_the_metrics_alike():
    model = load([MASKED[0], {"LSTM": {"units": 3, "return_sequences": True}},
                  {"Dense": {"units": 3}}])
    compiled = training.compile_settings({
        "loss": {"sparse_categorical_crossentropy": {"from_logits": True}},
        "optimizer": {"sgd": {"learning_rate": 1e-30}}, "metrics": ["accuracy"]})
    rng = np.random.default_rng(5)
    x = rng.integers(1, 9, (16, 6)).astype(np.float32)
    x[:, 4:] = 0
    y = rng.integers(0, 3, (16, 6))
    weights = weights_module.fresh(model, seed=4)
    scores = training.evaluate(model, weights, x, y, compiled, batch_size=16)
    history = training.fit(model, weights, x, y, compiled,
                           training.FitOptions(batch_size=16, shuffle=False))
    assert history.epochs[0]["accuracy"] == pytest.approx(scores["accuracy"])
    predicted = model.forward(weights_module.nest(weights), x).argmax(axis=-1)
    assert scores["accuracy"] == pytest.approx((predicted == y)[x != 0].mean())
    assert scores["accuracy"] != pytest.approx((predicted == y).mean())


def test_every_layer_passes_or_drops_a_mask_as_keras_does():
    """Keras's `supports_masking` per class (recorded by the fixture script) against what
    each seqcli layer does with a mask; Embedding makes masks instead."""
    import os

    from seqcli.registry import all_layers
    from tests.conftest import FIXTURES

    with open(os.path.join(FIXTURES, "keras_supports_masking.json")) as handle:
        keras_supports = json.load(handle)
    layers = all_layers()
    assert set(keras_supports) == set(layers) - {"Input", "Sequential"}
    for name, supports in keras_supports.items():
        masking = layers[name].masking
        if not isinstance(masking, str):  # a property: TimeDistributed, by its inner layer
            continue
        assert (masking in ("passes", "uses", "refuses")) == supports, (name, masking)


def test_masked_steps_are_positive_zeros_as_keras_where_makes_them():
    """Keras's Masking is ops.where(mask, x, 0): +0.0 even where mask_value is negative
    (x * 0 would give -0.0, which prints as -0 and differs in its bits)."""
    model = spec_module.load_text(
        "input_shape: [3, 2]\nlayers:\n  - Masking: {mask_value: -1.5}\n", "mask").model
    x = np.array([[[-1.5, -1.5], [1, -2], [-1.5, -1.5]]], np.float32)
    y = model.forward({}, x)
    np.testing.assert_array_equal(y, [[[0, 0], [1, -2], [0, 0]]])
    assert not np.signbit(y[:, [0, 2]]).any()


def test_the_onnx_form_of_masking_also_gives_positive_zeros(cli, tmp_path):
    spec = tmp_path / "m.yaml"
    spec.write_text("input_shape: [3, 2]\nlayers:\n  - Masking: {mask_value: -1.5}\n")
    x = tmp_path / "x.npy"
    np.save(x, np.array([[[-1.5, -1.5], [1, -2], [-1.5, -1.5]]], np.float32))
    result = cli("run", spec, "--input", x, "--engine", "onnxruntime", "-o", tmp_path / "y.npy")
    assert result.exit_code == 0, result.stderr
    y = np.load(tmp_path / "y.npy")
    np.testing.assert_array_equal(y, [[[0, 0], [1, -2], [0, 0]]])
    assert not np.signbit(y[:, [0, 2]]).any()
