"""freeze / unfreeze / new / add / pop: surgical, checked, atomic edits."""

import json
import os
import stat

import pytest

from seqcli import files
from tests.conftest import GOLDEN, spec_path

COMMENTED = """\
# my model  (comments, key order and layout must survive)
name: m
input_shape: [8]
layers:   # the stack
  - Dense:
      units: 4   # hidden
      activation: relu
  # a comment between layers
  - type: Dense
    units: 3
  - Dropout: {rate: 0.5}
  - Flatten:
  - Dense: {units: 2}  # head
"""


@pytest.fixture
def model_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "model.yaml"
    path.write_text(COMMENTED)
    os.chmod(path, 0o640)
    return path


def test_freeze_except_last_touches_only_what_it_must(cli, model_file):
    result = cli("freeze", "model.yaml", "--except-last")
    assert result.exit_code == 0
    assert result.stdout == COMMENTED.replace(
        "      activation: relu\n", "      activation: relu\n      trainable: false\n").replace(
        "    units: 3\n", "    units: 3\n    trainable: false\n").replace(
        "{rate: 0.5}", "{rate: 0.5, trainable: false}").replace(
        "  - Flatten:\n", "  - Flatten: {trainable: false}\n")
    assert result.stderr == ("seqcli: 59 trainable, 0 non-trainable params -> "
                             "8 trainable, 51 non-trainable params\n")
    assert model_file.read_text() == COMMENTED  # a filter never touches the file


def test_freeze_in_place_keeps_mode_and_unfreeze_restores(cli, model_file):
    assert cli("freeze", "model.yaml", "--all", "-i").exit_code == 0
    frozen = model_file.read_text()
    assert frozen.count("trainable: false") == 5 and "# hidden" in frozen
    assert stat.S_IMODE(os.stat(model_file).st_mode) == 0o640
    summary = cli("summary", "model.yaml", "--format", "json").stdout
    assert json.loads(summary)["trainable_params"] == 0
    assert cli("unfreeze", "model.yaml", "--layers", "dense_1", "-i").exit_code == 0
    layers = json.loads(cli("summary", "model.yaml", "--format", "json").stdout)["layers"]
    assert [row["trainable"] for row in layers] == [False, True, False, False, False]
    assert os.listdir(".") == ["model.yaml"]  # no temporary file left behind


def test_freeze_until_and_errors(cli, model_file):
    result = cli("freeze", "model.yaml", "--until", "dropout")
    assert result.stdout.count("trainable: false") == 3
    bad = cli("freeze", "model.yaml", "--layers", "dens")
    assert bad.exit_code == 1 and "did you mean 'dense'" in bad.stderr
    assert cli("freeze", "model.yaml").exit_code == 2
    assert cli("freeze", "model.yaml", "--all", "--except-last").exit_code == 2


def test_freeze_in_a_pipe_leaves_only_the_last_layer_trainable(cli):
    with open(spec_path("guide_mlp.yaml"), encoding="utf-8") as handle:
        result = cli("freeze", "--except-last", input=handle.read())
    frozen = cli("summary", "-", "--show-trainable", "--format", "json", input=result.stdout)
    rows = json.loads(frozen.stdout)["layers"]
    assert [row["trainable"] for row in rows] == [False, False, False, True]
    assert json.loads(frozen.stdout)["trainable_params"] == 330
    text = cli("summary", "-", "--show-trainable", input=result.stdout).stdout
    with open(os.path.join(GOLDEN, "keras2", "frozen_mlp.txt"), encoding="utf-8") as handle:
        assert text == handle.read()


