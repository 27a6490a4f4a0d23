"""`seqcli diff` (what changed between two models) and `seqcli explain` (a layer's
numbers as formulas): the formulas are checked as arithmetic, and their results against
the built model's shapes, weight sizes and MACs."""

import ast
import json
import math
import operator
import re

import numpy as np
import pytest

from seqcli import cost
from seqcli import diff as diffs
from seqcli import explain as explaining
from seqcli import spec as spec_module
from tests.test_cli import assert_clean_error


def write_spec(tmp_path, name, layers, input_shape):
    path = tmp_path / name
    path.write_text(json.dumps({"input_shape": input_shape, "layers": layers}))
    return path


BASE = [{"Conv2D": {"filters": 8, "kernel_size": 3, "name": "c1"}},
        {"MaxPooling2D": {"pool_size": 2, "name": "pool"}},
        {"Flatten": {"name": "flat"}},
        {"Dense": {"units": 4, "name": "out"}}]


def test_diff_of_a_model_with_itself_is_empty_and_exits_0(cli, tmp_path):
    path = write_spec(tmp_path, "a.json", BASE, [10, 10, 3])
    result = cli("diff", path, path)
    assert result.exit_code == 0
    assert result.stdout.startswith("same: no layer differs\n")


def test_diff_reports_a_changed_argument_shapes_and_params(cli, tmp_path):
    changed = json.loads(json.dumps(BASE))
    changed[0]["Conv2D"]["filters"] = 16
    a = write_spec(tmp_path, "a.json", BASE, [10, 10, 3])
    b = write_spec(tmp_path, "b.json", changed, [10, 10, 3])
    result = cli("diff", a, b, "--format", "json")
    assert result.exit_code == 3
    data = json.loads(result.stdout)
    assert not data["same"]
    by_name = {(c["a"] or c["b"])["name"]: c for c in data["layers"]}
    conv = by_name["c1"]
    assert conv["status"] == "changed" and conv["arguments"] == {"filters": [8, 16]}
    # params from the kernel and bias shapes, counted here
    assert [conv["a"]["params"], conv["b"]["params"]] == [3 * 3 * 3 * 8 + 8, 3 * 3 * 3 * 16 + 16]
    assert by_name["pool"]["b"]["output_shape"] == [None, 4, 4, 16]
    assert by_name["out"]["status"] == "changed" and "arguments" not in by_name["out"]
    assert by_name["out"]["b"]["params"] == 4 * 4 * 16 * 4 + 4
    flat = by_name["flat"]
    assert flat["a"]["output_shape"] == [None, 128] and flat["b"]["output_shape"] == [None, 256]
    a_total, b_total = data["totals"]["params"]
    assert a_total == 224 + 512 + 4 and b_total == 448 + 1024 + 4
    text = cli("diff", a, b).stdout
    assert ("~ c1 (Conv2D)\n    filters: 8 -> 16\n"
            "    output: (None, 8, 8, 8) -> (None, 8, 8, 16)\n    params: 224 -> 448\n") in text
    assert "total params: 740 -> 1,476 (+736)\n" in text


def test_diff_matches_by_name_then_position_and_lists_added_and_removed(tmp_path):
    a = _entries(BASE)
    renamed = json.loads(json.dumps(BASE))
    renamed[1]["MaxPooling2D"]["name"] = "pool_renamed"  # same place, same class
    renamed.insert(3, {"Dropout": {"rate": 0.5, "name": "drop"}})  # added
    del renamed[0]  # c1 removed: pool_renamed now stands first, no longer at index 1
    renamed.insert(0, {"Conv2D": {"filters": 8, "kernel_size": 3, "name": "c2"}})
    b = _entries(renamed)
    changes = diffs.compare(a, b)
    summary = [(c.status, c.a and c.a.name, c.b and c.b.name) for c in changes]
    assert summary == [("changed", "c1", "c2"), ("changed", "pool", "pool_renamed"),
                       ("same", "flat", "flat"), ("added", None, "drop"),
                       ("same", "out", "out")]
    removed = diffs.compare(a, _entries(BASE[:1] + BASE[2:]))
    assert [(c.status, c.a and c.a.name) for c in removed][:2] == [("same", "c1"),
                                                                  ("removed", "pool")]


