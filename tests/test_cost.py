"""The calculator: MACs by the rule, receptive fields as the forward pass sees them,
memory from the shapes, and `check`'s budgets."""

import json
import math

import numpy as np
import pytest

from seqcli import spec as spec_module
from seqcli import summary
from seqcli import weights as weights_module
from tests.test_cli import assert_clean_error


def load(layers, input_shape):
    text = json.dumps({"input_shape": input_shape, "layers": layers})
    return spec_module.load_text(text, "m.json").model


def expected_macs(step) -> int:
    """The issue's rule, from the weights' shapes (not from the layer's arguments)."""
    layer, weights = step.layer, {w.name: w.shape for w in step.weights}
    name = type(layer).__name__
    out_positions = math.prod(step.output_shape[1:-1])
    in_positions = math.prod(step.input_shape[1:-1])
    if name == "Dense" or name.startswith("Conv") and "Transpose" not in name:
        return out_positions * math.prod(weights["kernel"])
    if "Transpose" in name:
        return in_positions * math.prod(weights["kernel"])
    if name.startswith("Depthwise"):
        return out_positions * math.prod(weights["kernel"])
    if name.startswith("Separable"):
        return out_positions * (math.prod(weights["depthwise_kernel"])
                                + math.prod(weights["pointwise_kernel"]))
    if name in ("LSTM", "GRU", "SimpleRNN"):
        return step.input_shape[1] * (math.prod(weights["kernel"])
                                      + math.prod(weights["recurrent_kernel"]))
    if name == "Bidirectional":
        return step.input_shape[1] * sum(math.prod(s) for k, s in weights.items()
                                         if k.endswith("kernel"))
    return 0


POOL = [
    lambda r: {"Conv2D": {"filters": int(r.integers(1, 4)), "kernel_size": int(r.integers(1, 4)),
                          "strides": int(r.integers(1, 3)), "padding": str(r.choice(["valid", "same"]))}},
    lambda r: {"DepthwiseConv2D": {"kernel_size": 2, "depth_multiplier": 2}},
    lambda r: {"SeparableConv2D": {"filters": 3, "kernel_size": 2, "padding": "same"}},
    lambda r: {"Conv2DTranspose": {"filters": 2, "kernel_size": 3, "strides": 2}},
    lambda r: {"Conv2D": {"filters": 4, "kernel_size": 3, "groups": 2}},
    lambda r: {"MaxPooling2D": {"pool_size": 2, "padding": "same"}},
    lambda r: {"BatchNormalization": {}},
    lambda r: {"Dense": {"units": 3}},
]


def test_macs_follow_the_rule_on_random_stacks():
    rng = np.random.default_rng(7)
    checked = 0
    for _ in range(40):
        layers = [POOL[i](rng) for i in rng.integers(0, len(POOL), int(rng.integers(1, 5)))]
        try:
            model = load(layers + [{"Flatten": {}}, {"Dense": {"units": 2}}], [12, 12, 4])
        except Exception:  # a stack that does not fit its input: Keras refuses it too
            continue
        rows = summary.summarize(model).rows
        for row, step in zip(rows, model.plan.steps):
            assert row.macs == expected_macs(step), step.layer
            assert row.flops >= 2 * row.macs
            checked += 1
    assert checked > 60


def test_recurrent_macs_count_every_gate_step_and_direction():
    model = load([{"LSTM": {"units": 4, "return_sequences": True}},
                  {"Bidirectional": {"layer": {"GRU": {"units": 3}}}}], [7, 5])
    rows = summary.summarize(model).rows
    assert rows[0].macs == 7 * 4 * 4 * (5 + 4)  # steps * gates * units * (in + units)
    assert rows[1].macs == 2 * 7 * 3 * 3 * (4 + 3)
    for row, step in zip(rows, model.plan.steps):
        assert row.macs == expected_macs(step)


