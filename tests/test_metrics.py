"""Keras's metrics by the names, classes and arguments Keras takes (values: the training
fixtures metrics_*.npz, from Keras 3 on JAX, compared in test_training_parity)."""

import json

import numpy as np
import pytest

from seqcli import metrics, training
from seqcli.errors import SeqcliError
from tests.test_cli import assert_clean_error


@pytest.mark.parametrize("value, canonical, logged", [
    ("mape", "mean_absolute_percentage_error", "mape"),
    ("MSLE", "mean_squared_logarithmic_error", "MSLE"),
    ("RootMeanSquaredError", "root_mean_squared_error", "RootMeanSquaredError"),
    ("KLDivergence", "kl_divergence", "KLDivergence"),
    ("log_cosh_error", "log_cosh_error", "log_cosh_error"),
    ("AUC", "auc", "AUC"), ("auc", "auc", "auc"), ("Accuracy", "accuracy", "Accuracy"),
    ("true_negatives", "true_negatives", "true_negatives"),
    ("LogCoshError()", "log_cosh_error", "logcosh"),  # Keras's class default name
    ('AUC(curve="PR", name="pr_auc")', "auc", "pr_auc"),
    ({"Precision": [0.3, None, None, "p30"]}, "precision", "p30"),
    ({"recall": {"thresholds": 0.2}}, "recall", "recall"),
    ("F1Score('macro')", "f1_score", "f1_score"),
    ({"f1_score": {"average": "micro"}}, "f1_score", "f1_score"),
    ("FBetaScore(average='weighted', beta=2.0)", "f_beta_score", "fbeta_score"),
    ({"f_beta_score": ["micro", 0.5, 0.3, "f05"]}, "f_beta_score", "f05"),
    ("PrecisionAtRecall(0.5)", "precision_at_recall", "precision_at_recall"),
    ({"recall_at_precision": {"precision": 0.8, "num_thresholds": 20}},
     "recall_at_precision", "recall_at_precision"),
    ("SensitivityAtSpecificity(0.5, 1, None, 'sens')", "sensitivity_at_specificity", "sens"),
    ({"SpecificityAtSensitivity": [0.9]}, "specificity_at_sensitivity",
     "specificity_at_sensitivity"),
    ("pearson_correlation", "pearson_correlation", "pearson_correlation"),
    ("ConcordanceCorrelation", "concordance_correlation", "ConcordanceCorrelation"),
    ("PearsonCorrelation('r', None, 0)", "pearson_correlation", "r"),
])
def test_names_as_keras_takes_them_and_logs_them(value, canonical, logged):
    assert metrics.get(value)[0] == canonical
    assert metrics.make(value, (4, 1), (4, 1)).name == logged


def test_every_metric_takes_its_keras_class_name():
    from seqcli.setting_tables import METRIC_CLASSES

    # the IoU metrics' and PrecisionAtRecall's kin's required arguments, and the
    # F-scores' average (its default refused)
    needed = {"num_classes": 3, "target_class_ids": [0], "average": "macro", "recall": 0.5,
              "precision": 0.5, "sensitivity": 0.5, "specificity": 0.5}
    for name, class_name in METRIC_CLASSES.items():
        args = {k: v for k, v in needed.items() if metrics.METRICS[name].get(k, 0) is None}
        assert metrics.get({class_name: args})[0] == name
    with pytest.raises(SeqcliError, match="needs `num_classes`"):
        metrics.get("MeanIoU")
    with pytest.raises(SeqcliError, match="out of range"):
        metrics.get("IoU(3, [0, 3])")


