"""Spec loading: both entry forms, input shapes, nesting, names, located errors."""

import json

import pytest

from seqcli import spec as spec_module
from seqcli.errors import SeqcliError
from seqcli.model import Sequential
from tests.conftest import spec_path


def load(text, name="model.yaml"):
    return spec_module.load_text(text, name).model


def error_of(text, name="model.yaml") -> str:
    with pytest.raises(SeqcliError) as info:
        load(text, name)
    return str(info.value)


def test_short_and_long_forms_mean_the_same():
    short = load("input_shape: [4]\nlayers:\n  - Dense: {units: 3, activation: relu}\n")
    long = load("input_shape: [4]\nlayers:\n  - type: Dense\n    units: 3\n    activation: relu\n")
    assert short.layers == long.layers


def test_json_and_yaml_mean_the_same():
    yaml_model = load("input_shape: [4]\nlayers:\n  - Dense: {units: 3}\n  - Flatten:\n")
    json_model = load(json.dumps({"input_shape": [4], "layers": [{"Dense": {"units": 3}},
                                                                  {"Flatten": None}]}), "m.json")
    assert yaml_model.layers == json_model.layers


def test_json_is_sniffed_on_stdin_and_may_use_tabs():
    model = load('{\n\t"input_shape": [4],\n\t"layers": [{"Dense": {"units": 3}}]}', "<stdin>")
    assert model.layers[0].units == 3
    # 1e1 is a float in JSON (and in YAML 1.2): units must be an integer
    assert "units=10.0" in error_of('{"layers": [{"Dense": {"units": 1e1}}]}', "<stdin>")


def where_of(text: str, marker: str) -> str:
    """'model.yaml:line:col' of the first `marker` in `text` (1-based)."""
    offset = text.index(marker)
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return f"model.yaml:{line}:{column}"


@pytest.mark.parametrize("text", [
    "input_shape: [4]\nlayers:\n  - Dense: {units: 2}\n",
    "layers:\n  - Input: {shape: [4]}\n  - Dense: {units: 2}\n",
    "layers:\n  - Dense: {units: 2, input_shape: [4]}\n",
    "input_shape: [4]\nlayers:\n  - Input: {shape: [4]}\n  - Dense: {units: 2, input_shape: [4]}\n",
])
def test_three_ways_to_give_the_input_shape(text):
    model = load(text)
    assert model.batch_input_shape == (None, 4)
    assert [type(layer).__name__ for layer in model.layers] == ["Dense"]


def test_input_batch_size_is_the_batch_dimension():
    model = load("layers:\n  - Input: {shape: [4], batch_size: 32}\n  - Dense: {units: 2}\n")
    assert model.batch_input_shape == (32, 4)


@pytest.mark.parametrize("text,marker", [
    ("input_shape: [4]\nlayers:\n  - Input: {shape: [5]}\n", "Input"),
    ("layers:\n  - Input: {shape: [4]}\n  - Dense: {units: 2, input_shape: [3]}\n", "[3]"),
])
def test_disagreeing_input_shapes_are_an_error(text, marker):
    message = error_of(text)
    assert message.startswith(where_of(text, marker) + ": ") and "disagrees" in message


def test_input_must_come_first_and_input_shape_only_on_the_first_layer():
    assert "must come first" in error_of("layers:\n  - Dense: {units: 2}\n  - Input: {shape: [4]}\n")
    assert "first layer only" in error_of(
        "layers:\n  - Dense: {units: 2}\n  - Dense: {units: 2, input_shape: [4]}\n")


def test_automatic_names_follow_keras():
    model = load("input_shape: [8, 8, 3]\nlayers:\n  - Conv2D: {filters: 2, kernel_size: 3}\n"
                 "  - Conv2D: {filters: 2, kernel_size: 3, name: mine}\n"
                 "  - Conv2D: {filters: 2, kernel_size: 3}\n  - MaxPool2D:\n"
                 "  - GlobalMaxPool2D:\n  - Dense: {units: 2}\n")
    assert [layer.name for layer in model.layers] == [
        "conv2d", "mine", "conv2d_1", "max_pooling2d", "global_max_pooling2d", "dense"]
    assert model.name == "sequential"


def test_snake_case_is_kerass():
    assert spec_module.snake_case("ReLU") == "re_lu"
    assert spec_module.snake_case("GlobalMaxPooling2D") == "global_max_pooling2d"
    assert spec_module.snake_case("Conv2D") == "conv2d"


def test_names_count_across_nested_models_and_must_be_unique():
    model = load("input_shape: [4]\nlayers:\n  - Dense: {units: 3}\n"
                 "  - Sequential: {layers: [{Dense: {units: 2}}]}\n  - Dense: {units: 1}\n")
    nested = model.layers[1]
    assert isinstance(nested, Sequential) and nested.name == "sequential_1"
    assert [model.layers[0].name, nested.layers[0].name, model.layers[2].name] == [
        "dense", "dense_1", "dense_2"]
    message = error_of("layers:\n  - Dense: {units: 3, name: a}\n  - Dense: {units: 2, name: a}\n")
    assert "used twice" in message and "model.yaml:2:5" in message


def test_nested_spec_file_with_frozen_base():
    model = spec_module.load(spec_path("guide_transfer.yaml")).model
    base = model.layers[0]
    assert base.name == "base" and not base.trainable
    assert [layer.name for layer in base.layers] == ["conv2d", "conv2d_1", "max_pooling2d",
                                                     "global_max_pooling2d"]
    assert model.batch_input_shape == (None, 64, 64, 3)  # the base's input shape