def test_diff_of_a_bad_spec_is_a_clean_error(cli, tmp_path):
    good = write_spec(tmp_path, "a.json", BASE, [10, 10, 3])
    bad = tmp_path / "bad.json"
    bad.write_text('{"layers": [{"Dense": {"units": -1}}]}')
    assert_clean_error(cli("diff", good, bad), 1, "bad.json")


def _entries(layers):
    text = json.dumps({"input_shape": [10, 10, 3], "layers": layers})
    return diffs.entries(spec_module.load_text(text, "m.json").model)


# ---------------------------------------------------------------- explain

_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
        ast.Div: operator.truediv}
_CALLS = {"floor": math.floor, "ceil": math.ceil, "max": max}


def arithmetic(text: str) -> float:
    """The value of a formula's arithmetic (numbers, + - * /, floor, ceil, max only)."""
    def value(node):
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](value(node.left), value(node.right))
        if isinstance(node, ast.Call) and node.func.id in _CALLS:
            return _CALLS[node.func.id](*map(value, node.args))
        raise ValueError(f"not arithmetic: {ast.dump(node)}")
    return value(ast.parse(re.sub(r"(?<=\d),(?=\d{3})", "", text), mode="eval").body)


def formula(lines, prefix):
    """(the arithmetic, the stated result) of the line `prefix = ... = N (...)`."""
    for line in lines:
        line = line.strip()
        if re.match(rf"(axis \d+: )?{prefix} = ", line):
            body = re.sub(r" \([^()]*(\([^()]*\)[^()]*)*\)$", "", line.split(f"{prefix} = ", 1)[1])
            *terms, result = body.split(" = ")
            return terms[-1] if terms else result, int(result.replace(",", ""))
    raise AssertionError(f"no {prefix} line in {lines}")


STACK = [
    lambda r: {"Conv2D": {"filters": int(r.integers(1, 5)), "kernel_size": int(r.integers(1, 4)),
                          "strides": int(r.integers(1, 3)),
                          "padding": str(r.choice(["valid", "same"]))}},
    lambda r: {"Conv2D": {"filters": 2, "kernel_size": 2, "dilation_rate": 2}},
    lambda r: {"Conv2D": {"filters": 4, "kernel_size": 3, "groups": 2, "padding": "same"}},
    lambda r: {"DepthwiseConv2D": {"kernel_size": 2, "depth_multiplier": 2}},
    lambda r: {"SeparableConv2D": {"filters": 3, "kernel_size": 2, "padding": "same"}},
    lambda r: {"Conv2DTranspose": {"filters": 2, "kernel_size": int(r.integers(1, 4)),
                                   "strides": int(r.integers(1, 3)),
                                   "padding": str(r.choice(["valid", "same"]))}},
    lambda r: {"Conv2DTranspose": {"filters": 2, "kernel_size": 3, "strides": 2,
                                   "output_padding": 1,
                                   "padding": str(r.choice(["valid", "same"]))}},
    lambda r: {"MaxPooling2D": {"pool_size": int(r.integers(1, 3)),
                                "padding": str(r.choice(["valid", "same"]))}},
    lambda r: {"AveragePooling2D": {"pool_size": 2, "strides": 1}},
    lambda r: {"ZeroPadding2D": {"padding": [[1, 2], [0, 1]]}},
    lambda r: {"Cropping2D": {"cropping": 1}},
    lambda r: {"UpSampling2D": {"size": [2, 1]}},
    lambda r: {"BatchNormalization": {}},
    lambda r: {"Dense": {"units": int(r.integers(1, 4))}},
]