FIELD_POOL = [
    lambda r: {"Conv1D": {"filters": 1, "kernel_size": int(r.integers(1, 5)),
                          "strides": int(r.integers(1, 3)), "use_bias": False,
                          "padding": str(r.choice(["valid", "same", "causal"]))}},
    lambda r: {"Conv1D": {"filters": 1, "kernel_size": 3, "dilation_rate": 2,
                          "use_bias": False}},
    lambda r: {"AveragePooling1D": {"pool_size": int(r.integers(2, 4)),
                                    "padding": str(r.choice(["valid", "same"]))}},
    lambda r: {"ZeroPadding1D": {"padding": [int(r.integers(0, 3)), int(r.integers(0, 3))]}},
    lambda r: {"Cropping1D": {"cropping": [int(r.integers(0, 2)), int(r.integers(0, 2))]}},
    lambda r: {"UpSampling1D": {"size": 2}},
    lambda r: {"Conv1DTranspose": {"filters": 1, "kernel_size": int(r.integers(1, 4)),
                                   "strides": int(r.integers(1, 3)), "use_bias": False}},
]


def empirical_field(model, position):
    """Input positions whose value changes output `position` (from the backward pass)."""
    steps = model.input_shape[0]
    params = weights_module.nest({k: np.abs(v).astype(np.float64) + 0.1 for k, v in
                                  weights_module.fresh(model, seed=3).items()})
    x = np.ones((1, steps, 1))
    result = model.run(params, x, training=True)
    dy = np.zeros_like(result.output)
    dy[0, position, :] = 1
    dx, _ = model.backward(params, result, dy)
    return np.flatnonzero(np.abs(dx[0, :, 0]) > 0)


def test_receptive_fields_are_what_the_forward_pass_sees():
    rng = np.random.default_rng(11)
    checked = 0
    for _ in range(60):
        layers = [FIELD_POOL[i](rng) for i in rng.integers(0, len(FIELD_POOL),
                                                            int(rng.integers(1, 5)))]
        try:
            model = load(layers, [40, 1])
        except Exception:
            continue
        field = summary.summarize(model).rows[-1].field
        length = model.plan.output_shape[1]
        position = length // 2
        centre = field.start[0] + position * field.jump[0]
        low, high = centre - (field.size[0] - 1) / 2, centre + (field.size[0] - 1) / 2
        if low < 0 or high > 39 or centre != int(centre) or (field.size[0] - 1) % 2:
            continue  # past the input's edge, or centred between samples (upsampled)
        seen = empirical_field(model, position)
        assert (seen.min(), seen.max()) == (low, high), layers
        checked += 1
    assert checked > 15


def test_receptive_fields_end_where_positions_mix():
    rows = summary.summarize(load([{"Conv2D": {"filters": 2, "kernel_size": 3}},
                                   {"GlobalAveragePooling2D": {}}, {"Dense": {"units": 2}}],
                                  [9, 9, 1])).rows
    assert rows[0].field.size == (3, 3) and rows[1].field is None and rows[2].field is None


def test_memory_is_the_shapes_bytes():
    model = load([{"Conv2D": {"filters": 4, "kernel_size": 3}}, {"Flatten": {}},
                  {"Dense": {"units": 5}}], [8, 8, 2])
    data = json.loads(summary.render_json(summary.summarize(model)))
    conv = data["layers"][0]
    assert conv["weight_bytes"] == 4 * conv["params"] and conv["output_bytes"] == 4 * 6 * 6 * 4
    sizes = [4 * 8 * 8 * 2, 4 * 6 * 6 * 4, 4 * 144, 4 * 5]
    weights = 4 * data["total_params"]
    assert data["memory"] == {"weight_bytes": weights,  # the largest input + output pair:
                              "inference_peak_bytes": weights + sizes[1] + sizes[2],
                              "training_bytes": 2 * weights + sum(sizes)}


@pytest.mark.parametrize("args,status,words", [
    (["--max-params", "49002"], 0, "within budget"),
    (["--max-params", "49001"], 3, "budget: params"),
    (["--max-macs", "198004640"], 0, "within budget"),
    (["--max-macs", "198M"], 3, "budget: macs 198,004,640 > 198,000,000"),
    (["--max-macs", "100M"], 3, "budget: macs 198.00M > 100.00M"),
    (["--max-flops", "1G", "--max-params", "1M"], 0, "within budget"),
    (["--max-memory", "1KiB"], 3, "budget: memory"),
])
def test_check_exits_3_exactly_when_a_budget_is_exceeded(cli, args, status, words):
    result = cli("check", "specs/guide_cnn.yaml", *args)
    assert result.exit_code == status
    assert words in (result.stdout + result.stderr)


def test_check_refuses_a_bad_budget(cli):
    assert_clean_error(cli("check", "specs/guide_cnn.yaml", "--max-macs", "1GiB"), 2,
                       "--max-macs")
