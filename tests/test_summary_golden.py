"""`seqcli summary` prints exactly what Keras prints.

tests/golden/keras2/*.txt is tf-keras 2.12's own output (make_fixtures.py
summaries); tests/golden/guide/*.txt are the summaries printed in the guide,
cut byte for byte from it (the guide's copy drops Keras's closing underscore line).
"""

import os

import pytest

from tests.conftest import GOLDEN, spec_path

ONES_1x4 = "ones_1x4.npy"
CASES = {
    "guide_unbuilt_from_data": ("guide_unbuilt.yaml", ["--input", ONES_1x4]),
    "guide_input": ("guide_input.yaml", []),
    "guide_input_shape": ("guide_input_shape.yaml", []),
    "guide_cnn_step1": ("guide_cnn_step1.yaml", []),
    "guide_cnn_step2": ("guide_cnn_step2.yaml", []),
    "guide_cnn": ("guide_cnn.yaml", []),
    "guide_cnn_trainable": ("guide_cnn.yaml", ["--show-trainable"]),
    "guide_transfer": ("guide_transfer.yaml", []),
    "guide_transfer_expanded": ("guide_transfer.yaml", ["--show-trainable", "--expand-nested"]),
    "frozen_mlp": (os.path.join(GOLDEN, "frozen_mlp.yaml"), ["--show-trainable"]),
    "text_classifier": ("text_classifier.yaml", []),
    "image_classifier": ("image_classifier.yaml", ["--show-trainable"]),
    "autoencoder": ("autoencoder.yaml", []),
    "nested_deep_expanded": (os.path.join(GOLDEN, "nested_deep.yaml"),
                             ["--show-trainable", "--expand-nested"]),
}


@pytest.fixture
def ones(tmp_path, monkeypatch):
    import numpy as np

    np.save(tmp_path / ONES_1x4, np.ones((1, 4), dtype=np.float32))
    monkeypatch.chdir(tmp_path)


def read(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


@pytest.mark.parametrize("name", sorted(CASES))
def test_summary_equals_keras(cli, ones, name):
    spec, options = CASES[name]
    result = cli("summary", spec_path(spec), *options)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == read(os.path.join(GOLDEN, "keras2", name + ".txt"))


@pytest.mark.parametrize("name", sorted(os.listdir(os.path.join(GOLDEN, "guide"))))
def test_every_summary_printed_in_the_guide(cli, ones, name):
    spec, options = CASES[name[:-4]]
    result = cli("summary", spec_path(spec), *options)
    guide = read(os.path.join(GOLDEN, "guide", name))
    assert result.stdout == guide + "_" * 65 + "\n"


def test_golden_keras2_files_are_all_checked():
    produced = {n[:-4] for n in os.listdir(os.path.join(GOLDEN, "keras2"))}
    assert produced == set(CASES)


def test_the_one_line_fast_path_equals_kerass_algorithm():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from seqcli.summary import _format_row, _keras_print_row, columns, text_positions

    text = st.text(alphabet="ab_(), 0123456789'", min_size=0, max_size=40)

    @settings(max_examples=500, deadline=None)
    @given(cells=st.tuples(text, text, text), trainable=st.booleans())
    def same(cells, trainable):
        positions = text_positions(columns(trainable))
        fields = list(cells) + (["Y"] if trainable else [])
        assert _format_row(fields, positions) == _keras_print_row(fields, positions)

    same()
    # the boundary the guide shows: a 27-character first cell overflows by one column
    positions = text_positions(columns())
    assert positions == (29, 55, 65)
    row = _format_row(["x" * 27, "(None, 3)", 12], positions)
    assert row == _keras_print_row(["x" * 27, "(None, 3)", "12"], positions)
    assert row[0].index("(None") == 30
