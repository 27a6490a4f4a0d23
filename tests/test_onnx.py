"""ONNX export and the onnxruntime engine, against Keras's outputs (the forward fixtures)."""

import glob
import json
import os
import sys

import numpy as np
import pytest

import onnx
import onnxruntime

from seqcli import onnx_export, runner
from seqcli import spec as spec_module
from seqcli import weights as weights_module
from seqcli.engines.numpy_engine import NumpyEngine
from seqcli.engines.onnxruntime_engine import OnnxRuntimeEngine
from seqcli.errors import SeqcliError
from tests.conftest import FIXTURES, SPECS
from tests.test_keras_parity import CASES, load_case


def session_for(proto):
    return onnxruntime.InferenceSession(proto.SerializeToString(),
                                        providers=["CPUExecutionProvider"])


def build(layers, input_shape, x_shape):
    """A model from layer entries, built for x_shape, with fresh weights."""
    text = json.dumps({"name": "case", "input_shape": input_shape, "layers": layers})
    model = spec_module.load_text(text, "case.json").model.with_input((None, *x_shape[1:]))
    return model, weights_module.load(model, None)[0]


@pytest.mark.parametrize("path", CASES, ids=lambda p: os.path.basename(p)[:-4])
def test_converted_model_matches_keras_in_onnx_runtime(path, tmp_path, cli):
    """`seqcli convert SPEC --weights W.npz -o model.onnx`, then ONNX Runtime alone."""
    model, weights, x, expected = load_case(path)
    data = np.load(path, allow_pickle=False)
    source = str(data["source"])
    if source.endswith(".yaml"):  # the project's spec (it may include others beside it)
        spec_file = os.path.join(SPECS, source)
    else:
        spec_file = tmp_path / "spec.json"
        spec_file.write_text(str(data["spec"]))
    np.savez(tmp_path / "w.npz", **weights)
    result = cli("convert", spec_file, "--weights", tmp_path / "w.npz", "--input-shape",
                 ",".join(map(str, x.shape[1:])), "-o", tmp_path / "model.onnx")
    assert result.exit_code == 0, result.stderr
    proto = onnx.load(str(tmp_path / "model.onnx"))
    onnx.checker.check_model(proto, full_check=True)
    assert proto.opset_import[0].version >= 17 and proto.ir_version <= 10
    (graph_input,) = proto.graph.input
    assert graph_input.name == "input_layer"
    assert graph_input.type.tensor_type.shape.dim[0].dim_param == "batch"  # dynamic batch
    session = onnxruntime.InferenceSession(str(tmp_path / "model.onnx"),
                                           providers=["CPUExecutionProvider"])
    y = session.run(None, {"input_layer": x.astype(np.float32)})[0]
    assert y.shape == expected.shape and y.dtype == np.float32
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


ONNX_CASES = sorted(glob.glob(os.path.join(FIXTURES, "onnx", "*.npz")))


@pytest.mark.parametrize("path", ONNX_CASES, ids=lambda p: os.path.basename(p)[:-4])
def test_export_of_the_declared_model_matches_keras(path):
    """Cases only the export exercises (make_onnx.py): the model exported as declared,
    unknown sizes left unknown, then run on Keras's input."""
    _, weights, x, expected = load_case(path)
    declared = spec_module.load_text(str(np.load(path)["spec"]), "case.json").model
    proto = onnx_export.export(declared, weights)
    onnx.checker.check_model(proto, full_check=True)
    y = session_for(proto).run(None, {"input_layer": x})[0]
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


KERAS_FILES = os.path.join(FIXTURES, "keras_files")


@pytest.mark.parametrize("name", sorted(os.path.basename(p)[:-4] for p in glob.glob(
    os.path.join(KERAS_FILES, "*.npz"))))