def _check_explained(step):
    lines = explaining.explain(step)
    out_lines = [line for line in lines if re.match(r"\s+axis \d+: out = ", line)]
    spatial = step.output_shape[1:-1]
    for axis_line in out_lines:
        axis = int(re.search(r"axis (\d+)", axis_line).group(1)) - 1
        expression, result = formula([axis_line], "out")
        assert arithmetic(expression) == result == spatial[axis], axis_line
    expression, result = formula(lines, "params")
    assert arithmetic(expression) == result == sum(w.size for w in step.weights)
    expression, result = formula(lines, "macs")
    assert result == cost.layer_cost(step.layer, step.input_shape, step.output_shape,
                                     step.inner).macs
    if re.search(r"\d \* \d", expression):
        assert arithmetic(expression) == result
    return len(out_lines)


def test_explained_formulas_compute_the_model_s_own_numbers_on_random_stacks():
    rng = np.random.default_rng(11)
    axes_checked = 0
    for _ in range(40):
        layers = [STACK[int(rng.integers(len(STACK)))](rng) for _ in range(int(rng.integers(1, 4)))]
        text = json.dumps({"input_shape": [int(rng.integers(9, 14)), 11, 4], "layers": layers})
        try:
            model = spec_module.load_text(text, "m.json").model
            steps = model.plan.steps
        except Exception:  # a stack too small for its kernels: Keras refuses it too
            continue
        for step in steps:
            axes_checked += _check_explained(step)
    assert axes_checked > 60


@pytest.mark.parametrize("layers,shape,name,expected", [
    ([{"Conv1D": {"filters": 4, "kernel_size": 3, "padding": "causal", "dilation_rate": 2}}],
     [20, 8], "conv1d", ["reach = dilation * (kernel - 1) + 1 = 2 * (3 - 1) + 1 = 5",
                         "out = ceil(20 / 1) = 20 (padding causal)"]),
    ([{"LSTM": {"units": 5}}], [7, 3], "lstm",
     ["gates = 4 (input, forget, cell, output)",
      "params = 3 * 20 + 5 * 20 + 20 = 180",
      "macs = steps * gates * units * (features + units) = 7 * 4 * 5 * (3 + 5) = 1,120"]),
    ([{"Bidirectional": {"layer": {"GRU": {"units": 2, "return_sequences": True}}}}], [6, 3],
     "bidirectional", ["merge_mode concat: last axis = 2 * 2 = 4",
                       "macs = forward + backward = 180 + 180 = 360"]),
    ([{"TimeDistributed": {"layer": {"Dense": {"units": 2}}}}], [6, 3], "time_distributed",
     ["macs = timesteps * the inner layer's = 6 * 6 = 36"]),
])
def test_explain_names_the_family_s_rule(cli, tmp_path, layers, shape, name, expected):
    result = cli("explain", write_spec(tmp_path, "m.json", layers, shape), name)
    assert result.exit_code == 0
    for words in expected:
        assert words in result.stdout


def test_explain_the_guide_s_first_convolution(cli):
    result = cli("explain", "specs/guide_cnn.yaml", "conv2d")
    assert "axis 1: out = floor((250 - 5) / 2) + 1 = 123 (padding valid)" in result.stdout
    assert "params = 5 * 5 * 3 * 32 + 32 = 2,432" in result.stdout


def test_explain_an_unknown_layer_names_the_layers(cli):
    assert_clean_error(cli("explain", "specs/guide_cnn.yaml", "conv9"), 1, "conv2d_1")


def test_explain_an_unbuilt_model_asks_for_an_input_shape(cli):
    assert_clean_error(cli("explain", "specs/guide_unbuilt.yaml", "dense_7"), 1,
                       "--input-shape")
    built = cli("explain", "specs/guide_unbuilt.yaml", "dense_7", "--input-shape", "5")
    assert "params = 5 * 2 + 2 = 12" in built.stdout


def test_diff_of_unbuilt_models_compares_arguments(tmp_path):
    text = json.dumps({"layers": [{"Dense": {"units": 2}}]})
    wider = json.dumps({"layers": [{"Dense": {"units": 3}}]})
    a = diffs.entries(spec_module.load_text(text, "a.json").model)
    b = diffs.entries(spec_module.load_text(wider, "b.json").model)
    [change] = diffs.compare(a, b)
    assert change.status == "changed" and change.arguments == {"units": (2, 3)}
    assert diffs.to_json([change], a, b)["totals"] == {"params": [None, None],
                                                      "macs": [None, None]}