def test_nested_spec_cycle_and_missing_file(tmp_path):
    (tmp_path / "a.yaml").write_text("layers:\n  - Sequential: {spec: b.yaml}\n")
    (tmp_path / "b.yaml").write_text("layers:\n  - Sequential: {spec: a.yaml}\n")
    with pytest.raises(SeqcliError, match="includes itself"):
        spec_module.load(str(tmp_path / "a.yaml"))
    (tmp_path / "c.yaml").write_text("layers:\n  - Sequential: {spec: missing.yaml}\n")
    with pytest.raises(SeqcliError, match="cannot read the nested spec") as info:
        spec_module.load(str(tmp_path / "c.yaml"))
    assert str(info.value).startswith(f"{tmp_path / 'c.yaml'}:2:")


# (spec text, where the error must point: the first occurrence of this text, words it must say)
@pytest.mark.parametrize("text,marker,words", [
    ("layers:\n  - Dense: {units: 0}\n", "0}", "positive integer"),
    ("layers:\n  - Dense: {units: true}\n", "true", "units=True"),
    ("layers:\n  - Dense: {untis: 3}\n", "untis", "did you mean 'units'"),
    ("layers:\n  - Dense: {units: 3, activation: rleu}\n", "rleu", "did you mean 'relu'"),
    ("layers:\n  - Dense: {units: 3, use_bias: yes}\n", "yes", "true or false"),
    ("layers:\n  - Dens: {units: 3}\n", "Dens", "did you mean 'Dense'"),
    ("layers:\n  - Lambda: {function: x}\n", "Lambda", "never runs code"),
    ("layers:\n  - Conv2D: {filters: 2, kernel_size: 3, padding: smae}\n", "smae",
     "did you mean 'same'"),
    ("layers:\n  - Conv2D: {filters: 2, kernel_size: 3, strides: 2, dilation_rate: 2}\n",
     "2}", "dilation_rate > 1"),
    ("layers:\n  - Dropout: {rate: 1.5}\n", "1.5", "between 0 and 1. Received: rate=1.5"),
    ("layers:\n  - Dense: {units: 2, kernel_regularizer: l3}\n", "kernel_reg", "L1, L2"),
    ("layers:\n  - Dense: {units: 2, depthwise_regularizer: l2}\n", "depthwise_reg",
     "it takes: units, activation, use_bias, kernel_initializer, bias_initializer, name, "
     "trainable, dtype, kernel_regularizer, kernel_constraint, bias_regularizer"),
    ("layers:\n  - Dense: {units: 2, lora_rank: 4}\n", "lora_rank", "not support"),
    ("input_shape: [4]\nlayers:\n  - Conv2D: {filters: 2, kernel_size: 3}\n", "Conv2D",
     "expected ndim=4"),
    ("input_shape: [2, 2, 3]\nlayers:\n  - MaxPooling2D: {pool_size: 3}\n", "MaxPooling2D",
     "zero or negative"),
    ("input_shape: [3, 4]\nlayers:\n  - Dropout: {rate: 0.5, noise_shape: [null, 1]}\n",
     "Dropout", "noise_shape=(None, 1) does not fit"),
    ("layers: {Dense: 3}\n", "{", "must be a list"),
    ("lyers: []\n", "lyers", "did you mean 'layers'"),
    ("- Dense\n", "-", "a spec is a mapping"),
    ("name: x\n", "name", "missing `layers:`"),
    ("layers:\n  - Dense: {units: 2]\n", "]", "invalid YAML: did not find expected ','"),
    ("layers:\n  - Dense: [2]\n", "[2]", "must be a mapping"),
    ("layers:\n  - Dense: {units: 2}\n    Flatten: {}\n", "Dense", "one key"),
    ("layers:\n  - Dense: {units: 012}\n", "012", "leading zero"),
    ("layers:\n  - Dense: !!python/object/apply:os.system [echo]\n", "!!", "not allowed"),
    ("a: &a [*a]\nlayers: []\n", "&a", "cycle"),
    ("layers: []\nlayers: []\n", "layers: []\nl", "duplicate key"),
])
def test_errors_name_the_place_and_the_fix(text, marker, words):
    message = error_of(text)
    where = where_of(text, marker)
    if marker == "layers: []\nl":
        where = "model.yaml:2:1"
    assert message.startswith(where + ": "), message
    assert words in message
    assert "\n" not in message


def test_layer_errors_name_the_layer_and_argument():
    message = error_of("layers:\n  - Dense: {units: 3}\n  - Dense: {units: -1, name: head}\n")
    assert "layers[1] (Dense 'head'), argument `units`" in message


def test_unbuilt_model_says_what_keras_says():
    model = spec_module.load(spec_path("guide_unbuilt.yaml")).model
    assert not model.built
    with pytest.raises(SeqcliError, match="This model has not yet been built"):
        model.batch_input_shape


def test_empty_and_binary_files(tmp_path):
    (tmp_path / "empty.yaml").write_text("")
    with pytest.raises(SeqcliError, match="empty"):
        spec_module.load(str(tmp_path / "empty.yaml"))
    (tmp_path / "junk.yaml").write_bytes(b"\x00\xff\xfe")
    with pytest.raises(SeqcliError, match="not UTF-8|binary"):
        spec_module.load(str(tmp_path / "junk.yaml"))


def test_a_nested_models_input_shape():
    first = load("layers:\n  - Sequential: {name: b, input_shape: [4], layers: [{Dense: {units: 2}}]}\n"
                 "  - Dense: {units: 1}\n")
    assert first.batch_input_shape == (None, 4)  # the first layer's shape is the model's
    text = ("input_shape: [4]\nlayers:\n  - Dense: {units: 3}\n"
            "  - Sequential: {name: inner, input_shape: [5], layers: [{Dense: {units: 2}}]}\n")
    message = error_of(text)
    assert message.startswith(where_of(text, "Sequential") + ": ")
    assert 'model "inner" is incompatible' in message and "found shape=(None, 3)" in message