def test_a_keras_3_file_exported_matches_keras(name, tmp_path):
    """What Keras 3 users cannot easily do: a .keras file Keras saved, to ONNX, without
    TensorFlow; ONNX Runtime gives Keras's outputs."""
    data = np.load(os.path.join(KERAS_FILES, name + ".npz"))
    loaded = spec_module.load(os.path.join(KERAS_FILES, name + ".keras"))
    weights, _ = weights_module.load(loaded.model, None, embedded=loaded.weights)
    onnx_export.write(loaded.model, weights, str(tmp_path / "model.onnx"))
    session = onnxruntime.InferenceSession(str(tmp_path / "model.onnx"),
                                           providers=["CPUExecutionProvider"])
    y = session.run(None, {"input_layer": data["x"].astype(np.float32)})[0]
    np.testing.assert_allclose(y, data["y"], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("source", ["mnist_convnet.keras", "bilstm_text.keras"])
def test_convert_writes_onnx_from_a_keras_file(cli, tmp_path, source):
    """`seqcli convert model.keras -o model.onnx`: Keras's file to ONNX from the shell."""
    name = source.split(".")[0]
    data = np.load(os.path.join(KERAS_FILES, name + ".npz"))
    result = cli("convert", os.path.join(KERAS_FILES, source), "-o", tmp_path / "m.onnx")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == f"seqcli: wrote {tmp_path / 'm.onnx'}\n"
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"),
                                           providers=["CPUExecutionProvider"])
    y = session.run(None, {"input_layer": data["x"].astype(np.float32)})[0]
    np.testing.assert_allclose(y, data["y"], rtol=1e-5, atol=1e-5)


def test_convert_writes_onnx_from_a_spec_and_weights(cli, tmp_path):
    path = os.path.join(FIXTURES, "forward", "guide_mlp.npz")
    data = np.load(path, allow_pickle=False)
    np.savez(tmp_path / "w.npz", **{k[2:]: data[k] for k in data.files if k.startswith("w:")})
    result = cli("convert", os.path.join(SPECS, "guide_mlp.yaml"), "--weights",
                 tmp_path / "w.npz", "-o", tmp_path / "mlp.onnx")
    assert result.exit_code == 0, result.stderr
    session = onnxruntime.InferenceSession(str(tmp_path / "mlp.onnx"),
                                           providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"input_layer": data["x"]})[0], data["y"],
                               rtol=1e-5, atol=1e-5)


def test_the_onnx_only_cases_are_there():
    assert len(ONNX_CASES) >= 7


@pytest.mark.parametrize("path", CASES, ids=lambda p: os.path.basename(p)[:-4])
def test_onnxruntime_engine_matches_keras(path):
    model, weights, x, expected = load_case(path)
    engine = OnnxRuntimeEngine(model, weights)
    y = runner.predict(engine, x, batch_size=2)  # batches of 2 and a last one of 1
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    numpy_pass = NumpyEngine(model, weights).forward(x.astype(np.float32))
    assert engine.forward(x.astype(np.float32)).penalty == pytest.approx(numpy_pass.penalty,
                                                                        rel=1e-5)


def test_consecutive_convolutions_stay_channels_first():
    """The guide's CNN: one Transpose into channels-first, none back (the global pooling
    leaves (batch, channels), which is Keras's layout already)."""
    model, weights, _, _ = load_case(os.path.join(FIXTURES, "forward", "guide_cnn.npz"))
    ops = [node.op_type for node in onnx_export.export(model, weights).graph.node]
    assert ops.count("Conv") == 6 and ops.count("Transpose") == 1


def test_a_layer_needing_keras_layout_gets_one_transpose_back():
    model, weights = build([{"Conv2D": {"filters": 3, "kernel_size": 2}},
                            {"MaxPooling2D": {}}, {"BatchNormalization": {}},
                            {"Conv2D": {"filters": 2, "kernel_size": 2}}, {"Flatten": {}},
                            {"Dense": {"units": 2}}], [9, 9, 1], (2, 9, 9, 1))
    proto = onnx_export.export(model, weights)
    ops = [node.op_type for node in proto.graph.node]
    assert ops.count("Transpose") == 2 and "BatchNormalization" in ops
    x = np.random.default_rng(0).normal(size=(2, 9, 9, 1)).astype(np.float32)
    np.testing.assert_allclose(session_for(proto).run(None, {"input_layer": x})[0],
                               model.forward(weights_module.nest(weights), x), atol=1e-5)


