"""`seqcli convert`: specs, .keras, .weights.h5 and .npz out of anything seqcli reads.

tests/fixtures/kerasfiles/seqcli_written/ holds .keras files seqcli wrote (Keras's
file -> a seqcli spec -> .keras) that real Keras 3 then loaded with safe_mode on,
recording its predictions, weights and trainable flags (make_kerasfiles.py written).
These tests check that seqcli still writes exactly those bytes, and that what Keras
read back is what seqcli meant."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from seqcli import convert, keras_writer
from seqcli import spec as sources  # spec.load reads Keras files too
from seqcli import spec as spec_module
from seqcli import weights as weights_module
from tests.conftest import SPECS
from tests.test_keras_files import KERAS, fixture, predict

WRITTEN = os.path.join(KERAS, "seqcli_written")
CASES = sorted(f[:-6] for f in os.listdir(WRITTEN) if f.endswith(".keras"))


def respec(name):
    """Keras's file read by seqcli, written as a spec and read back, with its weights."""
    loaded = sources.load(os.path.join(KERAS, f"{name}.keras"))
    weights, _ = weights_module.load(loaded.model, None)
    text = json.dumps(convert.spec_data(loaded.model, loaded.compile))
    return spec_module.load_text(text, f"{name}.json"), weights


@pytest.mark.parametrize("name", CASES)
def test_seqcli_writes_the_bytes_keras_loaded(name, tmp_path):
    spec, weights = respec(name)
    keras_writer.write_keras(str(tmp_path / "m.keras"), spec.model, weights, spec.compile)
    with open(os.path.join(WRITTEN, f"{name}.keras"), "rb") as handle:
        assert (tmp_path / "m.keras").read_bytes() == handle.read()


