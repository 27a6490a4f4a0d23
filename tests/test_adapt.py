"""`seqcli adapt` against Keras's adapt (fixtures from make_catalog.py adapt), its exact
merge across batches, and its refusals (nothing written)."""

import glob
import json
import os

import numpy as np
import pytest
import yaml

from seqcli import spec as spec_module
from seqcli import weights as weights_module
from tests.conftest import FIXTURES

CASES = sorted(glob.glob(os.path.join(FIXTURES, "adapt", "*.npz")))


def prepare(path, tmp_path):
    """The fixture's spec, data and the other layers' weights, as files."""
    data = np.load(path, allow_pickle=False)
    spec = tmp_path / "model.json"
    spec.write_text(str(data["spec"]))
    np.save(tmp_path / "x.npy", data["x"])
    model = spec_module.load_text(str(data["spec"]), "model.json").model
    weights = weights_module.fresh(model)
    weights.update({k[2:]: data[k] for k in data.files if k.startswith("w:")})
    np.savez(tmp_path / "w.npz", **weights)
    return data, spec


@pytest.mark.parametrize("path", CASES, ids=lambda p: os.path.basename(p)[:-4])
def test_adapt_learns_what_keras_learns(path, tmp_path, cli):
    data, spec = prepare(path, tmp_path)
    result = cli("adapt", spec, "--data", tmp_path / "x.npy", "--weights", tmp_path / "w.npz",
                 "--batch-size", int(data["batch_size"]), "-o", tmp_path / "out.npz",
                 "--spec-out", tmp_path / "adapted.yaml")
    assert result.exit_code == 0, result.stderr
    learned = np.load(tmp_path / "out.npz")
    adapted = yaml.safe_load((tmp_path / "adapted.yaml").read_text())
    layers = {name: args for entry in adapted["layers"] for name, args in entry.items()}
    checked = 0
    for key in data.files:
        kind, _, layer = key.partition(":")
        if kind in ("mean", "variance"):
            np.testing.assert_allclose(learned[f"{layer}/{kind}"], data[key], rtol=1e-5,
                                       atol=1e-6)
            checked += 1
        elif kind == "bins":
            assert layers["Discretization"]["name"] == layer
            np.testing.assert_allclose(layers["Discretization"]["bin_boundaries"], data[key],
                                       rtol=1e-5, atol=1e-6)
            checked += 1
    assert checked
    for key in learned.files:  # the other weights and Normalization's count are untouched
        if not key.endswith(("/mean", "/variance")):
            np.testing.assert_array_equal(learned[key], np.load(tmp_path / "w.npz")[key])


def adapt_spec(tmp_path, layers, x):
    spec = tmp_path / "m.yaml"
    spec.write_text(json.dumps({"input_shape": list(x.shape[1:]), "layers": layers}))
    np.save(tmp_path / "x.npy", x)
    return spec


@pytest.mark.parametrize("axis", [-1, None, [1, 2]])
def test_normalization_does_not_depend_on_the_batching(tmp_path, cli, axis):
    x = (np.random.default_rng(0).standard_normal((999, 3, 2)) * 1000 + 5e4).astype(np.float32)
    spec = adapt_spec(tmp_path, [{"Normalization": {"axis": axis}}], x)
    results = []
    for batch_size in (1, 7, 1000):
        out = tmp_path / f"w{batch_size}.npz"
        assert cli("adapt", spec, "--data", tmp_path / "x.npy", "-o", out,
                   "--batch-size", batch_size).exit_code == 0
        results.append(np.load(out))
    keep = () if axis is None else ((2,) if axis == -1 else (1, 2))
    reduce = tuple(d for d in range(3) if d not in keep)
    exact_mean = x.astype(np.float64).mean(axis=reduce)
    exact_variance = x.astype(np.float64).var(axis=reduce)
    for result in results:
        np.testing.assert_allclose(result["normalization/mean"], exact_mean, rtol=1e-7)
        np.testing.assert_allclose(result["normalization/variance"], exact_variance, rtol=1e-6)
        assert result["normalization/count"] == 0  # as Keras 3 leaves it


def test_the_adapted_model_runs(tmp_path, cli):
    x = np.random.default_rng(1).uniform(-3, 9, (200, 2)).astype(np.float32)
    spec = adapt_spec(tmp_path, [{"Normalization": {}},
                                 {"Discretization": {"num_bins": 4, "output_mode": "one_hot"}}],
                      x)
    assert cli("adapt", spec, "--data", tmp_path / "x.npy", "-o", tmp_path / "w.npz",
               "--spec-out", tmp_path / "a.yaml").exit_code == 0
    result = cli("run", tmp_path / "a.yaml", "--input", tmp_path / "x.npy",
                 "--weights", tmp_path / "w.npz", "-o", tmp_path / "y.npy")
    assert result.exit_code == 0, result.stderr
    counts = np.load(tmp_path / "y.npy").sum(axis=0)  # quartiles: about a quarter per bin
    assert counts.shape == (2, 4) and np.all(np.abs(counts - 50) <= 5)


