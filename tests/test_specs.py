"""Every bundled spec loads, runs a forward pass of its inferred shape, and trains a step."""

import glob
import os

import numpy as np
import pytest

from seqcli.engines.numpy_engine import NumpyEngine
from seqcli import runner, training
from seqcli import spec as spec_module
from seqcli import weights as weights_module
from tests.conftest import SPECS

BUILT = [p for p in sorted(glob.glob(os.path.join(SPECS, "*.yaml")))
         if spec_module.load(p).model.built]


def sample_input(model, rng, n=2):
    first = model.layers[0]
    shape = (n, *model.input_shape)
    if type(first).__name__ == "Embedding":
        return rng.integers(0, first.input_dim, shape).astype(np.float32)
    return rng.random(shape, dtype=np.float32)


@pytest.mark.parametrize("path", BUILT, ids=os.path.basename)
def test_bundled_spec_runs_and_trains(path):
    loaded = spec_module.load(path)
    model = loaded.model
    rng = np.random.default_rng(0)
    x = sample_input(model, rng)
    weights = weights_module.fresh(model, seed=1)
    y = runner.predict(NumpyEngine(model, weights), x)
    assert y.shape == model.output_shape((2, *model.input_shape)) and np.isfinite(y).all()
    if loaded.compile is None:
        return
    compiled = training.compile_settings(loaded.compile)
    loss = compiled.loss[0]
    if loss.startswith("sparse"):
        targets = rng.integers(0, y.shape[-1], len(x))
    elif loss == "binary_crossentropy":
        targets = (rng.random(y.shape) > 0.5).astype(np.float32)
    else:
        targets = rng.random(y.shape, dtype=np.float32)
    history = training.fit(model, weights, x, targets, compiled,
                           training.FitOptions(epochs=1, batch_size=2))
    assert np.isfinite(history.epochs[0]["loss"])


def test_the_catalog_specs_are_bundled():
    names = {os.path.basename(p) for p in BUILT}
    assert {"text_classifier.yaml", "image_classifier.yaml", "autoencoder.yaml"} <= names
