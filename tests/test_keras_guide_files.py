"""Every spec in specs/ (the guide's models and the real-world ones) as Keras saves it
(tests/fixtures/keras_guide_files, by make_keras_guide_files.py): seqcli reads the same
layers, shapes and counts as Keras from `to_json()`, and as it reads from the spec
itself; the small ones also from `.keras`, `.weights.h5` and legacy `.h5` (Keras 3 and
tf-keras 2), with Keras's weights and outputs. No Keras needed."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

from seqcli import runner
from seqcli import spec as spec_module
from seqcli import weights as weights_module
from seqcli.engines.numpy_engine import NumpyEngine
from tests.test_keras_files import predict
from tests.conftest import FIXTURES, ROOT, SPECS

FILES = os.path.join(FIXTURES, "keras_guide_files")
ALL = sorted(f[:-4] for f in os.listdir(FILES)
             if f.endswith(".npz") and not f.endswith(("_k2.npz", "_written.npz")))
WRITTEN = sorted(f[:-len("_written.npz")] for f in os.listdir(FILES)
                 if f.endswith("_written.npz"))
FULL = [name for name in ALL if os.path.exists(os.path.join(FILES, f"{name}.keras"))]
SPEC_CASES = [name for name in ALL if os.path.exists(os.path.join(SPECS, f"{name}.yaml"))]


def path(name, suffix):
    return os.path.join(FILES, name + suffix)


def keras_rows(name):
    return json.loads(str(np.load(path(name, ".npz"))["rows"]))


def rows_of(model):
    return [[step.layer.name, type(step.layer).__name__, list(step.output_shape[1:]),
             sum(spec.size for spec in step.weights)] for step in model.plan.steps]


def test_every_spec_is_covered():
    specs = sorted(f[:-5] for f in os.listdir(SPECS) if f.endswith(".yaml"))
    assert set(specs) - set(SPEC_CASES) == {"guide_unbuilt"}  # unbuilt: Keras cannot save it
    assert {"guide_layers", "guide_input", "autoencoder", "nested_batchnorm"} <= set(FULL)


def test_a_nested_models_batchnorm_statistics_follow_its_trainable_weights():
    """Keras's legacy writers list a layer's `trainable_weights + non_trainable_weights`:
    for an unfrozen nested base, its BatchNormalization statistics come last."""
    with h5py.File(path("nested_batchnorm", "_k2w.h5"), "r") as h5:
        names = [n.decode() if isinstance(n, bytes) else n for n in h5["base"].attrs["weight_names"]]
    assert [n.split("/")[-1].split(":")[0] for n in names] == [
        "kernel", "bias", "gamma", "beta", "kernel", "bias", "moving_mean", "moving_variance"]


@pytest.mark.parametrize("name", SPEC_CASES)
def test_to_json_gives_kerass_rows_and_the_specs_model(name):
    from_keras = spec_module.load(path(name, ".json")).model
    assert rows_of(from_keras) == keras_rows(name)
    assert rows_of(spec_module.load(os.path.join(SPECS, f"{name}.yaml")).model) == \
        keras_rows(name)


@pytest.mark.parametrize("model_ext,weights_ext,expected",
                         [(".keras", None, ".npz"), (".h5", None, ".npz"),
                          (".json", ".weights.h5", ".npz"), (".json", ".keras", ".npz"),
                          (".k2.h5", None, "_k2.npz"),
                          (".json", "_k2w.h5", "_k2.npz")])
@pytest.mark.parametrize("name", FULL)
def test_kerass_files_give_kerass_outputs_and_weights(name, model_ext, weights_ext, expected):
    model_file = path(name, "_k2.h5" if model_ext == ".k2.h5" else model_ext)
    data = np.load(path(name, ".npz"))
    weights, y = predict(model_file, weights_ext and path(name, weights_ext), data["x"])
    np.testing.assert_allclose(y, np.load(path(name, expected))["y"], rtol=1e-5, atol=1e-6)
    keras_weights = {key[2:]: data[key] for key in data.files if key.startswith("w:")}
    assert set(weights) == set(keras_weights)
    for key, value in keras_weights.items():
        assert np.array_equal(weights[key], value), key  # bit-identical


def test_summary_of_a_compiled_keras_archive_imports_neither_numpy_nor_h5py():
    """A compiled model's compile_config is read too (the optimizer's and loss's default
    tables), still without numpy."""
    code = ("import sys; from seqcli.cli import main; sys.argv = ['seqcli', 'summary', "
            f"{path('autoencoder', '.keras')!r}]\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('numpy', 'h5py') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT)
    assert 'Model: "autoencoder"' in result.stdout
    assert result.stdout.strip().endswith("[]"), result.stdout + result.stderr
    assert spec_module.load(path("autoencoder", ".keras")).compile == {
        "optimizer": "adam", "loss": "mse"}


def test_hdf5_dataset_declaring_more_than_it_stores(cli, tmp_path):
    """A weight with the right shape but (almost) no bytes stored behind it: Keras
    refuses a dataset declaring over 1000x what it stores (CVE-2026-0897); seqcli
    refuses it before reading, in one line, and writes nothing."""
    weights = tmp_path / "w.weights.h5"
    weights.write_bytes(open(path("autoencoder", ".weights.h5"), "rb").read())
    with h5py.File(weights, "r+") as h5:
        shape = h5["layers/conv2d_1/vars/0"].shape  # (3, 3, 16, 8): 4,608 bytes
        del h5["layers/conv2d_1/vars/0"]
        h5.create_dataset("layers/conv2d_1/vars/0", shape, "float32", chunks=(1, 1, 16, 8))
    np.save(tmp_path / "x.npy", np.zeros((1, 28, 28, 1), "float32"))
    before = sorted(os.listdir(tmp_path))
    result = cli("run", path("autoencoder", ".json"), "--input", tmp_path / "x.npy",
                 "--weights", weights, "-o", tmp_path / "y.npy")
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("seqcli: error: ")
    assert "w.weights.h5:/layers/conv2d_1/vars/0: declares 4,608 bytes but stores 0" in lines[0]
    assert sorted(os.listdir(tmp_path)) == before


@pytest.mark.parametrize("name", SPEC_CASES)
def test_kerass_json_converts_back_to_the_spec(name, cli, tmp_path):
    """Keras's to_json of each spec, converted by seqcli, builds exactly the spec's model:
    Keras's resolved defaults (strides = pool_size, data_format, linear activations,
    initializers' default arguments) are read as the defaults they are."""
    result = cli("convert", path(name, ".json"), "-o", tmp_path / "back.yaml")
    assert result.exit_code == 0, result.stderr
    back = spec_module.load(str(tmp_path / "back.yaml")).model.config()
    original = spec_module.load(os.path.join(SPECS, f"{name}.yaml")).model.config()
    back.pop("weights", None), original.pop("weights", None)
    assert back == original


