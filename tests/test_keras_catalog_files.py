"""The newer layers in Keras 3's files (tests/fixtures/make_catalog.py files): seqcli reads
what Keras saved (.keras, .json with .weights.h5, legacy .h5) with Keras's layers and
outputs, and Keras loaded what seqcli wrote back with the same outputs."""

import glob
import os

import numpy as np
import pytest

from seqcli import spec as spec_module
from tests.conftest import FIXTURES
from tests.test_keras_files import assert_kerass_layers, predict

FILES = os.path.join(FIXTURES, "keras_catalog_files")
MODELS = sorted(os.path.basename(p)[:-4] for p in glob.glob(os.path.join(FILES, "*.npz")))
FORMATS = [(".keras", None), (".json", ".weights.h5"), (".h5", None), (".json", ".h5")]


def test_the_fixtures_cover_the_newer_layers():
    assert {"rnn_cell", "rnn_stacked_cells"} <= set(MODELS)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("model_ext,weights_ext", FORMATS, ids=[f"{m}+{w}" for m, w in FORMATS])
def test_keras_files_give_kerass_outputs(name, model_ext, weights_ext):
    data = np.load(os.path.join(FILES, name + ".npz"))
    weights_file = os.path.join(FILES, name + weights_ext) if weights_ext else None
    weights, y = predict(os.path.join(FILES, name + model_ext), weights_file, data["x"])
    np.testing.assert_allclose(y, data["y"], rtol=1e-5, atol=1e-6)
    kept = {key[2:]: data[key] for key in data.files if key.startswith("w:")}
    assert set(weights) == set(kept)  # every weight (vector_u too) read from its place
    for key, value in kept.items():
        np.testing.assert_array_equal(weights[key], value, err_msg=key)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("model_ext", [".keras", ".json", ".h5"])
def test_keras_files_give_kerass_layers(name, model_ext):
    assert_kerass_layers(FILES, name, model_ext)


@pytest.mark.parametrize("name", MODELS)
def test_keras_loads_what_seqcli_wrote(name):
    """seqcli's .keras (loaded by Keras, safe_mode on) and .weights.h5 (loaded into Keras's
    own model) gave Keras's outputs; seqcli reads its own file back the same."""
    data = np.load(os.path.join(FILES, name + ".npz"))
    np.testing.assert_allclose(data["y_written"], data["y"], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(data["y_written_weights"], data["y"], rtol=1e-6, atol=1e-7)
    written = os.path.join(FILES, name + ".seqcli.keras")
    original = spec_module.load(os.path.join(FILES, name + ".keras"))
    assert spec_module.load(written).model == original.model
    _, y = predict(written, None, data["x"])
    np.testing.assert_allclose(y, data["y"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", MODELS)
def test_spec_and_keras_round_trips_are_lossless(cli, tmp_path, name):
    """.keras -> spec and weights -> .keras -> spec: the same spec, model and weights."""
    source = os.path.join(FILES, name + ".keras")
    assert cli("convert", source, "-o", tmp_path / "m.yaml",
               "--weights-out", tmp_path / "w.npz").exit_code == 0
    assert cli("convert", tmp_path / "m.yaml", "--weights", tmp_path / "w.npz",
               "-o", tmp_path / "again.keras").exit_code == 0
    assert cli("convert", tmp_path / "again.keras", "-o", tmp_path / "again.yaml").exit_code == 0
    assert (tmp_path / "m.yaml").read_text() == (tmp_path / "again.yaml").read_text()
    original, again = spec_module.load(source), spec_module.load(str(tmp_path / "again.keras"))
    assert again.model == original.model
    first = original.weights(original.model)
    for key, value in again.weights(again.model).items():
        assert np.array_equal(value, first[key]), key
