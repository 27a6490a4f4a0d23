"""The generic RNN and its cells, EinsumDense and SpectralNormalization: what the Keras
fixtures cannot show (refusals, equivalences, the CLI)."""

import json

import numpy as np
import pytest

from seqcli import spec as spec_module
from seqcli import weights as weights_module
from seqcli.errors import SeqcliError


def load(layers, input_shape):
    text = json.dumps({"input_shape": input_shape, "layers": layers})
    return spec_module.load_text(text, "case.json").model


def test_rnn_of_a_cell_is_the_matching_layer():
    rnn = load([{"RNN": {"cell": {"GRUCell": {"units": 3, "reset_after": False}},
                         "go_backwards": True}}], [5, 2])
    gru = load([{"GRU": {"units": 3, "reset_after": False, "go_backwards": True}}], [5, 2])
    weights = weights_module.fresh(rnn, seed=4)
    x = np.random.default_rng(1).standard_normal((3, 5, 2)).astype(np.float32)
    same = {key.replace("rnn/", "gru/"): value for key, value in weights.items()}
    np.testing.assert_array_equal(rnn.forward(weights_module.nest(weights), x),
                                  gru.forward(weights_module.nest(same), x))


def test_stacked_cells_key_their_weights_by_cell_name():
    model = load([{"RNN": {"cell": {"StackedRNNCells": {"cells": [
        {"LSTMCell": {"units": 4}}, {"LSTMCell": {"units": 2, "name": "top"}}]}}}}], [6, 3])
    assert [s.name for s in weights_module.specs_of(model)] == [
        "rnn/lstm_cell/kernel", "rnn/lstm_cell/recurrent_kernel", "rnn/lstm_cell/bias",
        "rnn/top/kernel", "rnn/top/recurrent_kernel", "rnn/top/bias"]


@pytest.mark.parametrize("layers,message", [
    ([{"LSTMCell": {"units": 2}}], "LSTMCell is a recurrent cell"),
    ([{"RNN": {"cell": {"StackedRNNCells": {"cells": [{"GRUCell": {"units": 2}}]}}}}],
     "StackedRNNCells needs at least two cells"),
    ([{"RNN": {"cell": {"Dense": {"units": 2}}}}], "`cell` must be a cell"),
    ([{"RNN": {"cell": {"LSTMCell": {"units": 2, "activity_regularizer": "l2"}}}}],
     "LSTMCell has no argument `activity_regularizer`"),
    ([{"SpectralNormalization": {"layer": {"LSTM": {"units": 2}}}}],
     "LSTM object has no attribute 'kernel' nor 'embeddings'"),
    ([{"SpectralNormalization": {"layer": {"Dense": {
        "units": 2, "kernel_regularizer": "l2"}}}}], "kernel_regularizer on the layer inside"),
    ([{"EinsumDense": {"equation": "ab,bc", "output_shape": 2}}], "Invalid einsum equation"),
    ([{"EinsumDense": {"equation": "abc,cd->abd", "output_shape": [5, 2]}}],
     "do not match at shared dimension 'b'"),
    # einsum's own refusals, once an internal error at run time
    ([{"EinsumDense": {"equation": "abc,cd->add", "output_shape": [2, 2]}}],
     "names 'd' 2 times in its output 'add'"),
    ([{"EinsumDense": {"equation": "abb,bd->ad", "output_shape": 2}}],
     "names 'b' for input axes of sizes 3 and 6"),
    ([{"EinsumDense": {"equation": "aac,cd->ad", "output_shape": 2}}],
     "names 'a' for input axes of sizes 6 and None"),
])
def test_a_bad_layer_is_one_located_line(layers, message):
    with pytest.raises(SeqcliError) as caught:
        load(layers, [6, 3]).output_shape((None, 6, 3))
    text = str(caught.value)
    assert message in text and "\n" not in text and text.startswith("case.json:1:")


NULL_TIME = {"EinsumDense": {"equation": "abc,cd->abd", "output_shape": [None, 4]}}