@pytest.mark.parametrize("name", CASES)
def test_keras_predicts_what_seqcli_predicts_from_seqcli_files(name):
    spec, weights = respec(name)
    loaded_by_keras = np.load(os.path.join(WRITTEN, f"{name}.npz"))
    ours = predict(spec.model, weights, fixture(name)["x"])
    np.testing.assert_allclose(loaded_by_keras["y"], ours, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(loaded_by_keras["y"], fixture(name)["y"], atol=1e-5, rtol=1e-5)
    keras_weights = {k[2:]: loaded_by_keras[k] for k in loaded_by_keras.files
                     if k.startswith("w:")}
    assert set(keras_weights) == set(weights)
    for key, value in weights.items():
        assert np.array_equal(keras_weights[key], value), key  # bit-identical in Keras
    assert json.loads(str(loaded_by_keras["rows"])) == json.loads(str(fixture(name)["rows"]))


@pytest.mark.parametrize("name", CASES)
def test_keras_keeps_seqcli_frozen_weights_frozen(name):
    """As many trainable variables in Keras as seqcli has trainable weights. (Keras's
    Sequential.from_config does not restore a nested model's own `trainable` flag,
    for its own files too; its layers, and so its weights, stay frozen.)"""
    spec, _ = respec(name)
    recorded = np.load(os.path.join(WRITTEN, f"{name}.npz"))
    trainable = [s for s in weights_module.specs_of(spec.model) if s.trainable]
    assert int(recorded["variables_trainable"].sum()) == len(trainable)


def test_keras_keeps_nesting_nested_and_frozen_layers_frozen():
    nested = np.load(os.path.join(WRITTEN, "frozen_nested.npz"))
    assert json.loads(str(nested["rows"]))[0][:2] == ["base", "Sequential"]
    assert nested["variables_trainable"].sum() == 4  # the head's two Dense layers only
    head = np.load(os.path.join(WRITTEN, "sequence_wrappers.npz"))["trainable"]
    assert head.tolist()[-1] is False  # a frozen layer at the top level


@pytest.mark.parametrize("name", CASES)
def test_weights_h5_is_the_archive_member_keras_loaded(name, tmp_path):
    import zipfile

    spec, weights = respec(name)
    keras_writer.write_weights(str(tmp_path / "w.weights.h5"), spec.model, weights)
    with zipfile.ZipFile(os.path.join(WRITTEN, f"{name}.keras")) as archive:
        assert (tmp_path / "w.weights.h5").read_bytes() == archive.read("model.weights.h5")
    back, _ = weights_module.load(spec.model, str(tmp_path / "w.weights.h5"))
    assert all(np.array_equal(back[k], v) for k, v in weights.items())


SPEC_FILES = sorted(f for f in os.listdir(SPECS) if f.endswith(".yaml")
                    and f not in ("guide_unbuilt.yaml",))


@pytest.mark.parametrize("file", SPEC_FILES)
def test_spec_to_keras_to_spec_is_lossless(file, tmp_path, cli):
    """spec -> .keras -> spec: the same model; the weights come back bit-identical."""
    source = os.path.join(SPECS, file)
    assert cli("init", source, "-o", tmp_path / "w.npz").exit_code == 0
    result = cli("convert", source, "--weights", tmp_path / "w.npz", "-o", tmp_path / "m.keras")
    assert result.exit_code == 0, result.stderr
    result = cli("convert", tmp_path / "m.keras", "-o", tmp_path / "back.yaml",
                 "--weights-out", tmp_path / "back.npz")
    assert result.exit_code == 0, result.stderr
    original = spec_module.load(source)
    back = spec_module.load(str(tmp_path / "back.yaml"))
    assert _config(back.model) == _config(original.model)
    assert back.compile == (convert._compile(original.compile) if original.compile else None)
    before, after = np.load(tmp_path / "w.npz"), np.load(tmp_path / "back.npz")
    assert sorted(before.files) == sorted(after.files)
    assert all(np.array_equal(before[k], after[k]) for k in before.files)


def _config(model):
    config = model.config()
    config.pop("weights", None)
    return config


def test_a_written_spec_is_readable(tmp_path, cli):
    result = cli("convert", os.path.join(KERAS, "bn_cnn.keras"), "-o", tmp_path / "m.yaml")
    assert result.exit_code == 0, result.stderr
    text = (tmp_path / "m.yaml").read_text()
    # Keras's resolved defaults and automatic names are left out
    for noise in ("channels_last", "linear", "glorot_uniform", "name: conv2d", "dtype"):
        assert noise not in text
    assert "momentum: 0.9" in text


def test_convert_refuses_an_unknown_extension_and_writes_nothing(tmp_path, cli):
    result = cli("convert", os.path.join(SPECS, "guide_mlp.yaml"), "-o", tmp_path / "m.pt")
    assert result.exit_code == 1
    assert "cannot tell the format from the extension" in result.stderr
    assert os.listdir(tmp_path) == []


def test_convert_weights_out_goes_with_a_spec_target(tmp_path, cli):
    result = cli("convert", os.path.join(SPECS, "guide_mlp.yaml"), "-o", tmp_path / "m.keras",
                 "--weights-out", tmp_path / "w.npz")
    assert result.exit_code == 2 and os.listdir(tmp_path) == []


def test_convert_keeps_the_old_file_when_the_weights_do_not_fit(tmp_path, cli):
    target = tmp_path / "m.keras"
    target.write_bytes(b"old")
    result = cli("convert", os.path.join(KERAS, "bn_cnn.json"), "--weights",
                 os.path.join(KERAS, "mnist_convnet.weights.h5"), "-o", target)
    assert result.exit_code == 1 and target.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["m.keras"]


def test_convert_to_npz_gives_the_keras_file_weights(tmp_path, cli):
    result = cli("convert", os.path.join(KERAS, "bilstm_text.h5"), "-o", tmp_path / "w.npz")
    assert result.exit_code == 0, result.stderr
    saved, data = np.load(tmp_path / "w.npz"), fixture("bilstm_text")
    assert all(np.array_equal(saved[k[2:]], data[k]) for k in data.files if k.startswith("w:"))