def test_unknown_sizes_stay_dynamic():
    """An input of unknown height and width: "same" padding with strides as SAME_UPPER,
    and with dilation (stride 1) as explicit pads."""
    model, weights = build([{"Conv2D": {"filters": 3, "kernel_size": 3, "padding": "same",
                                        "strides": 2}},
                            {"Conv2D": {"filters": 2, "kernel_size": 4, "padding": "same",
                                        "dilation_rate": 2}},
                            {"AveragePooling2D": {"pool_size": 2, "padding": "same"}},
                            {"Conv2DTranspose": {"filters": 2, "kernel_size": 3, "strides": 2,
                                                 "padding": "same"}},
                            {"UpSampling2D": {"interpolation": "bilinear"}},
                            {"GlobalMaxPooling2D": {}}], [None, None, 2], (1, None, None, 2))
    proto = onnx_export.export(model, weights)
    onnx.checker.check_model(proto, full_check=True)
    session = session_for(proto)
    for size in [(2, 13, 11, 2), (3, 5, 8, 2)]:
        x = np.random.default_rng(1).normal(size=size).astype(np.float32)
        built = model.with_input((None, *size[1:]))
        np.testing.assert_allclose(session.run(None, {"input_layer": x})[0],
                                   built.forward(weights_module.nest(weights), x), atol=1e-5)


def test_an_activation_onnx_recurrent_operators_lack_runs_in_a_scan():
    model, weights = build([{"LSTM": {"units": 3, "activation": "gelu",
                                      "return_sequences": True, "go_backwards": True}},
                            {"GRU": {"units": 2, "reset_after": False,
                                     "recurrent_activation": "hard_sigmoid"}}],
                           [5, 4], (3, 5, 4))
    proto = onnx_export.export(model, weights)
    assert [node.op_type for node in proto.graph.node].count("Scan") == 2
    x = np.random.default_rng(2).normal(size=(3, 5, 4)).astype(np.float32)
    np.testing.assert_allclose(session_for(proto).run(None, {"input_layer": x})[0],
                               model.forward(weights_module.nest(weights), x), atol=1e-5)


def test_an_inexpressible_layer_is_a_one_line_error_naming_it():
    model, weights = build([{"CenterCrop": {"height": 3, "width": 3}}], [None, None, 1],
                           (1, None, None, 1))
    with pytest.raises(SeqcliError) as caught:
        onnx_export.export(model, weights)
    assert str(caught.value).startswith("case.json:1:61: layer 'center_crop' (CenterCrop): "
                                        "cannot export to ONNX")
    assert "\n" not in str(caught.value)


def test_every_layer_in_the_catalog_has_an_onnx_form():
    from seqcli.model import Sequential
    from seqcli.registry import all_layers

    for name, cls in all_layers().items():
        if cls.is_input or cls is Sequential:  # not layers: the traversal handles them
            continue
        if getattr(cls, "is_cell", False):  # a cell runs inside an RNN, which emits it
            continue
        found = [c for c in cls.__mro__ if c in onnx_export.emitters()]
        assert found, f"{name} has no ONNX emitter"
        if cls.masking == "uses":
            assert any(c in onnx_export.masked_emitters() for c in cls.__mro__), name


def test_missing_weights_are_named():
    model, weights = build([{"Dense": {"units": 2, "name": "head"}}], [3], (1, 3))
    del weights["head/bias"]
    with pytest.raises(SeqcliError, match="missing weight 'head/bias'"):
        onnx_export.export(model, weights)


def test_a_layer_class_without_an_onnx_form_is_named(monkeypatch):
    from seqcli.layers.reshaping import RepeatVector

    monkeypatch.delitem(onnx_export.emitters(), RepeatVector)
    model, weights = build([{"RepeatVector": {"n": 2, "name": "again"}}], [3], (1, 3))
    with pytest.raises(SeqcliError, match=r"layer 'again' \(RepeatVector\): RepeatVector has "
                                          "no ONNX form"):
        onnx_export.export(model, weights)