@pytest.mark.parametrize("layers,input_shape,message", [
    # Keras builds on the None an output_shape null leaves, and cannot size this kernel
    ([NULL_TIME, {"Flatten": {}}, {"Dense": {"units": 2}}], [6, 3],
     "layers[2] (Dense 'dense'): The last dimension of the inputs to a Dense layer should "
     "be defined. Found None"),
    ([{"EinsumDense": {"equation": "abcd,de->abce", "output_shape": [None, None, 2]}},
      {"ConvLSTM1D": {"filters": 2, "kernel_size": 2}}], [3, 6, 2],
     "ConvLSTM layers only support static input shapes for the spatial dimension. "
     "Received invalid input shape: input_shape=(None, None, None, 2)"),
])
def test_a_layer_keras_cannot_build_after_an_einsum_null_is_refused(layers, input_shape,
                                                                     message):
    """Keras refuses these models (a random stack found it): so does seqcli."""
    with pytest.raises(SeqcliError) as caught:
        load(layers, input_shape)
    assert message in str(caught.value)


def test_layers_keras_builds_on_an_einsum_null_are_accepted():
    # Keras builds these on (None, None, 4): no size of the null axis is needed
    for tail in ([{"Conv1D": {"filters": 2, "kernel_size": 2}}], [{"LSTM": {"units": 2}}],
                 [{"Dense": {"units": 2}}, {"GlobalAveragePooling1D": {}}]):
        model = load([NULL_TIME] + tail, [6, 3])
        assert model.output_shape((None, 6, 3))[-1] == 2


def test_spectral_normalization_runs_the_stored_kernel_at_inference():
    model = load([{"SpectralNormalization": {"layer": {"Dense": {"units": 3}}}}], [4])
    plain = load([{"Dense": {"units": 3}}], [4])
    weights = weights_module.fresh(model, seed=2)
    x = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
    same = {"dense/" + k.split("/")[1]: v for k, v in weights.items() if "vector_u" not in k}
    expected = plain.forward(weights_module.nest(same), x)
    np.testing.assert_array_equal(model.forward(weights_module.nest(weights), x), expected)
    trained = model.run(weights_module.nest(weights), x, training=True,
                        rng=np.random.default_rng(0))
    assert not np.allclose(trained.output, expected)  # normalized in training
    assert set(trained.updates) == {"spectral_normalization/vector_u"}


def test_catalog_shows_a_cells_arguments(cli):
    result = cli("catalog", "LSTMCell")
    assert result.exit_code == 0
    assert "unit_forget_bias" in result.stdout and "return_sequences" not in result.stdout
    listing = cli("catalog").stdout
    for name in ("RNN", "SimpleRNNCell", "GRUCell", "StackedRNNCells", "EinsumDense",
                 "SpectralNormalization"):
        assert f"\n{name} " in listing


@pytest.mark.parametrize("layers,input_shape,macs", [
    # one product per combination of the letters but the batch's: b, c, d, e
    ([{"EinsumDense": {"equation": "abc,cde->abde", "output_shape": [None, 4, 8]}}],
     [10, 16], 10 * 16 * 4 * 8),
    # per step and output position: the input (3 channels) and recurrent (4 filters)
    # convolutions, each 3 * 3 wide and 4 gates * 4 filters deep
    ([{"ConvLSTM2D": {"filters": 4, "kernel_size": 3}}], [6, 16, 16, 3],
     6 * 14 * 14 * 3 * 3 * 16 * (3 + 4)),
    # the cells as their layers: GRU 3 gates over 8 + 5, then SimpleRNN over 5 + 2
    ([{"RNN": {"cell": {"StackedRNNCells": {"cells": [{"GRUCell": {"units": 5}},
                                                      {"SimpleRNNCell": {"units": 2}}]}}}}],
     [7, 8], 7 * 3 * 5 * (8 + 5) + 7 * 1 * 2 * (5 + 2)),
    # the wrapped layer's arithmetic; power iteration runs only in training
    ([{"SpectralNormalization": {"layer": {"Dense": {"units": 3}}}}], [6], 6 * 3),
])
def test_explain_and_summary_count_the_same_macs(cli, tmp_path, layers, input_shape, macs):
    from seqcli.summary import summarize

    model = load(layers, input_shape)
    assert summarize(model).rows[0].macs == macs
    spec = tmp_path / "m.json"
    spec.write_text(json.dumps({"input_shape": input_shape, "layers": layers}))
    lines = cli("explain", spec, model.layers[0].name).stdout.splitlines()
    assert f"= {macs:,}" in lines[-1]
