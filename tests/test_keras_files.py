"""Files Keras saved (Keras 3 and tf-keras 2, by tests/fixtures/make_keras_files.py), read
by seqcli: the same layers, shapes, parameter counts and outputs as Keras's."""

import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from seqcli import runner, training
from seqcli import spec as spec_module
from seqcli import weights as weights_module
from seqcli.engines.numpy_engine import NumpyEngine
from tests.conftest import FIXTURES, ROOT

FILES = os.path.join(FIXTURES, "keras_files")
MODELS = sorted(os.path.basename(p)[:-4] for p in glob.glob(os.path.join(FILES, "*.npz")))
# (model file, weights file or None for the model's own, which Keras's output to match)
FORMATS = [(".keras", None, "y"), (".json", ".weights.h5", "y"), (".h5", None, "y"),
           (".json", ".h5", "y"), (".k2.h5", None, "y2"), (".json", ".k2.weights.h5", "y2"),
           (".json", ".k2-legacy.h5", "y2")]


def predict(model_file, weights_file, x):
    """(the weights, the outputs) of a model file with its own weights or a weights file."""
    loaded = spec_module.load(model_file)
    model = runner.build_for(loaded.model, x)
    weights, _ = weights_module.load(model, weights_file, embedded=loaded.weights)
    return weights, runner.predict(NumpyEngine(model, weights), x)


def test_the_fixtures_cover_the_real_world_models():
    assert {"mnist_convnet", "bilstm_text", "batchnorm_cnn", "frozen_base_head"} <= set(MODELS)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("model_ext,weights_ext,expected", FORMATS,
                         ids=[f"{m}+{w}" for m, w, _ in FORMATS])
def test_keras_files_give_kerass_outputs(name, model_ext, weights_ext, expected):
    data = np.load(os.path.join(FILES, name + ".npz"))
    weights_file = os.path.join(FILES, name + weights_ext) if weights_ext else None
    _, y = predict(os.path.join(FILES, name + model_ext), weights_file, data["x"])
    np.testing.assert_allclose(y, data[expected], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("model_ext", [".keras", ".json", ".h5", ".k2.h5"])
def test_keras_files_give_kerass_layers(name, model_ext):
    assert_kerass_layers(FILES, name, model_ext)


def assert_kerass_layers(folder, name, model_ext):
    """The summary rows (class, output shape, params) of a Keras-saved model are Keras's."""
    from seqcli.summary import summarize

    data = np.load(os.path.join(folder, name + ".npz"))
    model = spec_module.load(os.path.join(folder, name + model_ext)).model
    rows = [[row.class_name, list(row.output_shape[1:]), row.params]
            for row in summarize(model).rows]
    assert rows == json.loads(str(data["summary"]))


def test_a_frozen_nested_base_stays_frozen_and_nested():
    model = spec_module.load(os.path.join(FILES, "frozen_base_head.keras")).model
    base = model.layers[0]
    assert type(base).__name__ == "Sequential" and base.name == "base"
    assert not base.trainable and not any(layer.trainable for layer in base.layers)
    assert all(layer.trainable for layer in model.layers[1:])


def test_compile_settings_come_with_the_model():
    for ext in (".keras", ".json"):
        loaded = spec_module.load(os.path.join(FILES, "compiled_regularized" + ext))
        assert loaded.compile["loss"] == {"sparse_categorical_crossentropy": {"from_logits": True}}
        assert loaded.compile["metrics"] == ["accuracy"]
        if ext == ".json":
            assert "optimizer" not in loaded.compile  # to_json() leaves it out
            continue
        (optimizer, args), = loaded.compile["optimizer"].items()
        assert optimizer == "adam" and args["clipnorm"] == 1.0
        assert args["learning_rate"] == {"ExponentialDecay": {
            "initial_learning_rate": 0.01, "decay_steps": 100, "decay_rate": 0.5,
            "staircase": False}}
        assert training.compile_settings(loaded.compile).optimizer[0] == "adam"
    for ext in (".keras", ".json"):
        dense = spec_module.load(os.path.join(FILES, "compiled_regularized" + ext)).model.layers[0]
        assert dense.rule("kernel_regularizer") == {"L2": {"l2": 0.01}}
        assert dense.rule("kernel_constraint") == {"MaxNorm": {"max_value": 2.0, "axis": 0}}


def test_the_cli_runs_a_keras_archive_with_its_own_weights(cli, tmp_path):
    data = np.load(os.path.join(FILES, "bilstm_text.npz"))
    np.save(tmp_path / "x.npy", data["x"])
    result = cli("run", os.path.join(FILES, "bilstm_text.keras"), "--input", tmp_path / "x.npy",
                 "-o", tmp_path / "y.npy")
    assert result.exit_code == 0, result.stderr
    assert "fresh weights" not in result.stderr
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), data["y"], rtol=1e-5, atol=1e-6)
    listed = cli("weights", os.path.join(FILES, "bilstm_text.keras"), "--format", "json")
    assert [row["key"] for row in json.loads(listed.stdout)][:2] == [
        "embedding/embeddings", "bidirectional/forward/kernel"]