@pytest.mark.parametrize("path", CASES, ids=lambda p: os.path.basename(p)[:-4])
def test_engine_extracts_every_layers_output_in_keras_layout(path):
    model, weights, x, _ = load_case(path)
    names = model.plan.layer_paths()  # nested models' layers too: base/conv2d
    expected = runner.extract(NumpyEngine(model, weights), x, names, batch_size=3)
    got = runner.extract(OnnxRuntimeEngine(model, weights), x, names, batch_size=3)
    for name in names:
        assert got[name].shape == expected[name].shape, name
        scale = max(1.0, float(np.abs(expected[name]).max()))
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-5, atol=1e-5 * scale,
                                   err_msg=name)


def test_engine_adds_every_activity_regularizers_term_as_numpy_does():
    """Terms from an argument, an ActivityRegularization inside a nested model and one
    inside TimeDistributed (over batch * steps samples, as Keras counts them)."""
    layers = [{"Conv1D": {"filters": 3, "kernel_size": 2,
                          "activity_regularizer": {"L2": {"l2": 0.1}}}},
              {"Sequential": {"layers": [{"ActivityRegularization": {"l1": 0.3}}]}},
              {"TimeDistributed": {"layer": {"ActivityRegularization": {"l2": 0.2}}}},
              {"LSTM": {"units": 2, "activity_regularizer": {"L1": {"l1": 0.05}}}}]
    model, weights = build(layers, [6, 2], (3, 6, 2))
    x = np.random.default_rng(4).normal(size=(3, 6, 2)).astype(np.float32)
    expected = NumpyEngine(model, weights).forward(x)
    got = OnnxRuntimeEngine(model, weights).forward(x)
    assert expected.penalty > 0
    assert got.penalty == pytest.approx(expected.penalty, rel=1e-5)
    np.testing.assert_allclose(got.output, expected.output, rtol=1e-5, atol=1e-6)


def test_a_masked_softmax_matches_numpy_and_a_misfit_mask_is_named():
    x = np.array([[1, 2, 0, 3], [0, 4, 5, 6], [7, 0, 0, 1], [2, 2, 2, 0]], np.float32)
    embedding = {"Embedding": {"input_dim": 10, "output_dim": 4, "mask_zero": True}}
    model, weights = build([embedding, {"Softmax": {}}], [4], (4, 4))
    expected = NumpyEngine(model, weights).forward(x).output
    assert (expected == 0).any()  # the mask (broadcast as numpy does) zeroed some outputs
    np.testing.assert_allclose(OnnxRuntimeEngine(model, weights).forward(x).output, expected,
                               rtol=1e-5, atol=1e-6)
    embedding["Embedding"]["output_dim"] = 3  # a (batch, 4) mask cannot broadcast to (.., 3)
    model, weights = build([embedding, {"Softmax": {"name": "probs"}}], [4], (4, 4))
    with pytest.raises(SeqcliError, match=r"layer 'probs' \(Softmax\): The `mask` must be "
                                          "broadcastable"):
        onnx_export.export(model, weights)


def test_evaluate_through_the_engine_masks_the_loss_as_numpy_does():
    """A sequence output still carrying Embedding's mask: the engine hands the mask on,
    and the masked steps stay out of the loss and metrics."""
    from seqcli import training

    embedding = {"Embedding": {"input_dim": 9, "output_dim": 3, "mask_zero": True}}
    model, weights = build([embedding, {"LSTM": {"units": 3, "return_sequences": True}},
                            {"Dense": {"units": 3}}], [6], (16, 6))
    compiled = training.compile_settings({
        "loss": {"sparse_categorical_crossentropy": {"from_logits": True}},
        "metrics": ["accuracy"]})
    rng = np.random.default_rng(5)
    x = rng.integers(1, 9, (16, 6)).astype(np.float32)
    x[:, 4:] = 0
    y = rng.integers(0, 3, (16, 6))
    engine = OnnxRuntimeEngine(model, weights)
    np.testing.assert_array_equal(engine.forward(x).mask, x != 0)
    expected = training.evaluate(model, weights, x, y, compiled, batch_size=5)
    got = training.evaluate(model, weights, x, y, compiled, batch_size=5, engine=engine)
    assert got["accuracy"] == pytest.approx(expected["accuracy"])
    assert got["loss"] == pytest.approx(expected["loss"], rel=1e-5)