@pytest.mark.parametrize("name", WRITTEN)
def test_keras_loads_what_seqcli_writes_for_each_spec(name):
    """Each spec as the .keras seqcli writes (seed-0 weights), which Keras 3 loaded with
    safe_mode on (make_keras_guide_files.py written): the same config.json today, and
    Keras's rows, weights (bit-identical), frozen weights and predictions."""
    import hashlib
    import io
    import zipfile

    from seqcli import convert, keras_writer

    recorded = np.load(path(name, "_written.npz"))
    loaded = spec_module.load(os.path.join(SPECS, f"{name}.yaml"))
    weights, _ = weights_module.load(loaded.model, None, seed=0)
    data = keras_writer.archive_bytes(loaded.model, weights, convert._compiled(loaded))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        config = archive.read("config.json")
    assert hashlib.sha256(config).hexdigest() == str(recorded["config_sha256"])
    keras_weights = {k[2:]: recorded[k] for k in recorded.files if k.startswith("w:")}
    assert set(keras_weights) == set(weights)
    assert all(np.array_equal(keras_weights[k], v) for k, v in weights.items())
    assert rows_of(loaded.model) == json.loads(str(recorded["rows"]))
    frozen = [s for s in weights_module.specs_of(loaded.model) if not s.trainable]
    assert int(recorded["non_trainable"]) == len(frozen)
    x = recorded["x"]
    ours = runner.predict(NumpyEngine(runner.build_for(loaded.model, x), weights), x)
    np.testing.assert_allclose(ours, recorded["y"], rtol=1e-5, atol=1e-6)