@pytest.mark.parametrize("value, words", [
    ("mapee", ["unknown metric 'mapee'", "did you mean 'mape'"]),
    ("rmse", ["unknown metric 'rmse'"]),
    ("logcosh", ["did you mean 'log_cosh_error'"]),  # not a name Keras's metrics take
    ("AUC(curve='ROCC')", ["curve", "one of ROC"]),
    ("AUC(num_thresholds=1)", ["num_thresholds", "> 1"]),
    ("AUC(num_labels=3)", ["num_labels", "multi_label"]),
    ("Precision(thresholds=1.5)", ["thresholds", "[0, 1]"]),
    ("Precision(thresholds=[0.3, 0.5])", ["one number"]),
    ("Recall(tresholds=0.3)", ["did you mean 'thresholds'"]),
    ("TopKCategoricalAccuracy(k=0)", ["positive integer"]),
    ("SparseTopKCategoricalAccuracy(from_sorted_ids=True)", ["not supported yet"]),
    ("F1Score", ["average", "null", "one score per class", "'micro'"]),
    ("F1Score(average=None)", ["average", "null", "one number per metric"]),
    ("F1Score(average='mean')", ["average", "one of micro, macro, weighted"]),
    ("fbeta_score(average='macro')", ["unknown metric", "did you mean 'f_beta_score'"]),
    ("FBetaScore(average='macro', beta=2)", ["beta", "float", "2.0"]),
    ("FBetaScore(average='macro', beta=-1.0)", ["beta", "> 0"]),
    ("F1Score(average='macro', threshold=1.5)", ["threshold", "<= 1"]),
    ("PrecisionAtRecall", ["precision_at_recall needs `recall`"]),
    ("RecallAtPrecision(precision=1.2)", ["precision", "[0, 1]"]),
    ("SensitivityAtSpecificity(0.5, num_thresholds=0)", ["num_thresholds", "positive"]),
    ("SpecificityAtSensitivity(0.5, class_id='a')", ["class_id", "integer"]),
    ("SpecificityAtSensitivity(sensitivty=0.5)", ["did you mean 'sensitivity'"]),
    ("PearsonCorrelation(axis=1.5)", ["axis", "integer"]),
    ("pearson_corelation", ["did you mean 'pearson_correlation'"]),
])
def test_bad_metrics_are_one_line_errors(value, words):
    with pytest.raises(SeqcliError) as caught:
        metrics.check([value], "--metrics")
    for word in words:
        assert word in str(caught.value)


def test_root_mean_squared_error_is_the_root_of_the_epochs_mean():
    metric = metrics.make("RootMeanSquaredError", (2, 1), (2, 1))
    metric.update(np.zeros((1, 1), np.float32), np.full((1, 1), 3, np.float32))
    metric.update(np.zeros((3, 1), np.float32), np.ones((3, 1), np.float32))
    assert metric.result() == pytest.approx(np.sqrt((9 + 3) / 4))  # not (3 + 1) / 2


def test_adjusted_r2_counts_every_value_as_keras_does():
    """Keras's num_samples is the targets' size (values, not rows); Keras's fit on JAX
    cannot run num_regressors, so no training fixture has it."""
    rng = np.random.default_rng(5)
    y = rng.standard_normal((30, 2)).astype(np.float32)
    p = (y + rng.standard_normal((30, 2))).astype(np.float32)
    plain, adjusted = (metrics.make(v, y.shape, p.shape)
                       for v in ("R2Score", "R2Score(num_regressors=4)"))
    plain.update(y, p)
    adjusted.update(y, p)
    n = y.size
    assert adjusted.result() == pytest.approx(1 - (1 - plain.result()) * (n - 1) / (n - 4 - 1))
    with pytest.raises(SeqcliError, match="class_aggregation"):
        metrics.check(["R2Score(class_aggregation=None)"])


def test_confusion_counts_merged_from_parts_equal_one_pass():
    """What a Dask evaluate does: each chunk's counts, merged in order."""
    rng = np.random.default_rng(3)
    y = (rng.random((40, 3)) > 0.5).astype(np.float32)
    p = rng.random((40, 3)).astype(np.float32)
    for value in ("AUC", "AUC(multi_label=True)", "Precision(top_k=1)", "FalseNegatives",
                  "R2Score", "F1Score('macro')", "FBetaScore('weighted', 2.0, 0.4)",
                  "F1Score('micro', 0.6)", "PrecisionAtRecall(0.4)",
                  "SpecificityAtSensitivity(0.6, 7, 1)",
                  "concordance_correlation"):
        whole, merged = metrics.make(value, y.shape, p.shape), metrics.make(value, y.shape, p.shape)
        whole.update(y, p)
        for part in (slice(0, 15), slice(15, 40)):
            piece = metrics.make(value, y.shape, p.shape)
            piece.update(y[part], p[part])
            merged.merge(piece.state())
        assert merged.result() == pytest.approx(whole.result(), rel=1e-6), value


