"""Regularizers and constraints: their formulas, gradients and checks. Their effect on
training is compared with Keras in test_training_parity (regularizers_*, constraints_*)."""

import json

import numpy as np
import pytest

from seqcli import regularizers
from seqcli import spec as spec_module
from seqcli import weights as weights_module
from seqcli.errors import SeqcliError

SETTINGS = ["l1", "L2", {"L1L2": {"l1": 0.3, "l2": 0.2}}, {"L2": {"l2": 0.5}},
            {"OrthogonalRegularizer": {"factor": 0.4}},
            {"OrthogonalRegularizer": {"factor": 0.7, "mode": "columns"}}]


def numeric_gradient(f, x):
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        saved = x[index]
        x[index] = saved + 1e-6
        up = f(x)
        x[index] = saved - 1e-6
        down = f(x)
        x[index] = saved
        grad[index] = (up - down) / 2e-6
    return grad


@pytest.mark.parametrize("setting", SETTINGS, ids=str)
def test_regularizer_gradients_match_finite_differences(setting):
    x = np.random.default_rng(1).normal(size=(4, 3))  # float64, no entry at exactly 0
    expected = numeric_gradient(lambda w: regularizers.penalty(setting, w), x)
    assert np.allclose(regularizers.gradient(setting, x), expected, rtol=1e-5, atol=1e-7)


def test_regularizer_values_are_kerass_formulas():
    x = np.array([[1.0, -2.0], [3.0, 0.5]], np.float32)
    assert regularizers.penalty("l1", x) == pytest.approx(0.01 * 6.5)
    assert regularizers.penalty({"L1L2": {"l1": 0.1, "l2": 0.2}}, x) == \
        pytest.approx(0.1 * 6.5 + 0.2 * 14.25)
    # rows (1, -2) and (3, 0.5): one pair, |cosine| = 2 / (sqrt(5) * sqrt(9.25))
    cosine = 2 / (np.sqrt(5) * np.sqrt(9.25))
    assert regularizers.penalty({"OrthogonalRegularizer": {"factor": 1.0}}, x) == \
        pytest.approx(0.5 * 2 * cosine / 1, rel=1e-6)
    assert regularizers.gradient("l1", np.zeros(2, np.float32)).tolist() == [np.float32(0.01)] * 2


def test_constraints_project_as_keras_does():
    rng = np.random.default_rng(2)
    w = rng.normal(size=(5, 4)).astype(np.float32)
    norms = np.sqrt((w * w).sum(axis=0))
    capped = regularizers.constrain({"MaxNorm": {"max_value": 1.0}}, w)
    assert np.allclose(np.sqrt((capped * capped).sum(axis=0)), np.minimum(norms, 1.0), atol=1e-6)
    assert np.allclose(capped / np.linalg.norm(capped, axis=0), w / norms, atol=1e-6)
    unit = regularizers.constrain({"UnitNorm": {"axis": 1}}, w)
    assert np.allclose(np.linalg.norm(unit, axis=1), 1.0, atol=1e-6)
    assert (regularizers.constrain("non_neg", w) == np.maximum(w, 0)).all()
    between = regularizers.constrain({"MinMaxNorm": {"min_value": 2.0, "max_value": 2.5}}, w)
    assert np.allclose(np.linalg.norm(between, axis=0), np.clip(norms, 2.0, 2.5), atol=1e-5)
    kernel = rng.normal(size=(3, 3, 2, 4)).astype(np.float32)
    volume = regularizers.constrain({"MaxNorm": {"max_value": 0.5, "axis": [0, 1, 2]}}, kernel)
    assert np.allclose(np.sqrt((volume ** 2).sum(axis=(0, 1, 2))),
                       np.minimum(np.sqrt((kernel ** 2).sum(axis=(0, 1, 2))), 0.5), atol=1e-6)


def load(layers, input_shape):
    text = json.dumps({"input_shape": input_shape, "layers": layers})
    return spec_module.load_text(text, "case.json").model


@pytest.mark.parametrize("layers,shape", [
    ([{"Dense": {"units": 3, "activity_regularizer": {"L1L2": {"l1": 0.3, "l2": 0.4}}}},
      {"Dense": {"units": 2}}], [4]),
    ([{"TimeDistributed": {"layer": {"Dense": {"units": 3, "activity_regularizer": "l2"}},
                           "activity_regularizer": {"L1": {"l1": 0.2}}}},
      {"Flatten": {}}], [5, 4]),
])
def test_activity_regularizers_in_the_backward_pass(layers, shape):
    model = load(layers, shape)
    rng = np.random.default_rng(3)
    params = weights_module.nest({k: v.astype(np.float64) for k, v in
                                  weights_module.fresh(model).items()})
    x = rng.normal(size=(3, *shape))
    r = rng.normal(size=model.output_shape((3, *shape)))

    def loss(inputs):
        result = model.run(params, inputs, training=True)
        return float((result.output * r).sum()) + result.penalty

    result = model.run(params, x, training=True)
    assert result.penalty > 0
    dx, _ = model.backward(params, result, r)
    assert np.allclose(dx, numeric_gradient(loss, x), rtol=1e-5, atol=1e-6)


def test_time_distributed_divides_the_inner_term_by_batch_times_steps():
    model = load([{"TimeDistributed": {"layer": {"Dense": {
        "units": 2, "activity_regularizer": {"L1": {"l1": 1.0}}}}}}], [5, 4])
    params = weights_module.nest(weights_module.fresh(model))
    x = np.random.default_rng(4).normal(size=(3, 5, 4)).astype(np.float32)
    result = model.run(params, x)
    assert result.penalty == pytest.approx(np.abs(result.output).sum() / 15, rel=1e-5)


def test_rules_round_trip_and_show_in_weight_rules():
    model = load([{"Bidirectional": {"layer": {"LSTM": {
        "units": 2, "kernel_regularizer": "l2", "recurrent_constraint": "unit_norm"}}}},
        {"Dense": {"units": 1, "bias_constraint": {"MaxNorm": {"max_value": 3}}}}], [4, 3])
    rules = model.plan.weight_rules()
    assert rules == {"bidirectional/forward/kernel": ("L2", None),
                     "bidirectional/forward/recurrent_kernel": (None, "UnitNorm"),
                     "bidirectional/backward/kernel": ("L2", None),
                     "bidirectional/backward/recurrent_kernel": (None, "UnitNorm"),
                     "dense/bias": (None, {"MaxNorm": {"max_value": 3}})}
    again = spec_module.load_text(json.dumps(model.config()), "again.json").model
    assert again == model


@pytest.mark.parametrize("args,words", [
    ({"kernel_regularizer": {"L2": {"l2": -1}}}, "non-negative"),
    ({"kernel_regularizer": "l1_l2"}, "did you mean"),
    ({"kernel_regularizer": {"OrthogonalRegularizer": {"mode": "diagonal"}}}, '"rows"'),
    ({"bias_constraint": {"MaxNorm": {"axis": "x"}}}, "axis must be an integer"),
    ({"kernel_constraint": {"NonNeg": {"value": 1}}}, "has no argument"),
])
def test_bad_settings_are_located_errors(args, words):
    with pytest.raises(SeqcliError) as error:
        load([{"Dense": {"units": 2, **args}}], [3])
    assert words in str(error.value) and "case.json:1:" in str(error.value)


def test_an_output_regularizer_inside_bidirectional_is_refused():
    with pytest.raises(SeqcliError, match="inside Bidirectional is not supported"):
        load([{"Bidirectional": {"layer": {"LSTM": {"units": 2,
                                                   "activity_regularizer": "l2"}}}}], [4, 3])
