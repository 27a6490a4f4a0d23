"""A legacy .h5 whose `model_weights` group is itself a link into another file
(CVE-2026-1669, arbitrary file read): refused before the link is followed, whether the
file is the model or `--weights`. The linked file holds exactly the weights the model
needs, so following the link would have succeeded."""

from __future__ import annotations

import os
import shutil

import h5py
import numpy as np
import pytest

from tests.conftest import FIXTURES

FILES = os.path.join(FIXTURES, "keras_files")


@pytest.fixture
def linked(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(os.path.join(FILES, "mnist_convnet.h5"), outside / "secret.h5")
    target = tmp_path / "model.h5"
    shutil.copy(os.path.join(FILES, "mnist_convnet.h5"), target)
    with h5py.File(target, "r+") as h5:
        del h5["model_weights"]
        h5["model_weights"] = h5py.ExternalLink(str(outside / "secret.h5"), "model_weights")
    np.save(tmp_path / "x.npy", np.zeros((1, 12, 12, 1), "float32"))
    return tmp_path


@pytest.mark.parametrize("as_weights", [False, True])
def test_model_weights_linked_into_another_file(cli, linked, as_weights):
    model = os.path.join(FILES, "mnist_convnet.json") if as_weights else linked / "model.h5"
    extra = ["--weights", linked / "model.h5"] if as_weights else []
    before = sorted(os.listdir(linked))
    result = cli("run", model, "--input", linked / "x.npy", *extra, "-o", linked / "y.npy")
    assert result.exit_code == 1 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines == [f"seqcli: error: {linked / 'model.h5'}: an external link at "
                     "/model_weights; seqcli follows no link out of a weights file"]
    assert sorted(os.listdir(linked)) == before