def test_only_the_named_layer_adapts(tmp_path, cli):
    x = np.random.default_rng(2).normal(4, 2, (50, 3)).astype(np.float32)
    spec = adapt_spec(tmp_path, [{"Normalization": {"name": "a"}},
                                 {"Normalization": {"name": "b"}}], x)
    assert cli("adapt", spec, "--data", tmp_path / "x.npy", "-o", tmp_path / "w.npz",
               "--layer", "b").exit_code == 0
    w = np.load(tmp_path / "w.npz")
    np.testing.assert_array_equal(w["a/mean"], np.zeros(3))  # fresh, as it was
    np.testing.assert_allclose(w["b/mean"], x.mean(axis=0), rtol=1e-6)  # a fresh a: identity


def assert_refused(result, status, words, tmp_path, kept):
    assert result.exit_code == status
    assert result.stderr.startswith("seqcli: error:") and words in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept)


def test_refusals_write_nothing(tmp_path, cli):
    x = np.random.default_rng(3).normal(0, 1, (20, 3)).astype(np.float32)
    spec = adapt_spec(tmp_path, [{"Normalization": {}}, {"Discretization": {"num_bins": 3}}],
                      x)
    kept = ["m.yaml", "x.npy"]
    data = ("--data", tmp_path / "x.npy")
    assert_refused(cli("adapt", spec, *data, "-o", tmp_path / "w.npz"), 2,
                   "give --spec-out", tmp_path, kept)
    assert_refused(cli("adapt", spec, *data, "--spec-out", tmp_path / "a.yaml"), 2,
                   "give -o W.npz", tmp_path, kept)
    assert_refused(cli("adapt", spec, *data, "-o", tmp_path / "w.npz",
                       "--spec-out", tmp_path / "missing" / "a.yaml"), 1,
                   "no folder", tmp_path, kept)
    assert_refused(cli("adapt", spec, *data, "-o", tmp_path / "w.npz", "--spec-out",
                       tmp_path / "a.onnx"), 2, ".yaml, .json or .keras", tmp_path, kept)
    assert_refused(cli("adapt", spec, *data, "-o", tmp_path / "w.npz", "--layer",
                       "normalisation"), 1, "did you mean 'normalization'", tmp_path, kept)
    np.save(tmp_path / "bad.npy", np.ones((4, 2), np.float32))
    kept.append("bad.npy")
    assert_refused(cli("adapt", spec, "--data", tmp_path / "bad.npy", "-o", tmp_path / "w.npz",
                       "--spec-out", tmp_path / "a.yaml"), 1, "", tmp_path, kept)
    x[7, 1] = np.nan  # named by file and sample; adapt has no --allow-nonfinite to offer
    np.save(tmp_path / "nan.npy", x)
    kept.append("nan.npy")
    result = cli("adapt", spec, "--data", tmp_path / "nan.npy", "-o", tmp_path / "w.npz",
                 "--spec-out", tmp_path / "a.yaml")
    assert result.exit_code == 1 and "allow-nonfinite" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"seqcli: error: {tmp_path / 'nan.npy'}: the input holds NaN or Inf (first in "
        "sample 7); fix the data")  # after the note on fresh weights
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept)


def test_a_model_without_adaptable_layers_is_refused(tmp_path, cli):
    x = np.ones((4, 2), np.float32)
    spec = adapt_spec(tmp_path, [{"Normalization": {"mean": 1.0, "variance": 2.0}},
                                 {"Dense": {"units": 2}}], x)
    assert_refused(cli("adapt", spec, "--data", tmp_path / "x.npy", "-o", tmp_path / "w.npz"),
                   1, "no layer that adapts", tmp_path, ["m.yaml", "x.npy"])


def test_data_as_csv_or_on_standard_input(tmp_path, cli):
    x = np.random.default_rng(4).normal(2, 3, (40, 2)).astype(np.float32)
    spec = adapt_spec(tmp_path, [{"Normalization": {}}], x)
    np.savetxt(tmp_path / "x.csv", x, delimiter=",")
    assert cli("adapt", spec, "--data", tmp_path / "x.csv", "-o", tmp_path / "a.npz").exit_code == 0
    with open(tmp_path / "x.npy", "rb") as handle:
        result = cli("adapt", spec, "--data", "-", "-o", tmp_path / "b.npz", input=handle.read())
    assert result.exit_code == 0, result.stderr
    for name in ("a.npz", "b.npz"):
        np.testing.assert_allclose(np.load(tmp_path / name)["normalization/mean"], x.mean(0),
                                   rtol=1e-5)
