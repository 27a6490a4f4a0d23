"""`seqcli diff`: layers matched by name then position; changes, totals, exit 0 or 3."""

import json

import pytest

from seqcli import model_diff, spec, summary
from seqcli.errors import Status
from tests.conftest import spec_path

KERAS = "tests/fixtures/keras_files"
CNN = [{"Conv2D": {"filters": 8, "kernel_size": 3, "name": "conv"}},
       {"MaxPooling2D": {"pool_size": 2}},
       {"Flatten": {}},
       {"Dense": {"units": 10, "name": "head"}}]


def write(tmp_path, name, layers, input_shape=(28, 28, 1)):
    path = tmp_path / name
    path.write_text(json.dumps({"name": name, "input_shape": list(input_shape),
                                "layers": layers}))
    return str(path)


def with_args(layers, index, **changes):
    (class_name, args), = layers[index].items()
    edited = [dict(layer) for layer in layers]
    edited[index] = {class_name: {**args, **changes}}
    return edited


def test_same_models_exit_0(cli, tmp_path):
    a, b = write(tmp_path, "a.json", CNN), write(tmp_path, "b.json", CNN)
    result = cli("diff", a, b)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[-3:] == [
        "Total params: 13,610 (unchanged)", "MACs: 62,192 (unchanged)", "same"]
    data = json.loads(cli("diff", a, b, "--format", "json").stdout)
    assert data == {"same": True, "layers": [],
                    "totals": {"params": [13610, 13610], "macs": [62192, 62192]}}
    # conv: output positions * kernel * in_channels * filters; head: inputs * units
    assert 62192 == 26 * 26 * 3 * 3 * 1 * 8 + 13 * 13 * 8 * 10


def test_a_changed_argument_its_shapes_and_parameter_counts(cli, tmp_path):
    a = write(tmp_path, "a.json", CNN)
    b = write(tmp_path, "b.json", with_args(CNN, 0, filters=4, kernel_size=5))
    result = cli("diff", a, b, "--format", "json")
    assert result.exit_code == Status.CHECK == 3
    data = json.loads(result.stdout)
    changes = {change["name"]: change for change in data["layers"]}
    conv, head = changes["conv"], changes["head"]
    assert changes["flatten"]["output_shape"] == [[None, 1352], [None, 576]]
    assert conv["status"] == "changed" and conv["name"] == "conv"
    assert conv["arguments"] == {"filters": [8, 4], "kernel_size": [[3, 3], [5, 5]]}
    assert conv["output_shape"] == [[None, 26, 26, 8], [None, 24, 24, 4]]
    assert conv["params"] == [3 * 3 * 8 + 8, 5 * 5 * 4 + 4]
    # the head's input shrank: 13 * 13 * 8 -> 12 * 12 * 4 features
    assert head["name"] == "head" and "arguments" not in head
    assert head["params"] == [13 * 13 * 8 * 10 + 10, 12 * 12 * 4 * 10 + 10]
    totals = data["totals"]["params"]
    assert totals == [80 + 13530, 104 + 5770]
    text = cli("diff", a, b).stdout
    assert "~ conv (Conv2D)\n    filters: 8 -> 4\n    kernel_size: [3, 3] -> [5, 5]\n" in text
    assert "    params: 80 -> 104 (+24)\n" in text and text.endswith("differ\n")


def test_added_removed_and_renamed_by_position(tmp_path):
    old = summary.summarize(spec.load(write(tmp_path, "a.json", CNN)).model)
    layers = [CNN[0], {"Dropout": {"rate": 0.5, "name": "drop"}}, CNN[1],
              {"Flatten": {"name": "flat"}}, {"Dense": {"units": 10, "name": "head"}}]
    new = summary.summarize(spec.load(write(tmp_path, "b.json", layers)).model)
    report = model_diff.compare(old, new)
    assert report["same"] is False
    assert [(c["status"], c["name"]) for c in report["layers"]] == [
        ("added", "drop"), ("changed", "flat")]
    assert report["layers"][1]["renamed"] == ["flatten", "flat"]


def test_a_different_class_is_removed_and_added(tmp_path):
    old = summary.summarize(spec.load(write(tmp_path, "a.json", CNN)).model)
    layers = [*CNN[:1], {"AveragePooling2D": {"pool_size": 2}}, *CNN[2:]]
    new = summary.summarize(spec.load(write(tmp_path, "b.json", layers)).model)
    changes = model_diff.compare(old, new)["layers"]
    assert [(c["status"], c["class_name"]) for c in changes] == [
        ("removed", "MaxPooling2D"), ("added", "AveragePooling2D")]


def test_keras_files_same_and_different(cli):
    same = cli("diff", f"{KERAS}/batchnorm_cnn.keras", f"{KERAS}/batchnorm_cnn.h5")
    assert same.exit_code == 0 and same.stdout.endswith("same\n")
    result = cli("diff", f"{KERAS}/batchnorm_cnn.keras", f"{KERAS}/mnist_convnet.keras",
                 "--format", "json")
    assert result.exit_code == 3
    data = json.loads(result.stdout)
    assert data["input_shape"] == [[None, 10, 10, 3], [None, 12, 12, 1]]
    changed = {c["name"]: c for c in data["layers"]}
    assert changed["conv2d"]["arguments"] == {"use_bias": [False, True],
                                              "activation": [None, "relu"]}
    assert changed["conv2d"]["params"] == [3 * 3 * 3 * 4, 3 * 3 * 1 * 4 + 4]
    assert changed["dense"]["arguments"] == {"units": [3, 10]}
    assert changed["batch_normalization"]["status"] == "removed"
    assert changed["conv2d_1"]["status"] == "added"
    assert data["totals"]["params"] == [203, 812]


def test_nested_models_are_compared_inside(cli, tmp_path):
    frozen = cli("diff", spec_path("guide_transfer.yaml"), spec_path("guide_transfer.yaml"))
    assert frozen.exit_code == 0
    base = [{"Sequential": {"name": "base", "layers": CNN[:2]}}, CNN[3]]
    wider = [{"Sequential": {"name": "base", "layers": with_args(CNN[:2], 0, filters=4)}},
             CNN[3]]
    result = cli("diff", write(tmp_path, "a.json", base), write(tmp_path, "b.json", wider),
                 "--format", "json")
    assert result.exit_code == 3
    outer = json.loads(result.stdout)["layers"][0]
    assert outer["name"] == "base" and outer["params"] == [80, 40]
    assert outer["layers"][0]["name"] == "conv"
    assert outer["layers"][0]["arguments"] == {"filters": [8, 4]}


def test_unreadable_source_is_a_clean_error(cli, tmp_path):
    result = cli("diff", write(tmp_path, "a.json", CNN), str(tmp_path / "missing.json"))
    assert result.exit_code == 1 and "missing.json" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("name", ["guide_cnn.yaml", "text_classifier.yaml"])
def test_every_spec_equals_itself(cli, name):
    assert cli("diff", spec_path(name), spec_path(name)).exit_code == 0
