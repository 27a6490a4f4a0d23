"""`seqcli explain`: every printed formula's result equals seqcli's own numbers."""

import json
import math

import pytest

from seqcli import explain, spec, summary
from seqcli.errors import SeqcliError

# (input shape, layers): stacks covering every layer family explain knows
STACKS = {
    "conv2d": ([250, 250, 3], [
        {"Conv2D": {"filters": 32, "kernel_size": 5, "strides": 2}},
        {"Conv2D": {"filters": 8, "kernel_size": 3, "padding": "same", "strides": 2}},
        {"Conv2D": {"filters": 8, "kernel_size": 3, "dilation_rate": 2}},
        {"Conv2D": {"filters": 16, "kernel_size": [3, 1], "groups": 4, "strides": [1, 3]}},
        {"DepthwiseConv2D": {"kernel_size": 3, "depth_multiplier": 2}},
        {"SeparableConv2D": {"filters": 12, "kernel_size": 3, "padding": "same"}},
        {"Conv2DTranspose": {"filters": 4, "kernel_size": 3, "strides": 2}},
        {"Conv2DTranspose": {"filters": 4, "kernel_size": 3, "strides": 2,
                             "padding": "same"}},
        {"Conv2DTranspose": {"filters": 4, "kernel_size": 3, "strides": 3,
                             "output_padding": 1}},
        {"Conv2DTranspose": {"filters": 4, "kernel_size": 4, "strides": 2, "padding": "same",
                             "output_padding": 1, "use_bias": False}},
        {"MaxPooling2D": {"pool_size": 3}},
        {"AveragePooling2D": {"pool_size": 2, "strides": 1, "padding": "same"}},
        {"ZeroPadding2D": {"padding": [[1, 2], [0, 3]]}},
        {"Cropping2D": {"cropping": [[2, 1], [1, 0]]}},
        {"UpSampling2D": {"size": [2, 3]}},
        {"BatchNormalization": {}},
        {"LayerNormalization": {}},
        {"GroupNormalization": {"groups": 2}},
        {"GlobalAveragePooling2D": {}},
        {"Dense": {"units": 7}},
    ]),
    "conv1d": ([40, 6], [
        {"Conv1D": {"filters": 5, "kernel_size": 4, "padding": "causal", "dilation_rate": 2}},
        {"Conv1DTranspose": {"filters": 3, "kernel_size": 3, "dilation_rate": 2}},
        {"Conv3D": None},  # replaced below: needs rank 5
    ]),
    "conv3d": ([8, 9, 10, 2], [
        {"Conv3D": {"filters": 3, "kernel_size": 2, "strides": 2}},
        {"MaxPooling3D": {"pool_size": 2, "padding": "same"}},
        {"Flatten": {}},
        {"Dense": {"units": 4, "activation": "relu"}},
        {"Dropout": {"rate": 0.5}},
    ]),
    "text": ([20], [
        {"Embedding": {"input_dim": 100, "output_dim": 8}},
        {"SimpleRNN": {"units": 6, "return_sequences": True}},
        {"LSTM": {"units": 5, "return_sequences": True}},
        {"GRU": {"units": 4, "return_sequences": True}},
        {"GRU": {"units": 3, "reset_after": False, "return_sequences": True}},
        {"Bidirectional": {"layer": {"LSTM": {"units": 3, "return_sequences": True}}}},
        {"Bidirectional": {"layer": {"GRU": {"units": 2, "return_sequences": True}},
                           "merge_mode": "sum"}},
        {"TimeDistributed": {"layer": {"Dense": {"units": 9}}}},
        {"Dense": {"units": 2}},
        {"LSTM": {"units": 2, "use_bias": False}},
    ]),
}
STACKS["conv1d"][1].pop()


def built(input_shape, layers):
    text = json.dumps({"name": "m", "input_shape": input_shape, "layers": layers})
    return summary.summarize(spec.load_text(text, "m.json", "json").model)


def all_rows(rows):
    for row in rows:
        yield row
        yield from all_rows(row.children)