def test_json_specs_are_edited_as_json(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli("new", "--json", "--input-shape", "4", "-o", "m.json").exit_code == 0
    assert cli("add", "m.json", "Dense(3)", "-i").exit_code == 0
    assert cli("add", "m.json", "Dense(2, use_bias=False)", "-i").exit_code == 0
    assert cli("freeze", "m.json", "--except-last", "-i").exit_code == 0
    data = json.loads((tmp_path / "m.json").read_text())
    assert data["layers"] == [{"Dense": {"units": 3, "trainable": False}},
                              {"Dense": {"units": 2, "use_bias": False}}]
    assert cli("pop", "m.json", "-i").exit_code == 0
    assert json.loads((tmp_path / "m.json").read_text())["layers"] == [
        {"Dense": {"units": 3, "trainable": False}}]


def test_a_yaml_spec_written_to_a_json_name_is_json(cli, model_file):
    """`-o out.json` gets JSON, which seqcli (and any JSON reader) reads back; it once
    got the YAML text, which `seqcli summary out.json` refused as invalid JSON."""
    for args in (["freeze", "model.yaml", "--all"], ["add", "model.yaml", "Dense(4)"],
                 ["pop", "model.yaml"], ["new", "--input-shape", "4"]):
        result = cli(*args, "-o", "out.json")
        assert result.exit_code == 0, result.stderr
        data = json.loads(open("out.json", encoding="utf-8").read())
        assert cli("summary", "out.json").exit_code == 0
        assert isinstance(data["layers"], list)
    assert data == {"name": "sequential", "input_shape": [4], "layers": []}
    import yaml

    as_yaml = yaml.safe_load(cli("freeze", "model.yaml", "--all").stdout)
    assert cli("freeze", "model.yaml", "--all", "-o", "out.json").exit_code == 0
    assert json.loads(open("out.json", encoding="utf-8").read()) == as_yaml


def read(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def test_the_guides_debugging_session(cli, tmp_path, monkeypatch):
    """new/add/pop with -i print the same summaries as the guide's session."""
    monkeypatch.chdir(tmp_path)
    cli("new", "--name", "sequential_8", "--input-shape", "250,250,3", "-o", "model.yaml")
    add = lambda call: cli("add", "model.yaml", "-i", call)  # noqa: E731
    add('layers.Conv2D(32, 5, strides=2, activation="relu")')
    add('layers.Conv2D(32, 3, activation="relu")')
    step1 = add("layers.MaxPooling2D(3)")
    assert step1.stdout == read(os.path.join(GOLDEN, "keras2", "guide_cnn_step1.txt"))
    for call in ['layers.Conv2D(32, 3, activation="relu")'] * 2 + ["layers.MaxPooling2D(3)"] \
            + ['layers.Conv2D(32, 3, activation="relu")'] * 2:
        add(call)
    step2 = add("layers.MaxPooling2D(2)")
    assert step2.stdout == read(os.path.join(GOLDEN, "keras2", "guide_cnn_step2.txt"))
    add("layers.GlobalMaxPool2D()")
    final = add('layers.Dense(10, name="dense_13")')
    assert final.stdout == read(os.path.join(GOLDEN, "keras2", "guide_cnn.txt"))
    popped = cli("pop", "model.yaml", "-i")
    assert popped.exit_code == 0 and "dense_13" not in popped.stdout
    assert "global_max_pooling2d" in popped.stdout


def test_pop_down_to_empty_and_past_it(cli):
    text = "name: m\ninput_shape: [4]\nlayers:   # keep me\n  - Dense: {units: 2}\n"
    once = cli("pop", input=text)
    assert once.exit_code == 0 and once.stdout == "name: m\ninput_shape: [4]\nlayers: [] # keep me\n"
    again = cli("pop", input=once.stdout)
    assert again.exit_code == 1 and "no layers" in again.stderr
    back = cli("add", "Dense(5)", input=once.stdout)
    assert "  - Dense: {units: 5}" in back.stdout


@pytest.mark.parametrize("call,words", [
    ("Dense(units=__import__('os').system('echo hacked'))", "must be a literal"),
    ("Dense(2, foo=3)", "no argument `foo`"),
    ("Dens(2)", "did you mean 'Dense'"),
    ("Dense(*[2])", "*args"),
    ("Dense(**{'units': 2})", "**kwargs"),
    ("Dense(2", "not a Python call"),
    ("open('x')", "unknown layer class 'open'"),
    ("Dense(1, 2, 3, 4, 5, 6)", "at most 5 positional"),
    ("TimeDistributed(Dense(units=len('abc')))", "must be a literal"),
    ("Bidirectional(open('x'))", "unknown layer class 'open'"),
])
def test_add_refuses_bad_calls_and_never_runs_code(cli, model_file, call, words):
    result = cli("add", "model.yaml", "-i", call)
    assert result.exit_code == 1 and words in result.stderr, result.stderr
    assert result.stderr.startswith("seqcli: error: ") and "Traceback" not in result.stderr
    assert model_file.read_text() == COMMENTED


def test_an_invalid_result_leaves_the_file_unchanged(cli, model_file):
    result = cli("add", "model.yaml", "-i", "Conv2D(4, 3)")  # rank-2 input: invalid
    assert result.exit_code == 1 and "expected ndim=4" in result.stderr
    assert model_file.read_text() == COMMENTED


def test_a_failed_write_leaves_the_old_file_and_no_temporary(cli, model_file, monkeypatch):
    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "replace", broken_replace)
    result = cli("freeze", "model.yaml", "--all", "-i")
    assert result.exit_code == 1 and "No space left on device" in result.stderr
    assert model_file.read_text() == COMMENTED
    assert os.listdir(".") == ["model.yaml"]


def test_in_place_writes_through_a_symlink(cli, model_file, tmp_path):
    os.symlink("model.yaml", "link.yaml")
    assert cli("freeze", "link.yaml", "--all", "-i").exit_code == 0
    assert os.path.islink("link.yaml")
    assert "trainable: false" in model_file.read_text()


def test_new_starts_a_valid_spec(cli):
    result = cli("new", "--name", "my model", "--input-shape", "None,3")
    assert result.stdout == "name: my model\ninput_shape: [null, 3]\nlayers: []\n"
