"""`seqcli fit` with Keras's sample and class weights, schedules and regularizers, as a
user runs it."""

import os

import numpy as np
import pytest

from tests.test_cli import assert_clean_error
from tests.test_cli_train import MLP, TRAIN, fit, work  # noqa: F401 (fixture)


def test_class_weights_of_zero_leave_the_weights_alone(cli, work):
    cli("init", MLP, "-o", "start.npz", "--seed", "2")
    zero = ",".join(f"{label}:0" for label in range(10))
    result = fit(cli, MLP, "--data", TRAIN, "--weights", "start.npz", "-o", "end.npz",
                 "--class-weight", zero, "--optimizer", "sgd", "--no-shuffle")
    assert result.exit_code == 0, result.stderr
    start, end = np.load("start.npz"), np.load("end.npz")
    assert all(np.array_equal(start[key], end[key]) for key in start.files)
    one = fit(cli, MLP, "--data", TRAIN, "--weights", "start.npz", "-o", "one.npz",
              "--class-weight", "3:1", "--optimizer", "sgd", "--no-shuffle")
    assert one.exit_code == 0 and not np.array_equal(np.load("one.npz")["dense/kernel"],
                                                     start["dense/kernel"])


def test_sample_weights_scale_the_loss(cli, work):
    n = len(np.load(TRAIN)["y"])
    np.save("half.npy", np.full(n, 0.5, np.float32))
    logs = {}
    for name, extra in (("plain", []), ("half", ["--sample-weight", "half.npy"])):
        result = fit(cli, MLP, "--data", TRAIN, "-o", f"{name}.npz", "--optimizer", "sgd",
                     "--learning-rate", "1e-30", "--epochs", "1", "--no-shuffle", *extra)
        assert result.exit_code == 0, result.stderr
        logs[name] = float(result.stdout.split("loss: ")[1].split()[0])
    assert abs(logs["half"] - logs["plain"] / 2) < 1e-3


def test_weighting_errors(cli, work):
    np.save("short.npy", np.ones(3, np.float32))
    assert_clean_error(fit(cli, MLP, "--data", TRAIN, "-o", "w.npz", "--sample-weight",
                           "short.npy"), 1, "short.npy", "one number per sample")
    assert_clean_error(fit(cli, MLP, "--data", TRAIN, "-o", "w.npz", "--class-weight", "a:b"),
                       2, "CLASS:WEIGHT")
    assert_clean_error(fit(cli, MLP, "--data", TRAIN, "-o", "w.npz", "--class-weight", "0:1",
                           "--sample-weight", "short.npy"), 2, "not both")


def test_a_spec_with_a_schedule_and_regularizers_trains(cli, work, tmp_path):
    (tmp_path / "m.yaml").write_text(
        "input_shape: [64]\n"
        "compile:\n"
        "  optimizer: {adam: {learning_rate: {CosineDecay: {initial_learning_rate: 0.01,\n"
        "                                                   decay_steps: 40}},\n"
        "                     clipnorm: 1.0}}\n"
        "  loss: {sparse_categorical_crossentropy: {from_logits: true}}\n"
        "layers:\n"
        "  - Dense: {units: 16, activation: relu, kernel_regularizer: {L2: {l2: 0.001}},\n"
        "            kernel_constraint: {MaxNorm: {max_value: 1.5}}}\n"
        "  - Dense: {units: 10}\n")
    result = fit(cli, tmp_path / "m.yaml", "--data", TRAIN, "-o", "w.npz", "--epochs", "2")
    assert result.exit_code == 0, result.stderr
    kernel = np.load("w.npz")["dense/kernel"]
    assert np.sqrt((kernel ** 2).sum(axis=0)).max() <= 1.5 + 1e-5


def test_reduce_lr_on_plateau_lowers_the_rate_and_logs_it(cli, work):
    result = fit(cli, MLP, "--data", TRAIN, "-o", "w.npz", "--epochs", "4", "--optimizer",
                 "sgd", "--learning-rate", "1e-9", "--reduce-lr-on-plateau", "1",
                 "--reduce-lr-factor", "0.5", "--history", "h.json")
    assert result.exit_code == 0, result.stderr
    import json

    rates = json.load(open("h.json"))["learning_rate"]
    # a rate of 1e-9 learns nothing: every epoch after the first is a plateau
    assert rates == pytest.approx([1e-9, 1e-9, 5e-10, 2.5e-10], rel=1e-6)  # logged, then lowered
    schedule = "{'ExponentialDecay': {'initial_learning_rate': 0.1, 'decay_steps': 2, " \
               "'decay_rate': 0.5}}"
    assert_clean_error(fit(cli, MLP, "--data", TRAIN, "-o", "w.npz", "--optimizer",
                           f"SGD(learning_rate={schedule})", "--reduce-lr-on-plateau", "1"),
                       2, "schedule")


def test_fit_writes_keras_files_when_asked(cli, work):
    from seqcli import spec as spec_module

    result = fit(cli, MLP, "--data", TRAIN, "-o", "tuned.keras", "--epochs", "1",
                 "--checkpoint", "best.weights.h5", "--validation-split", "0.2")
    assert result.exit_code == 0, result.stderr
    loaded = spec_module.load("tuned.keras")
    assert [layer.name for layer in loaded.model.layers] == ["dense", "dense_1", "dense_2",
                                                             "dense_3"]
    assert loaded.weights(loaded.model)["dense/kernel"].shape == (64, 32)
    assert os.path.getsize("best.weights.h5") > 0
    assert_clean_error(fit(cli, MLP, "--data", TRAIN, "-o", "w.yaml"), 2, "holds no weights")
