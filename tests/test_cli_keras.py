"""Keras's files through the command line: own weights unless --weights, located
one-line errors, summary without numpy or h5py, Keras 2 JSON, standard input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

import h5py
import numpy as np

from tests.test_keras_files import KERAS, fixture, path


def test_summary_of_a_keras_archive_imports_neither_numpy_nor_h5py():
    code = ("import sys; from seqcli.cli import main; sys.argv = ['seqcli', 'summary', "
            f"{path('frozen_nested', '.keras')!r}]\n"
            "try: main()\nexcept SystemExit: pass\n"
            "print('numpy' in sys.modules, 'h5py' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert "base (Sequential)" in out
    assert out.splitlines()[-1] == "False False"


def test_run_uses_the_files_own_weights_unless_weights_is_given(cli, tmp_path):
    data = fixture("bn_cnn")
    np.save(tmp_path / "x.npy", data["x"])
    result = cli("run", path("bn_cnn", ".keras"), "--input", tmp_path / "x.npy",
                 "-o", tmp_path / "y.npy")
    assert result.exit_code == 0, result.stderr
    assert f"seqcli: weights from {path('bn_cnn', '.keras')}" in result.stderr
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), data["y"], atol=1e-5)
    assert cli("init", path("bn_cnn", ".keras"), "-o", tmp_path / "fresh.npz").exit_code == 0
    result = cli("run", path("bn_cnn", ".keras"), "--input", tmp_path / "x.npy",
                 "--weights", tmp_path / "fresh.npz", "-o", tmp_path / "y2.npy")
    assert result.exit_code == 0 and "weights from" not in result.stderr
    assert not np.allclose(np.load(tmp_path / "y2.npy"), data["y"], atol=1e-3)


def test_extract_weights_evaluate_and_fit_take_a_keras_file(cli, tmp_path):
    data = fixture("frozen_nested")
    np.savez(tmp_path / "d.npz", x=data["x"], y=np.array([0, 2]))
    source = path("frozen_nested", ".keras")
    np.save(tmp_path / "x.npy", data["x"])
    result = cli("extract", source, "--input", tmp_path / "x.npy", "--layer", "base",
                 "-o", tmp_path / "f.npz")
    assert result.exit_code == 0, result.stderr
    assert np.load(tmp_path / "f.npz")["base"].shape == (2, 6)
    result = cli("weights", source)
    assert result.exit_code == 0 and "base/conv2d/kernel" in result.stdout
    result = cli("evaluate", source, "--data", tmp_path / "d.npz")  # compile from the file
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("loss: ") and "accuracy" in result.stdout
    # the file's head gives logits to a probability loss (Keras clips them: no gradient);
    # mse on targets of the output's shape trains it
    np.savez(tmp_path / "r.npz", x=data["x"], y=np.eye(3, dtype="float32")[[0, 2]])
    result = cli("fit", source, "--data", tmp_path / "r.npz", "-o", tmp_path / "t.npz",
                 "--epochs", 1, "--loss", "mse")
    assert result.exit_code == 0, result.stderr
    tuned = np.load(tmp_path / "t.npz")
    for key in tuned.files:  # the frozen base is bit-identical, the head moved
        if key.startswith("base/"):
            assert np.array_equal(tuned[key], data[f"w:{key}"])
    assert not np.array_equal(tuned["dense/kernel"], data["w:dense/kernel"])


def test_evaluate_of_a_spec_still_needs_weights(cli, tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((2, 4), "float32"), y=np.zeros((2, 2), "float32"))
    result = cli("evaluate", os.path.join(KERAS, "..", "..", "..", "specs", "guide_input.yaml"),
                 "--data", tmp_path / "d.npz", "--loss", "mse")
    assert result.exit_code == 2 and "--weights" in result.stderr


def _archive_with(tmp_path, change):
    with zipfile.ZipFile(path("mnist_convnet", ".keras")) as archive:
        files = {n: archive.read(n) for n in archive.namelist()}
    config = json.loads(files["config.json"])
    change(config["config"]["layers"])
    files["config.json"] = json.dumps(config).encode()
    target = tmp_path / "model.keras"
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return target


def test_an_unsupported_argument_names_the_file_member_layer_and_argument(cli, tmp_path):
    def change(layers):
        layers[-1]["config"]["lora_rank"] = 4

    result = cli("summary", _archive_with(tmp_path, change))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"seqcli: error: {tmp_path / 'model.keras'}:config.json: "
                                    "config.layers[7] (Dense 'dense'): the Keras argument "
                                    "`lora_rank`=4 is not supported by seqcli's Dense")
    assert len(result.stderr.splitlines()) == 1


def test_a_bad_value_is_located_in_the_keras_file(cli, tmp_path):
    def change(layers):
        layers[1]["config"]["filters"] = 0

    result = cli("summary", _archive_with(tmp_path, change))
    assert result.exit_code == 1
    line = result.stderr.strip()
    assert "model.keras:config.json: config.layers[1]" in line and "`filters`" in line


def test_an_unknown_class_names_the_layer(cli, tmp_path):
    def change(layers):
        layers[1]["class_name"] = "MultiHeadAttention"

    result = cli("summary", _archive_with(tmp_path, change))
    assert result.exit_code == 1
    assert "config.layers[1] (MultiHeadAttention 'conv2d')" in result.stderr
    assert "seqcli catalog" in result.stderr


def _weights_copy(tmp_path, change):
    target = tmp_path / "w.weights.h5"
    target.write_bytes(open(path("mnist_convnet", ".weights.h5"), "rb").read())
    with h5py.File(target, "r+") as h5:
        change(h5)
    return target


def test_weights_h5_missing_extra_and_misshaped_weights(cli, tmp_path):
    spec = path("mnist_convnet", ".json")

    def missing(h5):
        del h5["layers/dense/vars/1"]

    def misshaped(h5):
        del h5["layers/conv2d/vars/0"]
        h5["layers/conv2d/vars/0"] = np.zeros((3, 3, 1, 9), "float32")

    def extra(h5):
        h5["layers/dense_1/vars/0"] = np.zeros((3,), "float32")

    for change, needle in ((missing, "layer 'dense' has 2 weights (kernel, bias); "
                                     "layers/dense/vars holds 1"),
                           (misshaped, "weight 'conv2d/kernel' (layer 'conv2d', weight "
                                       "'kernel') declares shape (3, 3, 1, 9); the layer "
                                       "needs (3, 3, 1, 8)"),
                           (extra, "unexpected weights at layers/dense_1")):
        result = cli("weights", spec, "--weights", _weights_copy(tmp_path, change))
        assert result.exit_code == 1, result.stdout
        assert needle in result.stderr and len(result.stderr.splitlines()) == 1


def test_keras2_json_and_standard_input(cli, tmp_path):
    """Keras 2's JSON (what tf-keras's to_json writes: no `module`, batch_input_shape),
    here taken from a tf-keras .h5, read from a file and from standard input."""
    with h5py.File(path("bn_cnn", "_k2.h5"), "r") as h5:
        text = h5.attrs["model_config"]
    text = text.decode() if isinstance(text, bytes) else text
    assert '"module"' not in text and "batch_input_shape" in text
    (tmp_path / "k2.json").write_text(text)
    for args, stdin in (((tmp_path / "k2.json",), None), (("-",), text)):
        result = cli("summary", *args, "--format", "json", input=stdin)
        assert result.exit_code == 0, result.stderr
        rows = [[r["name"], r["class_name"], r["output_shape"][1:], r["params"]]
                for r in json.loads(result.stdout)["layers"]]
        assert rows == json.loads(str(fixture("bn_cnn")["rows"]))


def test_a_weights_file_given_as_the_model_says_what_to_do(cli):
    result = cli("summary", path("mnist_convnet", "_k2w.h5"))
    assert result.exit_code == 1
    assert "a weights file, not a model" in result.stderr
