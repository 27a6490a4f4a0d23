"""The catalog's left-out list: every Keras 3 layer class is either in seqcli's catalog or
listed with the reason it is left out (Keras's list: make_catalog.py layers)."""

import json
import os

from seqcli.left_out import GROUPS, left_out
from seqcli.registry import INDEX
from tests.conftest import FIXTURES

with open(os.path.join(FIXTURES, "keras_layers.json")) as handle:
    KERAS_LAYERS = json.load(handle)["layers"]


def test_every_keras_layer_is_built_or_left_out_with_a_reason():
    listed = {name for _, names in left_out() for name in names}
    assert {name for name in KERAS_LAYERS if name not in INDEX} == listed


def test_the_list_names_only_keras_classes_and_says_why():
    for why, names in GROUPS:
        assert why and set(names) <= set(KERAS_LAYERS)
    assert not {name for _, names in left_out() for name in names} & set(INDEX)


def test_catalog_lists_what_is_left_out(cli):
    text = cli("catalog").stdout
    assert "Left out (Keras 3 layers seqcli does not build):" in text
    for why, names in left_out():
        assert ", ".join(names[:2]) in text


def test_a_left_out_layer_in_a_spec_says_why(cli):
    result = cli("summary", "-", input="input_shape: [3]\nlayers: [{StringLookup: {}}]\n")
    assert result.exit_code == 1
    assert "StringLookup is a Keras layer that seqcli leaves out: they work on strings" \
        in result.stderr
    result = cli("catalog", "MultiHeadAttention")
    assert result.exit_code == 1 and "several inputs" in result.stderr