def test_summary_of_a_keras_archive_imports_neither_numpy_nor_h5py():
    code = ("import sys; from seqcli.cli import main; sys.argv = ['seqcli', 'summary', "
            f"{os.path.join(FILES, 'mnist_convnet.keras')!r}]\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('numpy', 'h5py') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT)
    assert result.stdout.strip().endswith("[]"), result.stdout + result.stderr
    assert "mnist_convnet (Sequential)" not in result.stdout
    assert 'Model: "mnist_convnet"' in result.stdout


WRITTEN = os.path.join(FILES, "seqcli_written")


@pytest.mark.parametrize("name", MODELS)
def test_keras_loads_what_seqcli_wrote(name):
    """The fixture script had Keras 3 load seqcli's .keras (safe_mode on) and its
    .weights.h5 (into Keras's own model): Keras predicted what seqcli predicts."""
    written = np.load(os.path.join(WRITTEN, name + ".npz"))
    original = np.load(os.path.join(FILES, name + ".npz"))
    np.testing.assert_allclose(written["y"], original["y"], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(written["y_weights"], original["y"], rtol=1e-6, atol=1e-7)
    _, y = predict(os.path.join(WRITTEN, name + ".keras"), None, written["x"])
    np.testing.assert_allclose(y, written["y"], rtol=1e-5, atol=1e-6)


def test_keras_kept_the_frozen_base_frozen():
    written = np.load(os.path.join(WRITTEN, "frozen_base_head.npz"))
    assert written["trainable"].tolist() == [0, 0, 2]  # base, pooling, head


@pytest.mark.parametrize("source", ["bilstm_text.keras", "frozen_base_head.keras",
                                    "compiled_regularized.keras"])
def test_round_trips_are_lossless(cli, tmp_path, source):
    original = spec_module.load(os.path.join(FILES, source))
    assert cli("convert", os.path.join(FILES, source), "-o", tmp_path / "m.yaml",
               "--weights-out", tmp_path / "w.npz").exit_code == 0
    assert cli("convert", tmp_path / "m.yaml", "--weights", tmp_path / "w.npz",
               "-o", tmp_path / "again.keras").exit_code == 0
    assert cli("convert", tmp_path / "again.keras", "-o", tmp_path / "again.yaml").exit_code == 0
    spec_text, again_text = (tmp_path / "m.yaml").read_text(), \
        (tmp_path / "again.yaml").read_text()
    assert spec_text == again_text  # spec -> .keras -> spec: the same spec
    again = spec_module.load(str(tmp_path / "again.keras"))
    assert again.model == original.model and again.compile == spec_module.load(
        str(tmp_path / "m.yaml")).compile
    first = original.weights(original.model)
    for key, value in again.weights(again.model).items():
        assert np.array_equal(value, first[key]) and value.dtype == first[key].dtype, key


def test_convert_refuses_an_unknown_format_and_writes_nothing(cli, tmp_path):
    from tests.test_cli import assert_clean_error

    assert_clean_error(cli("convert", os.path.join(FILES, "mnist_convnet.keras"), "-o",
                           tmp_path / "m.pb"), 1, "m.pb", ".keras")
    assert os.listdir(tmp_path) == []


def test_a_keras_archive_gives_its_weights_to_another_model(cli, tmp_path):
    data = np.load(os.path.join(FILES, "mnist_convnet.npz"))
    _, y = predict(os.path.join(FILES, "mnist_convnet.json"),
                   os.path.join(FILES, "mnist_convnet.keras"), data["x"])
    np.testing.assert_allclose(y, data["y"], rtol=1e-5, atol=1e-6)
