"""The design's promises: one forward traversal (one penalty for fit and evaluate),
a model traced once per command, and commands that are all reachable."""

import json

import numpy as np

from seqcli import spec as spec_module
from seqcli import training
from seqcli import weights as weights_module


def load(layers, input_shape):
    text = json.dumps({"input_shape": input_shape, "layers": layers})
    return spec_module.load_text(text, "case.json").model


def evaluate_and_fit_loss(model, x, y):
    """evaluate's loss, and the loss fit reports for one step with no learning."""
    weights = weights_module.fresh(model, seed=1)
    compiled = training.compile_settings({"loss": "mse",
                                          "optimizer": {"sgd": {"learning_rate": 1e-30}}})
    scored = training.evaluate(model, weights, x, y, compiled, batch_size=len(x))["loss"]
    history = training.fit(model, weights, x, y, compiled,
                           training.FitOptions(batch_size=len(x), shuffle=False))
    return scored, history.epochs[0]["loss"], weights


def test_time_distributed_activity_regularization_counts_in_evaluate():
    # Keras adds the inner layer's term, over batch * timesteps samples, in both
    model = load([{"TimeDistributed": {"layer": {"ActivityRegularization": {"l1": 1.0}}}},
                  {"Flatten": {}}, {"Dense": {"units": 2}}], [3, 4])
    x = np.random.default_rng(0).normal(size=(5, 3, 4)).astype(np.float32)
    y = np.zeros((5, 2), np.float32)
    scored, fitted, weights = evaluate_and_fit_loss(model, x, y)
    plain = load([{"Flatten": {}}, {"Dense": {"units": 2, "name": "dense"}}], [3, 4])
    base = training.evaluate(plain, weights, x, y, training.compile_settings({"loss": "mse"}),
                             batch_size=len(x))["loss"]
    assert scored == np.float32(fitted)
    assert abs(scored - (base + np.abs(x).sum() / 15)) < 1e-5


def test_a_nested_models_penalty_survives_a_mask():
    model = load([{"Embedding": {"input_dim": 5, "output_dim": 3, "mask_zero": True}},
                  {"LSTM": {"units": 4}},
                  {"Sequential": {"name": "head", "layers": [
                      {"ActivityRegularization": {"l2": 100.0}}, {"Dense": {"units": 1}}]}}],
                 [6])
    x = np.array([[1, 2, 3, 0, 0, 0], [4, 1, 0, 0, 0, 0]], np.float32)
    y = np.zeros((2, 1), np.float32)
    scored, fitted, weights = evaluate_and_fit_loss(model, x, y)
    params = weights_module.nest(weights)
    lstm = model.run(params, x, keep={"lstm"}).collected["lstm"]
    penalty = 100.0 * float((lstm * lstm).sum()) / len(x)
    assert penalty > 1e-3  # far above the tolerance below
    assert abs(scored - fitted) < 1e-6
    y_pred = model.forward(params, x)
    assert abs(scored - (float(((y_pred - y) ** 2).mean()) + penalty)) < 1e-5


def test_batch_normalization_statistics_move_only_through_the_training_loop():
    model = load([{"BatchNormalization": {}}], [3])
    weights = weights_module.fresh(model)
    params = weights_module.nest(weights)
    x = np.random.default_rng(0).normal(2.0, 1.0, (8, 3)).astype(np.float32)
    result = model.run(params, x, training=True, rng=None)
    assert np.all(weights["batch_normalization/moving_mean"] == 0)  # the pass changed nothing
    moved = result.updates["batch_normalization/moving_mean"]
    assert np.allclose(moved, 0.01 * x.mean(axis=0), rtol=1e-5)


def test_run_traces_the_model_once(cli, tmp_path, monkeypatch):
    from seqcli import model as model_module

    traced = []
    step = model_module._step

    def counting(layer, input_shape):
        traced.append(layer.name)
        return step(layer, input_shape)

    monkeypatch.setattr(model_module, "_step", counting)
    layers = [{"Dense": {"units": 3}}] * 5
    (tmp_path / "m.json").write_text(json.dumps({"input_shape": [4], "layers": layers}))
    np.save(tmp_path / "x.npy", np.ones((2, 4), np.float32))
    result = cli("run", tmp_path / "m.json", "--input", tmp_path / "x.npy",
                 "-o", tmp_path / "y.npy")
    assert result.exit_code == 0, result.stderr
    assert sorted(traced) == ["dense", "dense_1", "dense_2", "dense_3", "dense_4"]


def test_every_command_module_is_reachable():
    import importlib

    import click

    from seqcli.cli import COMMAND_MODULES, cli

    for module in sorted(set(COMMAND_MODULES.values())):
        importlib.import_module(module)
    registered = set(cli.commands)
    assert registered == set(COMMAND_MODULES), registered ^ set(COMMAND_MODULES)
    for name, module in COMMAND_MODULES.items():
        command = cli.commands[name]
        assert isinstance(command, click.Command)
        assert command.callback.__module__ == module, name


def test_every_named_loss_optimizer_metric_and_activation_has_its_functions():
    from seqcli import activations, losses, metrics, ops, optimizers

    assert set(losses._FUNCTIONS) == set(losses.LOSSES)
    assert set(optimizers.UPDATES) == set(optimizers.OPTIMIZERS)
    assert set(metrics.METRICS) == {*metrics._FUNCTIONS, *metrics.LOSS_METRICS,
                                    *metrics.F_SCORES, metrics.ROOT_MEAN, "r2_score",
                                    *metrics.CONFUSION}
    for forward, gradient in activations.ACTIVATIONS.values():
        assert callable(getattr(ops, forward)) and callable(getattr(ops, gradient))


def test_ctrl_c_exits_130_with_one_line():
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import ROOT

    process = subprocess.Popen([sys.executable, "-m", "seqcli", "summary", "-"],
                               stdin=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    time.sleep(3.0)  # started, and reading standard input, which never ends
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130
    assert err.decode().strip().splitlines()[-1] == "seqcli: error: interrupted"