def test_diff_of_a_spec_and_the_keras_json_keras_wrote_of_it_is_the_same(cli):
    keras_json = "tests/fixtures/keras_guide_files/guide_cnn.json"  # Keras 3's to_json()
    assert cli("diff", "specs/guide_cnn.yaml", keras_json).exit_code == 0
    result = cli("diff", "specs/guide_cnn_step2.yaml", keras_json)
    assert result.exit_code == 3
    assert result.stdout.startswith(
        "+ global_max_pooling2d (GlobalMaxPooling2D): output (None, 32), params 0\n"
        "+ dense_13 (Dense): output (None, 10), params 330\n")


def test_explain_a_nested_layer_by_its_path(cli):
    result = cli("explain", "specs/guide_transfer.yaml", "base/conv2d")
    assert result.exit_code == 0, result.stderr
    assert "axis 1: out = floor((64 - 3) / 2) + 1 = 31" in result.stdout
    assert "params = 3 * 3 * 3 * 16 + 16 = 448" in result.stdout
    assert cli("explain", "specs/guide_transfer.yaml", "dense/conv2d").exit_code == 1


def test_explain_an_unknown_layer_suggests_the_closest(cli):
    result = cli("explain", "specs/guide_transfer.yaml", "base/conv2dd")
    assert_clean_error(result, 1, "did you mean 'base/conv2d'?")
    assert_clean_error(cli("explain", "specs/guide_cnn.yaml", "dense_1"), 1,
                       "did you mean 'dense_13'?")


def test_diff_compares_nested_models_inside(cli, tmp_path):
    inner = [{"Conv2D": {"filters": 8, "kernel_size": 3, "name": "conv"}},
             {"GlobalMaxPooling2D": {}}]
    wider = [{"Conv2D": {"filters": 4, "kernel_size": 3, "name": "conv"}},
             {"GlobalMaxPooling2D": {}}]
    a = write_spec(tmp_path, "a.json", [{"Sequential": {"name": "base", "layers": inner}},
                                        {"Dense": {"units": 2}}], [16, 16, 3])
    b = write_spec(tmp_path, "b.json", [{"Sequential": {"name": "base", "layers": wider}},
                                        {"Dense": {"units": 2}}], [16, 16, 3])
    assert cli("diff", a, a).exit_code == 0
    result = cli("diff", a, b, "--format", "json")
    assert result.exit_code == 3
    base = json.loads(result.stdout)["layers"][0]
    assert base["status"] == "changed" and "arguments" not in base
    assert [base["a"]["params"], base["b"]["params"]] == [3 * 3 * 3 * 8 + 8, 3 * 3 * 3 * 4 + 4]
    conv = next(change for change in base["layers"] if change["status"] != "same")
    assert conv["a"]["name"] == "conv" and conv["arguments"] == {"filters": [8, 4]}
    text = cli("diff", a, b).stdout
    assert "~ base (Sequential)\n" in text
    assert "    ~ conv (Conv2D)\n        filters: 8 -> 4\n" in text


def test_explain_says_what_embedding_time_distributed_and_shape_keepers_do(cli, tmp_path):
    layers = [{"Embedding": {"input_dim": 100, "output_dim": 8}},
              {"TimeDistributed": {"layer": {"Dense": {"units": 9}}}},
              {"Dropout": {"rate": 0.5}}]
    path = write_spec(tmp_path, "m.json", layers, [20])
    embedding = cli("explain", path, "embedding").stdout
    assert "last axis = output_dim = 8" in embedding and "params = 100 * 8 = 800" in embedding
    wrapped = cli("explain", path, "time_distributed").stdout
    assert "the inner Dense on each of the 20 steps: (None, 8) -> (None, 9)" in wrapped
    assert "last axis = units = 9" in wrapped and "params = 8 * 9 + 9 = 81" in wrapped
    assert "unchanged: Dropout keeps its input's shape" in cli("explain", path, "dropout").stdout