@pytest.mark.parametrize("stack", sorted(STACKS))
def test_every_formula_gives_seqcli_own_number(stack):
    result = built(*STACKS[stack])
    for row in all_rows(result.rows):
        told = explain.explain(row, row.name)
        shape_labels = {f.label for f in told.shape}
        for formula in told.formulas():
            assert formula.value == formula.expected, (row.name, formula)
        # the numbers the formulas give are the plan's, the weights' and cost.py's
        assert told.params[-1].value == row.params == sum(
            math.prod(s.shape) for s in row.layer.weight_specs(row.input_shape))
        assert told.macs.value == row.macs
        for label in shape_labels:
            assert told.shape and label.startswith("out[")
        rendered = told.render()
        assert f"= {row.params:,}" in rendered and f"= {row.macs:,}" in rendered


def test_families_have_their_formulas():
    rows = {r.name: r for r in built(*STACKS["conv2d"]).rows}
    conv = explain.explain(rows["conv2d"], "conv2d").render()
    assert "out[1] = floor((250 - 5) / 2) + 1 = 123" in conv
    assert "params = 5 * 5 * 3 * 32 (kernel) + 32 (bias) = 2,432" in conv
    assert "macs = 123 * 123 * 5 * 5 * 3 * 32 = 36,309,600" in conv
    same = explain.explain(rows["conv2d_1"], "conv2d_1").render()
    assert "out[1] = ceil(123 / 2) = 62  (same padding)" in same
    dilated = explain.explain(rows["conv2d_2"], "conv2d_2").render()
    assert "out[1] = floor((62 - 2 * (3 - 1) - 1) / 1) + 1 = 58" in dilated
    grouped = explain.explain(rows["conv2d_3"], "conv2d_3").render()
    assert "* 8 / 4 * 16" in grouped and "3 * 1 * 2 * 16 (kernel)" in grouped
    transposed = explain.explain(rows["conv2d_transpose_2"], "conv2d_transpose_2").render()
    assert "out[1] = (218 - 1) * 3 + 3 + 1 = 655  (output_padding)" in transposed
    norm = explain.explain(rows["batch_normalization"], "batch_normalization").render()
    assert "(moving_mean, non-trainable)" in norm
    text = {r.name: r for r in built(*STACKS["text"]).rows}
    lstm = explain.explain(text["lstm"], "lstm").render()
    assert "params = 4 * (6 * 5 + 5 * 5 + 5) = 240  (gates i, f, c, o)" in lstm
    gru = explain.explain(text["gru"], "gru").render()
    assert "3 * (5 * 4 + 4 * 4 + 2 * 4)" in gru and "reset_after" in gru
    bidirectional = explain.explain(text["bidirectional"], "bidirectional").render()
    assert "out[2] = 3 + 3 = 6" in bidirectional
    embedding = explain.explain(text["embedding"], "embedding").render()
    assert "params = 100 * 8 (embeddings) = 800" in embedding


def test_nested_layer_by_path_and_unknown_names(cli):
    from tests.conftest import spec_path

    result = cli("explain", spec_path("guide_transfer.yaml"), "base/conv2d")
    assert result.exit_code == 0, result.stderr
    assert "out[1] = floor((64 - 3) / 2) + 1 = 31" in result.stdout
    assert "params = 3 * 3 * 3 * 16 (kernel) + 16 (bias) = 448" in result.stdout
    whole = cli("explain", spec_path("guide_transfer.yaml"), "base")
    assert whole.exit_code == 0 and "params = 448 + 4640 + 0 + 0" in whole.stdout
    wrong = cli("explain", spec_path("guide_transfer.yaml"), "base/conv2dd")
    assert wrong.exit_code == 1
    assert wrong.stderr.strip().splitlines() == [
        f"seqcli: error: {spec_path('guide_transfer.yaml')}: no layer named 'base/conv2dd'; "
        "did you mean 'base/conv2d'?"]


def test_find_refuses_an_unknown_layer():
    rows = built(*STACKS["text"]).rows
    with pytest.raises(SeqcliError, match="did you mean 'lstm'"):
        explain.find(rows, "lstn", "m.json")


def test_diff_and_explain_need_no_numpy():
    import subprocess
    import sys

    code = ("import sys; from seqcli import explain, model_diff, spec, summary; "
            "s = summary.summarize(spec.load('specs/guide_cnn.yaml').model); "
            "explain.explain(s.rows[0], 'conv2d').render(); model_diff.compare(s, s); "
            "print('numpy' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=__file__.rsplit("/tests/", 1)[0], check=True)
    assert result.stdout.strip() == "False"
