"""Keras 3 weights files checked as .npz files are: a missing, extra or mis-shaped
weight is one line naming the layer and the weight, and a file for a bigger model is
refused rather than silently cut short."""

from __future__ import annotations

import os

import h5py
import numpy as np
import pytest

from tests.conftest import FIXTURES

FILES = os.path.join(FIXTURES, "keras_files")
MODEL = os.path.join(FILES, "mnist_convnet.json")


def _missing(h5):
    del h5["layers/dense/vars/1"]


def _extra_variable(h5):
    h5["layers/dense/vars/2"] = np.zeros((10,), "float32")


def _extra_layer(h5):
    h5["layers/dense_1/vars/0"] = np.zeros((10, 3), "float32")


def _misshaped(h5):
    del h5["layers/dense/vars/0"]
    h5["layers/dense/vars/0"] = np.zeros((54, 11), "float32")


@pytest.mark.parametrize("change,message", [
    (_missing, "missing weight 1 (bias) of layer 'dense' at layers/dense/vars"),
    (_extra_variable, "layers/dense/vars holds 3 weights; layer 'dense' has 2 (kernel, bias)"),
    (_extra_layer, "unexpected weights at layers/dense_1: the model has no such layer"),
    (_misshaped, "/layers/dense/vars/0: weight 'dense/kernel' (layer 'dense', weight "
                 "'kernel') has shape (54, 11); the model expects (54, 10)"),
])
def test_a_weights_file_that_does_not_fit_is_one_line(cli, tmp_path, change, message):
    weights = tmp_path / "w.weights.h5"
    weights.write_bytes(open(os.path.join(FILES, "mnist_convnet.weights.h5"), "rb").read())
    with h5py.File(weights, "r+") as h5:
        change(h5)
    result = cli("weights", MODEL, "--weights", weights)
    assert result.exit_code == 1 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"seqcli: error: {weights}")
    assert message in lines[0], lines[0]


def test_keras2_weights_name_the_weight_too(cli, tmp_path):
    weights = tmp_path / "w.h5"
    weights.write_bytes(open(os.path.join(FILES, "mnist_convnet.k2-legacy.h5"), "rb").read())
    with h5py.File(weights, "r+") as h5:
        group = h5["dense"]
        name = [n.decode() if isinstance(n, bytes) else n for n in group.attrs["weight_names"]][0]
        shape = group[name].shape
        del group[name]
        group[name] = np.zeros((shape[0] + 1, shape[1]), "float32")
    result = cli("weights", MODEL, "--weights", weights)
    assert result.exit_code == 1
    assert "weight 'dense/kernel' (layer 'dense', weight 'kernel') has shape" in result.stderr
