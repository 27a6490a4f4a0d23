"""The top model's name is its own, as in Keras (`keras.Sequential(..., name="conv2d")`
with an automatically named Conv2D inside): only layer names must be unique."""

from __future__ import annotations

import json
import os

import pytest

from seqcli import spec as spec_module
from seqcli.errors import SeqcliError
from tests.conftest import FIXTURES


def test_a_keras_model_named_like_its_layer(cli, tmp_path):
    with open(os.path.join(FIXTURES, "keras_files", "mnist_convnet.json"), encoding="utf-8") as f:
        config = json.load(f)
    config["config"]["name"] = "conv2d"  # Keras names the first Conv2D conv2d too
    (tmp_path / "model.json").write_text(json.dumps(config))
    result = cli("summary", tmp_path / "model.json")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith('Model: "conv2d"') and " conv2d (Conv2D) " in result.stdout


def test_layer_names_stay_unique_and_a_nested_model_is_a_layer():
    spec = spec_module.load_text("name: dense\ninput_shape: [2]\nlayers:\n  - Dense: {units: 1}\n",
                                 "m.yaml")
    assert spec.model.name == "dense" and spec.model.layers[0].name == "dense"
    for text in ("layers:\n  - Dense: {units: 1, name: a}\n  - Dense: {units: 1, name: a}\n",
                 "layers:\n  - Dense: {units: 1, name: a}\n"
                 "  - Sequential: {name: a, layers: []}\n"):
        with pytest.raises(SeqcliError, match="used twice"):
            spec_module.load_text(text, "m.yaml")
