"""A nested model's own `weights:` file: loaded, checked, and overridable."""

import shutil

import numpy as np

from tests.conftest import SPECS


def test_nested_weights_file_feeds_the_base(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copy(f"{SPECS}/base_cnn.yaml", "base_cnn.yaml")
    with open("transfer.yaml", "w") as handle:
        handle.write("name: transfer\nlayers:\n"
                     "  - Sequential: {name: base, spec: base_cnn.yaml, weights: base.npz,"
                     " trainable: false}\n  - Dense: {units: 5}\n")
    x = np.random.default_rng(0).random((2, 64, 64, 3), dtype=np.float32)
    np.save("x.npy", x)
    assert cli("init", "base_cnn.yaml", "-o", "base.npz", "--seed", "4").exit_code == 0
    assert cli("run", "base_cnn.yaml", "--input", "x.npy", "--weights", "base.npz",
               "-o", "features.npy").exit_code == 0

    # init keeps the pre-trained base and draws only the new head
    made = cli("init", "transfer.yaml", "-o", "all.npz", "--seed", "9")
    assert made.exit_code == 0 and "base: weights from base.npz" in made.stderr
    all_weights, base = np.load("all.npz"), np.load("base.npz")
    for key in base.files:
        np.testing.assert_array_equal(all_weights[f"base/{key}"], base[key])

    # without --weights: base from its file, head fresh
    run = cli("run", "transfer.yaml", "--input", "x.npy", "-o", "y.npy")
    assert run.exit_code == 0 and "fresh weights (seed 0) for 2 of 6 weights" in run.stderr
    head = cli("init", "transfer.yaml", "-o", "head.npz", "--seed", "0")
    assert head.exit_code == 0
    h = np.load("head.npz")
    expected = np.load("features.npy") @ h["dense/kernel"] + h["dense/bias"]
    np.testing.assert_allclose(np.load("y.npy"), expected, rtol=1e-5, atol=1e-6)

    # a main file may omit the nested model's weights, or override them
    np.savez("head_only.npz", **{"dense/kernel": h["dense/kernel"], "dense/bias": h["dense/bias"]})
    assert cli("run", "transfer.yaml", "--input", "x.npy", "--weights", "head_only.npz",
               "-o", "y2.npy").exit_code == 0
    np.testing.assert_array_equal(np.load("y2.npy"), np.load("y.npy"))


def test_a_wrong_nested_weights_file_is_named(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copy(f"{SPECS}/base_cnn.yaml", "base_cnn.yaml")
    np.savez("base.npz", **{"conv2d/kernel": np.zeros((3, 3, 3, 16), np.float32)})
    with open("transfer.yaml", "w") as handle:
        handle.write("layers:\n  - Sequential: {spec: base_cnn.yaml, weights: base.npz}\n")
    result = cli("weights", "transfer.yaml", "--weights", "base.npz")
    assert result.exit_code == 1
    assert "base.npz" in result.stderr and "missing weight 'conv2d/bias'" in result.stderr
