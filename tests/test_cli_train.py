"""`seqcli fit` and `seqcli evaluate` as a user runs them."""

import csv
import json
import os
import signal

import numpy as np
import pytest

from tests.conftest import SPECS
from tests.test_cli import assert_clean_error

DIGITS = os.path.join(SPECS, "digits")
MLP = os.path.join(DIGITS, "mlp.yaml")
TRAIN = os.path.join(DIGITS, "train.npz")
TEST = os.path.join(DIGITS, "test.npz")


@pytest.fixture
def work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def fit(cli, *args):
    return cli("fit", *args)


def test_fit_trains_the_digits_mlp_to_a_stated_accuracy(cli, work):
    result = fit(cli, MLP, "--data", TRAIN, "-o", "trained.npz", "--epochs", "8", "--seed", "1",
                 "--history", "history.json")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()  # not a terminal: one line per epoch
    assert len(lines) == 8 and lines[0].startswith("Epoch 1/8 - 45 steps - ")
    assert "loss: " in lines[0] and "accuracy: " in lines[0]
    assert "trained for 8 epochs; wrote the weights to trained.npz" in result.stderr
    history = json.loads((work / "history.json").read_text())
    assert history["epoch"] == list(range(8)) and len(history["loss"]) == 8
    assert history["loss"][-1] < history["loss"][0] / 5
    scores = cli("evaluate", MLP, "--data", TEST, "--weights", "trained.npz", "--format", "json")
    assert json.loads(scores.stdout)["accuracy"] > 0.93
    text = cli("evaluate", MLP, "--data", TEST, "--weights", "trained.npz")
    assert text.stdout.startswith("loss: ") and " - accuracy: " in text.stdout


def test_frozen_layers_never_change(cli, work):
    frozen = cli("freeze", MLP, "--except-last", "-o", "frozen.yaml")
    assert frozen.exit_code == 0
    cli("init", "frozen.yaml", "-o", "start.npz", "--seed", "3")
    result = fit(cli, "frozen.yaml", "--data", TRAIN, "--weights", "start.npz", "-o", "end.npz",
                 "--epochs", "2", "--optimizer", "SGD(learning_rate=0.1, momentum=0.9)")
    assert result.exit_code == 0, result.stderr
    start, end = np.load("start.npz"), np.load("end.npz")
    for key in start.files:
        if key.startswith("dense_3/"):
            assert not np.array_equal(start[key], end[key])
        else:
            assert np.array_equal(start[key], end[key]), key