def test_early_stopping_watches_auc_upwards_as_keras_does():
    from seqcli.cli_train import _monitor

    compiled = training.compile_settings({"loss": "binary_crossentropy",
                                          "metrics": ["AUC", "mape", "precision"]})
    assert _monitor("val_AUC", compiled, "validation", True).maximize
    assert _monitor("precision", compiled, None, True).maximize
    assert not _monitor("val_mape", compiled, "validation", True).maximize
    scored = training.compile_settings({"loss": "binary_crossentropy",
                                        "metrics": ["F1Score(average='micro')"]})
    assert _monitor("f1_score", scored, None, True).maximize
    held = training.compile_settings({"loss": "binary_crossentropy",
                                      "metrics": ["PrecisionAtRecall(0.5)"]})
    assert _monitor("precision_at_recall", held, None, True).maximize
    correlated = training.compile_settings({"loss": "mse", "metrics": ["pearson_correlation"]})
    assert _monitor("pearson_correlation", correlated, None, True).maximize
    assert not _monitor("loss", compiled, None, True).maximize


@pytest.fixture
def binary(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((60, 4)).astype(np.float32)
    y = (x[:, :1] > 0).astype(np.float32)
    np.savez("data.npz", x=x, y=y)
    (tmp_path / "clf.yaml").write_text(
        "name: clf\ninput_shape: [4]\nlayers:\n  - Dense: {units: 1, activation: sigmoid}\n"
        "compile:\n  loss: binary_crossentropy\n  metrics: [AUC, 'Precision(0.3)']\n")
    return tmp_path


def test_fit_and_evaluate_log_the_metrics_named_on_the_command_line(cli, binary):
    fitted = cli("fit", "clf.yaml", "--data", "data.npz", "-o", "w.npz", "--epochs", "2",
                 "--metrics", 'AUC(curve="PR", num_thresholds=50),mape',
                 "--metrics", "RootMeanSquaredError")
    assert fitted.exit_code == 0, fitted.stderr
    assert " - auc: " in fitted.stdout and " - mape: " in fitted.stdout
    assert " - RootMeanSquaredError: " in fitted.stdout
    scores = cli("evaluate", "clf.yaml", "--data", "data.npz", "--weights", "w.npz",
                 "--format", "json")
    assert set(json.loads(scores.stdout)) == {"loss", "AUC", "precision"}
    assert_clean_error(cli("evaluate", "clf.yaml", "--data", "data.npz", "--weights", "w.npz",
                           "--metrics", "AUC(curve='ROCC')"), 1, "--metrics", "curve")


def test_a_keras_file_keeps_a_metric_with_arguments(cli, binary):
    import zipfile

    fitted = cli("fit", "clf.yaml", "--data", "data.npz", "-o", "m.keras", "--epochs", "1")
    assert fitted.exit_code == 0, fitted.stderr
    again = cli("evaluate", "m.keras", "--data", "data.npz", "--format", "json")
    assert again.exit_code == 0, again.stderr
    assert set(json.loads(again.stdout)) == {"loss", "AUC", "precision"}
    with zipfile.ZipFile("m.keras") as archive:
        compiled = json.loads(archive.read("config.json"))["compile_config"]
    assert compiled["metrics"] == ["AUC", {  # as Keras serializes Precision(0.3)
        "module": "keras.metrics", "class_name": "Precision",
        "config": {"name": "precision", "thresholds": 0.3}, "registered_name": None}]


def test_a_keras_file_keeps_an_f_score_as_keras_serializes_it(cli, binary):
    import zipfile

    fitted = cli("fit", "clf.yaml", "--data", "data.npz", "-o", "f.keras", "--epochs", "1",
                 "--metrics", "FBetaScore(average='micro', beta=2.0, threshold=0.5)")
    assert fitted.exit_code == 0, fitted.stderr
    assert " - fbeta_score: " in fitted.stdout
    with zipfile.ZipFile("f.keras") as archive:
        compiled = json.loads(archive.read("config.json"))["compile_config"]
    assert compiled["metrics"] == [{
        "module": "keras.metrics", "class_name": "FBetaScore",
        "config": {"name": "fbeta_score", "average": "micro", "beta": 2.0, "threshold": 0.5},
        "registered_name": None}]
    again = cli("evaluate", "f.keras", "--data", "data.npz", "--format", "json")
    assert again.exit_code == 0, again.stderr
    assert set(json.loads(again.stdout)) == {"loss", "fbeta_score"}


def test_a_weighted_correlation_over_the_batch_axis_is_a_clean_error():
    """Keras fails too: PearsonCorrelation(axis=0) leaves no per-sample values to weigh."""
    y = np.ones((6, 3), np.float32)
    metric = metrics.make("PearsonCorrelation(axis=0)", y.shape, y.shape, weighted=True)
    with pytest.raises(SeqcliError, match=r"sample weights of shape \(6,\) do not fit"):
        metric.update(y, y * 2, sample_weight=np.ones(6, np.float32))


def test_unnamed_objects_are_numbered_as_a_fresh_keras_session_names_them():
    """AUC() twice is auc, auc_1 (Keras's auto_name), before the logs number repeats;
    a string or a named object takes no number (fixture metrics_session_names)."""
    values = ["AUC()", {"AUC": {"curve": "PR"}}, "AUC", "AUC(name='auc')", "Precision()",
              {"recall": {"name": "r"}}, {"AUC": {}}]
    assert metrics.session_names(values) == ["auc", "auc_1", "AUC", "auc", "precision", "r",
                                             "auc_2"]
    made = [metrics.make(v, (4, 1), (4, 1)) for v in values]
    metrics.name_uniquely(made[:4], made[4:])
    assert [m.name for m in made] == ["auc", "auc_1", "AUC", "auc_1", "precision", "r",
                                      "auc_2"]


def test_a_keras_file_names_a_second_unnamed_auc_as_keras_does(cli, binary):
    import zipfile

    fitted = cli("fit", "clf.yaml", "--data", "data.npz", "-o", "two.keras", "--epochs", "1",
                 "--metrics", "AUC(),AUC(curve='PR')")
    assert fitted.exit_code == 0, fitted.stderr
    assert " - auc: " in fitted.stdout and " - auc_1: " in fitted.stdout
    with zipfile.ZipFile("two.keras") as archive:
        compiled = json.loads(archive.read("config.json"))["compile_config"]
    assert [m["config"]["name"] for m in compiled["metrics"]] == ["auc", "auc_1"]
    again = cli("evaluate", "two.keras", "--data", "data.npz", "--format", "json")
    assert again.exit_code == 0, again.stderr
    assert list(json.loads(again.stdout)) == ["loss", "auc", "auc_1"]


@pytest.mark.parametrize("setting", ["label_weights=[1, 2, 3]", "num_labels=3"])
def test_a_multi_label_auc_must_count_the_output_columns(cli, tmp_path, setting):
    """One curve per output column: another count is refused before any training (it
    ended an epoch in an internal error, or was taken silently)."""
    rng = np.random.default_rng(2)
    np.savez(tmp_path / "d.npz", x=rng.standard_normal((20, 4)).astype(np.float32),
             y=(rng.random((20, 2)) > 0.5).astype(np.float32))
    (tmp_path / "m.yaml").write_text("input_shape: [4]\nlayers:\n"
                                     "  - Dense: {units: 2, activation: sigmoid}\n")
    result = cli("fit", tmp_path / "m.yaml", "--data", tmp_path / "d.npz", "-o",
                 tmp_path / "w.npz", "--loss", "binary_crossentropy", "--metrics",
                 f"AUC(multi_label=True, {setting})")
    assert_clean_error(result, 1, "metric auc", "the model outputs 2 columns")
    assert "Epoch" not in result.stdout and not (tmp_path / "w.npz").exists()
