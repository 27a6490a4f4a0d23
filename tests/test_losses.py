"""Each loss's value and its gradient with respect to the output, against Keras 3's on
JAX (fixtures: make_fixtures.py loss_values), and its arguments' one-line errors."""

import glob
import json
import os

import numpy as np
import pytest

from seqcli import losses
from seqcli.errors import SeqcliError
from tests.conftest import FIXTURES

CASES = sorted(glob.glob(os.path.join(FIXTURES, "loss_values", "*.npz")))


@pytest.mark.parametrize("path", CASES, ids=lambda p: os.path.basename(p)[:-4])
def test_loss_value_and_gradient_match_keras(path):
    data = np.load(path, allow_pickle=False)
    loss = losses.get(json.loads(str(data["loss"])))
    weight = data["sample_weight"] if "sample_weight" in data.files else None
    value, grad = losses.loss_and_gradient(loss, data["y_true"], data["y_pred"], weight)
    assert value == pytest.approx(float(data["value"]), rel=1e-5, abs=1e-6)
    assert grad.shape == data["grad"].shape and grad.dtype == np.float32
    scale = max(float(np.abs(data["grad"]).max()), 1e-6)
    np.testing.assert_allclose(grad, data["grad"], rtol=1e-5, atol=1e-5 * scale)


def test_every_added_loss_has_value_fixtures():
    names = {losses.get(json.loads(str(np.load(p)["loss"])))[0] for p in CASES}
    first = {"mean_squared_error", "mean_absolute_error", "huber", "binary_crossentropy",
             "categorical_crossentropy", "sparse_categorical_crossentropy", "kl_divergence"}
    assert names == set(losses.LOSSES) - first


@pytest.mark.parametrize("name, expected", [
    ("mape", "mean_absolute_percentage_error"), ("MAPE", "mean_absolute_percentage_error"),
    ("msle", "mean_squared_logarithmic_error"), ("logcosh", "log_cosh"),
    ("LogCosh", "log_cosh"), ("bce", "binary_crossentropy"), ("Poisson", "poisson"),
    ("CategoricalHinge", "categorical_hinge"), ("BinaryFocalCrossentropy(True, 0.5)",
                                                "binary_focal_crossentropy"),
    ("Tversky(0.7, 0.3, axis=[1, 2])", "tversky"), ("Dice(axis=-1)", "dice")])
def test_keras_names_and_calls_are_taken(name, expected):
    assert losses.get(name)[0] == expected


@pytest.mark.parametrize("value, message", [
    ({"cosine_similarity": {"axis": 1.5}}, "cosine_similarity's `axis` must be an integer"),
    ({"dice": {"axis": "last"}}, "dice's `axis` must be null, an integer or a list"),
    ({"tversky": {"axis": [1, True]}}, "tversky's `axis` must be null, an integer or a list"),
    ({"tversky": {"alpha": "x"}}, "tversky's `alpha` must be a number"),
    ({"binary_focal_crossentropy": {"apply_class_balancing": 1}},
     "`apply_class_balancing` must be true or false"),
    ({"categorical_focal_crossentropy": {"label_smoothing": 2}}, "must be a number from 0"),
    ({"hinge": {"delta": 1}}, "hinge has no argument `delta`"),
    ("Poisson('sum', 'p', 'float32', 1)", "takes at most 3 positional arguments"),
    ({"log_cosh": {"reduction": "none"}}, "would leave one loss per sample"),
])
def test_bad_arguments_are_one_line_errors(value, message):
    with pytest.raises(SeqcliError) as error:
        losses.get(value, "--loss")
    assert message in str(error.value) and "\n" not in str(error.value)


def test_dice_axis_taking_in_the_batch_axis_is_refused():
    with pytest.raises(SeqcliError, match="dice's `axis` takes in the batch axis 0"):
        losses.get({"dice": {"axis": [0, 1]}}, "--loss")
    loss = losses.get({"tversky": {"axis": [-3, 1]}})  # -3 is the batch axis at rank 3
    y = np.ones((2, 3, 4), np.float32)
    with pytest.raises(ValueError, match="batch axis 0"):
        losses.loss_and_gradient(loss, y, y)
    with pytest.raises(ValueError, match="out of range"):
        losses.loss_and_gradient(losses.get({"dice": {"axis": 3}}), y, y)


@pytest.mark.parametrize("loss", [
    {"tversky": {"alpha": 0.7, "beta": 0.3, "axis": -1}}, "dice", {"dice": {"axis": [1]}},
    {"cosine_similarity": {"axis": 1}}, "log_cosh", "poisson", {"hinge": {"reduction": "sum"}},
    {"binary_focal_crossentropy": {"apply_class_balancing": True, "gamma": 1.5}},
    {"categorical_focal_crossentropy": {"alpha": 0.5, "label_smoothing": 0.1}}])
def test_a_keras_archive_keeps_the_loss_and_its_arguments(cli, tmp_path, loss):
    """Written as Keras's class and read back as the same setting (Keras's defaults
    left out; Dice's default axis is null, not the crossentropies' -1)."""
    import yaml

    spec = {"name": "m", "input_shape": [4], "compile": {"loss": loss, "optimizer": "adam"},
            "layers": [{"Dense": {"units": 3, "activation": "sigmoid"}}]}
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(spec))
    assert cli("convert", tmp_path / "m.yaml", "-o", tmp_path / "m.keras").exit_code == 0
    assert cli("convert", tmp_path / "m.keras", "-o", tmp_path / "back.yaml").exit_code == 0
    back = yaml.safe_load((tmp_path / "back.yaml").read_text())["compile"]["loss"]
    assert losses.get(back) == losses.get(loss)