def test_engine_refuses_bad_embedding_indices_as_numpy_does():
    model, weights, x, _ = load_case(os.path.join(FIXTURES, "forward", "embedding.npz"))
    bad = np.full_like(x, 10_000, dtype=np.float32)
    with pytest.raises(SeqcliError, match="inputs must be whole numbers"):
        OnnxRuntimeEngine(model, weights).forward(bad)


def test_write_is_a_file_onnx_runtime_loads(tmp_path):
    model, weights, x, expected = load_case(os.path.join(FIXTURES, "forward",
                                                         "guide_mlp.npz"))
    path = tmp_path / "model.onnx"
    onnx_export.write(model, weights, str(path))
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]  # no temporary left
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"input_layer": x})[0], expected, atol=1e-5)


def test_without_onnx_the_error_says_what_to_install(monkeypatch):
    from seqcli import engines

    monkeypatch.setitem(sys.modules, "onnx", None)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    monkeypatch.delitem(sys.modules, "seqcli.engines.onnxruntime_engine")
    with pytest.raises(SeqcliError, match=r"pip install 'seqcli\[onnx\]'"):
        onnx_export.require_onnx()
    with pytest.raises(SeqcliError, match=r"onnxruntime engine needs onnxruntime: pip "
                                          r"install 'seqcli\[onnx\]'"):
        engines.get("onnxruntime")


def test_export_without_onnx_installed_is_one_line(tmp_path):
    """In a fresh process where onnx cannot be imported, as after a plain pip install."""
    import subprocess

    code = ("import sys\nsys.modules['onnx'] = None\n"
            "from seqcli import onnx_export, spec, weights\n"
            "model = spec.load(sys.argv[1]).model\n"
            "onnx_export.write(model, weights.fresh(model), sys.argv[2])\n")
    result = subprocess.run([sys.executable, "-c", code, os.path.join(SPECS, "guide_mlp.yaml"),
                             str(tmp_path / "m.onnx")], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "seqcli.errors.SeqcliError: ONNX export needs the onnx package: "
        "pip install 'seqcli[onnx]'")
    assert not (tmp_path / "m.onnx").exists()


def test_run_takes_engine_onnxruntime(cli, tmp_path):
    path = os.path.join(FIXTURES, "forward", "guide_mlp.npz")
    data = np.load(path, allow_pickle=False)
    np.save(tmp_path / "x.npy", data["x"])
    np.savez(tmp_path / "w.npz", **{k[2:]: data[k] for k in data.files if k.startswith("w:")})
    result = cli("run", os.path.join(SPECS, str(data["source"])), "--input", tmp_path / "x.npy",
                 "--weights", tmp_path / "w.npz", "--engine", "onnxruntime",
                 "-o", tmp_path / "y.npy")
    assert result.exit_code == 0, result.stderr
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), data["y"], rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- random stacks

from hypothesis import assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from seqcli.activations import ACTIVATIONS  # noqa: E402