def test_validation_checkpoint_early_stopping_and_csv(cli, work):
    result = fit(cli, MLP, "--data", TRAIN, "-o", "last.npz", "--epochs", "30", "--seed", "1",
                 "--validation-split", "0.1", "--checkpoint", "best.npz", "--early-stopping", "2",
                 "--history", "history.csv")
    assert result.exit_code == 0, result.stderr
    assert "stopped early after" in result.stderr and "val_loss had not improved for 2" \
        in result.stderr
    with open("history.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert len(rows) < 30
    val_losses = [float(r["val_loss"]) for r in rows]
    best_epoch = int(np.argmin(val_losses))
    assert best_epoch == len(rows) - 3  # two epochs without improvement, then stop
    # the checkpoint holds the best epoch's weights: its val_loss is the minimum
    np.savez("val.npz", **{k: v[int(len(v) * 0.9) // 1:] for k, v in np.load(TRAIN).items()})
    data = np.load(TRAIN)
    split = int(np.floor(len(data["x"]) * 0.9))
    np.savez("held_out.npz", x=data["x"][split:], y=data["y"][split:])
    scores = json.loads(cli("evaluate", MLP, "--data", "held_out.npz", "--weights", "best.npz",
                            "--format", "json").stdout)
    assert scores["loss"] == pytest.approx(min(val_losses), rel=1e-6)


def test_compile_section_and_overrides(cli, work):
    np.savez("tiny.npz", x=np.random.default_rng(0).random((10, 64), dtype=np.float32),
             y=np.arange(10))
    result = fit(cli, MLP, "--data", "tiny.npz", "-o", "w.npz", "--loss", "mse")
    assert_clean_error(result, 1, "mean_squared_error", "targets have shape (10,)",
                       "(10, 10)")
    assert not os.path.exists("w.npz")
    assert_clean_error(fit(cli, MLP, "--data", "tiny.npz", "-o", "w.npz", "--metrics", "mae"),
                       1, "metric mae", "targets have shape (10,)")
    ok = fit(cli, MLP, "--data", "tiny.npz", "-o", "w.npz", "--metrics", "accuracy",
             "--metrics", "sparse_top_k_categorical_accuracy", "--optimizer", "sgd",
             "--learning-rate", "0.5")
    assert ok.exit_code == 0, ok.stderr
    assert " - accuracy: " in ok.stdout and " - sparse_top_k_categorical_accuracy: " in ok.stdout


def test_nan_loss_stops_and_writes_nothing_unless_asked(cli, work):
    x = np.ones((8, 64), np.float32)
    x[3, 0] = np.inf
    np.savez("bad.npz", x=x, y=np.zeros(8, np.int64))
    refused = fit(cli, MLP, "--data", "bad.npz", "-o", "w.npz")
    assert_clean_error(refused, 1, "the input holds NaN or Inf (first in sample 3)",
                       "--allow-nonfinite")
    result = fit(cli, MLP, "--data", "bad.npz", "-o", "w.npz", "--batch-size", "4",
                 "--allow-nonfinite")
    assert_clean_error(result, 1, "loss became nan at epoch 1, step 1", "nothing was written")
    assert not os.path.exists("w.npz")
    kept = fit(cli, MLP, "--data", "bad.npz", "-o", "w.npz", "--keep-on-nan", "--batch-size", "4",
               "--allow-nonfinite")
    assert kept.exit_code == 1 and "kept the weights" in kept.stderr
    assert all(np.isfinite(v).all() for v in np.load("w.npz").values())


def test_ctrl_c_stops_after_the_step_and_keeps_the_weights(cli, work, monkeypatch):
    from seqcli import cli_train

    def interrupt_at_step_3(self, step, logs):
        if step == 3:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(cli_train.Progress, "step", interrupt_at_step_3)
    result = fit(cli, MLP, "--data", TRAIN, "-o", "w.npz", "--epochs", "50",
                 "--history", "h.json")
    assert result.exit_code == 130
    assert "stopping after this step" in result.stderr
    assert "interrupted during epoch 1; kept what was trained" in result.stderr
    assert os.path.exists("w.npz") and len(json.loads(open("h.json").read())["loss"]) == 1


def test_dropout_trains_with_the_seed(cli, work):
    with open("drop.yaml", "w") as handle:
        handle.write("input_shape: [64]\ncompile: {loss: mse}\nlayers:\n"
                     "  - Dense: {units: 8}\n  - Dropout: {rate: 0.5}\n  - Dense: {units: 10}\n")
    data = np.load(TRAIN)
    np.savez("reg.npz", x=data["x"][:64], y=np.eye(10, dtype=np.float32)[data["y"][:64]])
    runs = {}
    for name, seed in (("a", "1"), ("b", "1"), ("c", "2")):
        assert fit(cli, "drop.yaml", "--data", "reg.npz", "-o", f"{name}.npz", "--seed", seed,
                   "--no-shuffle").exit_code == 0
        runs[name] = np.load(f"{name}.npz")["dense_1/kernel"]
    assert np.array_equal(runs["a"], runs["b"]) and not np.array_equal(runs["a"], runs["c"])


@pytest.mark.parametrize("args,status,words", [
    (["--data", TRAIN, "--optimizer", "adamm"], 1, "did you mean 'adam'"),
    (["--data", TRAIN, "--optimizer", "SGD(momentun=0.9)"], 1, "did you mean 'momentum'"),
    (["--data", TRAIN, "--optimizer", "SGD(0.1, 0.9, False, None, None, None, None, False, "
      "0.99, None, 1)"], 1, "SGD takes at most 10 positional arguments (learning_rate, "),
    (["--data", TRAIN, "--optimizer", "SGD(0.1, learning_rate=0.2)"], 1, "given twice"),
    (["--data", TRAIN, "--loss", "mse(None)"], 1, "one loss per sample"),
    (["--data", TRAIN, "--loss", "mse(reduction='avg')"], 1, "must be one of sum_over_batch"),
    (["--data", TRAIN, "--loss", "SparseCategoricalCrossentropy(axis=2)"], 1,
     "`axis` 2 is out of range for an output of rank 2"),
    (["--data", TRAIN, "--loss", "SparseCategoricalCrossentropy(ignore_class=0.5)"], 1,
     "`ignore_class` must be an integer or null"),
    (["--data", TRAIN, "--loss", "CategoricalCrossentropy(label_smoothing=2)"], 1,
     "`label_smoothing` must be a number from 0 to 1"),
    (["--data", TRAIN, "--loss", "Huber(dtype='float64')"], 1, "must be float32 or null"),
    (["--data", TRAIN, "--loss", "crossentropy"], 1, "unknown loss"),
    (["--data", TRAIN, "--metrics", "acuracy"], 1, "did you mean 'accuracy'"),
    (["--data", TRAIN, "--monitor", "val_loss", "--early-stopping", "2"], 1, "cannot monitor"),
    (["--data", TRAIN, "--validation-split", "0.2", "--validation-data", TRAIN], 2, "not both"),
    (["--data", TRAIN, "--validation-split", "1.5"], 2, "--validation-split"),
    (["--data", TRAIN, "--history", "h.txt"], 2, ".json or .csv"),
    (["--x", "x.npy"], 2, "--y"),
    ([], 2, "--data"),
])
def test_fit_errors(cli, work, args, status, words):
    assert_clean_error(fit(cli, MLP, "-o", "w.npz", *args), status, words)
    assert not os.path.exists("w.npz")


def test_positional_arguments_mean_what_keras_gives_them(cli, work):
    """Adam(2e-3, 0.8) on the command line and {Adam: [0.002, 0.8]} in a spec are
    Adam(learning_rate=0.002, beta_1=0.8), bit for bit; the losses' likewise."""
    spec = ("input_shape: [64]\ncompile: {optimizer: %s, loss: %s}\n"
            "layers:\n  - Dense: {units: 10}\n")
    with open("keywords.yaml", "w") as handle:
        handle.write(spec % ("{Adam: {learning_rate: 0.002, beta_1: 0.8}}",
                             "{SparseCategoricalCrossentropy: {from_logits: true}}"))
    with open("positional.yaml", "w") as handle:
        handle.write(spec % ("{Adam: [0.002, 0.8]}", "{SparseCategoricalCrossentropy: [true]}"))
    runs = [("keywords.yaml",), ("positional.yaml",),
            ("keywords.yaml", "--optimizer", "Adam(2e-3, 0.8)", "--loss",
             "SparseCategoricalCrossentropy(True, None, 'sum_over_batch_size')")]
    results = []
    for number, args in enumerate(runs):
        result = fit(cli, *args, "--data", TRAIN, "-o", f"{number}.npz", "--epochs", "1",
                     "--seed", "3")
        assert result.exit_code == 0, result.stderr
        results.append(np.load(f"{number}.npz")["dense/kernel"])
    assert np.array_equal(results[0], results[1]) and np.array_equal(results[0], results[2])
    changed = fit(cli, "keywords.yaml", "--data", TRAIN, "-o", "other.npz", "--epochs", "1",
                  "--seed", "3", "--optimizer", "Adam(2e-3, 0.7)")
    assert changed.exit_code == 0 and not np.array_equal(np.load("other.npz")["dense/kernel"],
                                                         results[0])


def test_data_errors(cli, work):
    np.savez("nox.npz", inputs=np.zeros((3, 64)), y=np.zeros(3))
    assert_clean_error(fit(cli, MLP, "--data", "nox.npz", "-o", "w.npz"), 1,
                       "expected exactly the arrays `x` and `y`")
    np.savez("short.npz", x=np.zeros((3, 64)), y=np.zeros(2))
    assert_clean_error(fit(cli, MLP, "--data", "short.npz", "-o", "w.npz"), 1,
                       "x has 3 samples and y has 2")
    np.savez("labels.npz", x=np.zeros((3, 64)), y=np.array([0, 4, 12]))
    assert_clean_error(fit(cli, MLP, "--data", "labels.npz", "-o", "w.npz"), 1,
                       "class indices must be whole numbers from 0 to 9")
    with open("noloss.yaml", "w") as handle:
        handle.write("input_shape: [64]\nlayers:\n  - Dense: {units: 10}\n")
    assert_clean_error(fit(cli, "noloss.yaml", "--data", TRAIN, "-o", "w.npz"), 1,
                       "no loss to train with")
    assert_clean_error(cli("evaluate", MLP, "--data", TRAIN), 2, "--weights")


def test_progress_bar_on_a_terminal():
    import io

    from seqcli.cli_train import Progress

    stream = io.StringIO()
    progress = Progress(stream, on_terminal=True)
    progress.epoch_begin(0, 2, 4)
    for step in range(1, 5):
        progress.step(step, {"loss": 1.0 / step, "accuracy": 0.5})
    progress.epoch_end(0, {"loss": 0.25}, improved=True)  # a shorter line than the last
    out = stream.getvalue()
    assert out.startswith("Epoch 1/2\n\r1/4 [======>.......................] - ETA: ")
    *_, before, final = out.rstrip("\n").split("\r")
    assert final.startswith("4/4 [==============================] - ")
    assert final.rstrip().endswith("- loss: 0.2500")
    assert len(final) == len(before)  # padded over the longer ETA line


def test_a_frozen_nested_base_stays_bit_identical(cli, work):
    rng = np.random.default_rng(0)
    np.save("x.npy", rng.random((12, 64, 64, 3), dtype=np.float32))
    np.save("y.npy", rng.integers(0, 1000, 12))
    np.savez("val.npz", x=rng.random((4, 64, 64, 3), dtype=np.float32), y=rng.integers(0, 1000, 4))
    transfer = os.path.join(SPECS, "guide_transfer.yaml")
    cli("init", transfer, "-o", "start.npz")
    result = fit(cli, transfer, "--x", "x.npy", "--y", "y.npy", "--weights", "start.npz",
                 "-o", "end.npz", "--epochs", "2", "--batch-size", "4", "--validation-data",
                 "val.npz", "--loss", "SparseCategoricalCrossentropy(from_logits=True)",
                 "--optimizer", "adam")
    assert result.exit_code == 0, result.stderr
    assert "val_loss: " in result.stdout
    start, end = np.load("start.npz"), np.load("end.npz")
    moved = {key for key in start.files if not np.array_equal(start[key], end[key])}
    assert moved == {"dense/kernel", "dense/bias"}


def test_a_keras_archive_from_fit_is_compiled_with_what_training_used(cli, tmp_path):
    """--loss, --optimizer and --metrics on the command line, not the spec's `compile:`."""
    import zipfile

    spec = tmp_path / "m.yaml"
    spec.write_text("input_shape: [2]\ncompile: {loss: mse, optimizer: sgd}\n"
                    "layers:\n  - Dense: {units: 1}\n")
    x, y = tmp_path / "x.npy", tmp_path / "y.npy"
    np.save(x, np.ones((8, 2), np.float32))
    np.save(y, np.ones((8, 1), np.float32))
    result = cli("fit", spec, "--x", x, "--y", y, "--loss", "Huber(0.5)", "--optimizer",
                 "Adam(1e-2)", "--metrics", "mae", "--epochs", "1", "-o", tmp_path / "m.keras")
    assert result.exit_code == 0, result.stderr
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        compiled = json.loads(archive.read("config.json"))["compile_config"]
    assert compiled["loss"]["class_name"] == "Huber"
    assert compiled["loss"]["config"]["delta"] == 0.5
    assert compiled["optimizer"]["class_name"] == "Adam"
    assert compiled["optimizer"]["config"]["learning_rate"] == 0.01
    assert compiled["metrics"] == ["mae"]


def test_a_monitored_value_that_is_nan_stops_early_as_keras_does(cli, tmp_path):
    """Keras's EarlyStopping: the first epoch sets the best, even to NaN, and no later
    epoch beats a NaN (a Pearson correlation over one column is always NaN)."""
    spec = tmp_path / "m.yaml"
    spec.write_text("input_shape: [2]\nlayers:\n  - Dense: {units: 1}\n")
    x, y = tmp_path / "x.npy", tmp_path / "y.npy"
    rng = np.random.default_rng(0)
    np.save(x, rng.normal(size=(16, 2)).astype(np.float32))
    np.save(y, rng.normal(size=(16, 1)).astype(np.float32))
    result = cli("fit", spec, "--x", x, "--y", y, "--loss", "mse", "--metrics",
                 "pearson_correlation", "--monitor", "pearson_correlation",
                 "--early-stopping", "1", "--epochs", "6", "-o", tmp_path / "w.npz")
    assert result.exit_code == 0, result.stderr
    assert "Epoch 2/6" in result.stdout and "Epoch 3/6" not in result.stdout