ACTIVATION = st.sampled_from(sorted(ACTIVATIONS))
# a channels-first convolution's softmax: Keras normalizes the last axis (width), seqcli's
# numpy engine the channels, so the exporter (which follows Keras) is not compared here
AXIS_FREE = st.sampled_from(sorted(set(ACTIVATIONS) - {"softmax", "log_softmax"}))
PADDING = st.sampled_from(["valid", "same"])
FORMAT = st.sampled_from(["channels_last", "channels_first"])
image_layers = st.one_of(
    st.builds(lambda f, k, s, p, a, d: {"Conv2D": {"filters": f, "kernel_size": k, "strides": s,
                                                   "padding": p, "activation": a,
                                                   "data_format": d}},
              st.integers(1, 4), st.integers(1, 3), st.integers(1, 2), PADDING, AXIS_FREE,
              FORMAT),
    st.builds(lambda k, s, p, op: {"Conv2DTranspose": {"filters": 2, "kernel_size": k,
                                                       "strides": s, "padding": p,
                                                       "output_padding": op}},
              st.integers(1, 3), st.integers(2, 3), PADDING, st.sampled_from([None, 1])),
    st.builds(lambda k, m, p: {"DepthwiseConv2D": {"kernel_size": k, "depth_multiplier": m,
                                                   "padding": p}},
              st.integers(1, 3), st.integers(1, 2), PADDING),
    st.builds(lambda k, p: {"SeparableConv2D": {"filters": 3, "kernel_size": k, "padding": p}},
              st.integers(1, 3), PADDING),
    st.builds(lambda kind, k, s, p: {kind: {"pool_size": k, "strides": s, "padding": p}},
              st.sampled_from(["MaxPooling2D", "AveragePooling2D"]), st.integers(1, 3),
              st.integers(1, 2), PADDING),
    st.builds(lambda d: {"ZeroPadding2D": {"padding": [1, 2], "data_format": d}}, FORMAT),
    st.builds(lambda d: {"UpSampling2D": {"size": 2, "data_format": d}}, FORMAT),
    st.just({"BatchNormalization": {"axis": -1}}),
    st.just({"LayerNormalization": {}}),
    st.just({"PReLU": {"shared_axes": [1, 2]}}),
    st.just({"Dropout": {"rate": 0.2}}),
)
sequence_layers = st.one_of(
    st.builds(lambda kind, u, seq, back, a: {kind: {"units": u, "return_sequences": seq,
                                                    "go_backwards": back, "activation": a}},
              st.sampled_from(["SimpleRNN", "LSTM", "GRU"]), st.integers(1, 4), st.just(True),
              st.booleans(), st.sampled_from(["tanh", "relu", "gelu", "sigmoid"])),
    st.builds(lambda kind, mode: {"Bidirectional": {"layer": {kind: {
        "units": 2, "return_sequences": True}}, "merge_mode": mode}},
              st.sampled_from(["SimpleRNN", "LSTM", "GRU"]),
              st.sampled_from(["concat", "sum", "mul", "ave"])),
    st.builds(lambda f, k, p: {"Conv1D": {"filters": f, "kernel_size": k, "padding": p}},
              st.integers(1, 3), st.integers(1, 2), st.sampled_from(["same", "causal"])),
    st.builds(lambda u, a: {"Dense": {"units": u, "activation": a}}, st.integers(1, 4),
              ACTIVATION),
    st.just({"MaxPooling1D": {"pool_size": 2, "padding": "same"}}),
    st.builds(lambda kind, u, back: {"RNN": {"cell": {kind: {"units": u}},
                                             "return_sequences": True, "go_backwards": back}},
              st.sampled_from(["SimpleRNNCell", "LSTMCell", "GRUCell"]), st.integers(1, 3),
              st.booleans()),
)


masked_layers = st.one_of(
    st.builds(lambda kind, u, back, zero: {kind: {"units": u, "return_sequences": True,
                                                  "go_backwards": back,
                                                  "zero_output_for_mask": zero}},
              st.sampled_from(["SimpleRNN", "LSTM", "GRU"]), st.integers(1, 3), st.booleans(),
              st.booleans()),
    st.builds(lambda kind, mode: {"Bidirectional": {"layer": {kind: {
        "units": 2, "return_sequences": True}}, "merge_mode": mode}},
              st.sampled_from(["SimpleRNN", "LSTM", "GRU"]),
              st.sampled_from(["concat", "sum", "mul", "ave"])),
    st.just({"BatchNormalization": {}}),
    st.builds(lambda back, zero: {"RNN": {"cell": {"StackedRNNCells": {"cells": [
        {"GRUCell": {"units": 2}}, {"LSTMCell": {"units": 3}}]}}, "return_sequences": True,
        "go_backwards": back, "zero_output_for_mask": zero}}, st.booleans(), st.booleans()),
    st.just({"TimeDistributed": {"layer": {"Dense": {"units": 2}}}}),
    st.just({"Sequential": {"layers": [{"Dense": {"units": 3, "activation": "tanh"}}]}}),
)


def _agrees_with_numpy(layers, input_shape, x):
    text = json.dumps({"input_shape": input_shape, "layers": layers})
    try:
        model = spec_module.load_text(text, "random.json").model
    except SeqcliError as exc:
        assert "zero or negative" in str(exc) or "ndim" in str(exc)
        return
    weights = weights_module.fresh(model)
    with np.errstate(over="ignore", invalid="ignore"):
        expected = NumpyEngine(model, weights).forward(x).output
    # chained exponential activations can overflow float32: then there is no number to
    # agree on (numpy says NaN where ONNX Runtime's fused LSTM may saturate)
    assume(np.isfinite(expected).all())
    y = OnnxRuntimeEngine(model, weights).forward(x).output
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5 * scale)


@settings(max_examples=40, deadline=None)
@given(size=st.integers(4, 9), body=st.lists(image_layers, min_size=1, max_size=4),
       end=st.sampled_from([{"Flatten": {}}, {"GlobalAveragePooling2D": {}}]))
def test_random_image_stacks_agree_with_numpy(size, body, end):
    x = np.random.default_rng(size).standard_normal((2, size, size, 3)).astype(np.float32)
    _agrees_with_numpy(body + [end, {"Dense": {"units": 3}}], [size, size, 3], x)


@settings(max_examples=30, deadline=None)
@given(steps=st.integers(1, 6), body=st.lists(sequence_layers, min_size=1, max_size=3),
       end=st.sampled_from([{"LSTM": {"units": 2}}, {"GRU": {"units": 2, "reset_after": False}},
                            {"GlobalAveragePooling1D": {}}]))
def test_random_sequence_stacks_agree_with_numpy(steps, body, end):
    x = np.random.default_rng(steps).standard_normal((3, steps, 4)).astype(np.float32)
    _agrees_with_numpy(body + [end], [steps, 4], x)


def test_evaluate_takes_engine_onnxruntime(cli, tmp_path):
    """The digits MLP's loss and accuracy, the same through either engine."""
    digits = os.path.join(SPECS, "digits")
    spec = os.path.join(digits, "mlp.yaml")
    assert cli("init", spec, "-o", tmp_path / "w.npz", "--seed", "3").exit_code == 0
    args = ["evaluate", spec, "--data", os.path.join(digits, "test.npz"), "--weights",
            tmp_path / "w.npz", "--format", "json"]
    numpy_scores = cli(*args)
    onnx_scores = cli(*args, "--engine", "onnxruntime")
    assert onnx_scores.exit_code == 0, onnx_scores.stderr
    expected, got = json.loads(numpy_scores.stdout), json.loads(onnx_scores.stdout)
    assert got.keys() == expected.keys() and "accuracy" in got
    for key in expected:
        assert got[key] == pytest.approx(expected[key], rel=1e-5), key


@settings(max_examples=30, deadline=None)
@given(steps=st.integers(2, 6), body=st.lists(masked_layers, min_size=1, max_size=3),
       end=st.sampled_from([{"LSTM": {"units": 2}}, {"GlobalAveragePooling1D": {}},
                            {"Bidirectional": {"layer": {"GRU": {"units": 2}}}}]))
def test_random_masked_stacks_agree_with_numpy(steps, body, end):
    """After an Embedding with mask_zero, zeros (padding) anywhere in the rows."""
    rng = np.random.default_rng(steps)
    x = (rng.integers(0, 6, (3, steps)) * (rng.random((3, steps)) < 0.7)).astype(np.float32)
    embedding = {"Embedding": {"input_dim": 6, "output_dim": 3, "mask_zero": True}}
    _agrees_with_numpy([embedding] + body + [end], [steps], x)
