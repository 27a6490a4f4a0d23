"""The names and default arguments of Keras's optimizers, losses and metrics, without
numpy: `optimizers`, `losses` and `metrics` compute with these, and reading a compiled
Keras model's compile_config (for a summary) needs only the names and defaults.
"""

OPTIMIZERS = {
    "sgd": {"learning_rate": 0.01, "momentum": 0.0, "nesterov": False},
    "adam": {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7,
             "amsgrad": False},
    "adamw": {"learning_rate": 0.001, "weight_decay": 0.004, "beta_1": 0.9, "beta_2": 0.999,
              "epsilon": 1e-7, "amsgrad": False},
    "rmsprop": {"learning_rate": 0.001, "rho": 0.9, "momentum": 0.0, "epsilon": 1e-7,
                "centered": False},
    "adagrad": {"learning_rate": 0.001, "initial_accumulator_value": 0.1, "epsilon": 1e-7},
}
# the Keras class of each optimizer; its name is also an alias
OPTIMIZER_CLASSES = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop",
                     "adagrad": "Adagrad"}
OPTIMIZER_ALIASES = {**{cls: name for name, cls in OPTIMIZER_CLASSES.items()},
                     "r_m_sprop": "rmsprop", "adam_w": "adamw"}


# what every Keras 3 optimizer takes besides its own arguments (None: off)
COMMON = {"weight_decay": None, "clipnorm": None, "clipvalue": None, "global_clipnorm": None,
          "use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None}
for _defaults in OPTIMIZERS.values():
    for _key, _value in COMMON.items():
        _defaults.setdefault(_key, _value)


# Keras's order of each class's positional arguments: `Adam(1e-3)`, `Huber(0.5)`
OPTIMIZER_POSITIONAL = {
    "sgd": ["learning_rate", "momentum", "nesterov"],
    "adam": ["learning_rate", "beta_1", "beta_2", "epsilon", "amsgrad"],
    "adamw": ["learning_rate", "weight_decay", "beta_1", "beta_2", "epsilon", "amsgrad"],
    "rmsprop": ["learning_rate", "rho", "momentum", "epsilon", "centered"],
    "adagrad": ["learning_rate", "initial_accumulator_value", "epsilon"],
}
for _name, _order in OPTIMIZER_POSITIONAL.items():  # then the shared ones, as Keras has them
    _order += [k for k in ("weight_decay", "clipnorm", "clipvalue", "global_clipnorm", "use_ema",
                           "ema_momentum", "ema_overwrite_frequency") if k not in _order]


# every argument of Keras 3's loss classes; `name` and `dtype` are accepted as Keras
# takes them (seqcli computes in float32)
_REDUCE = {"reduction": "sum_over_batch_size", "name": None, "dtype": None}
LOSSES = {
    "mean_squared_error": {**_REDUCE},
    "mean_absolute_error": {**_REDUCE},
    "huber": {"delta": 1.0, **_REDUCE},
    "binary_crossentropy": {"from_logits": False, "label_smoothing": 0.0, "axis": -1,
                            **_REDUCE},
    "categorical_crossentropy": {"from_logits": False, "label_smoothing": 0.0, "axis": -1,
                                 **_REDUCE},
    "sparse_categorical_crossentropy": {"from_logits": False, "ignore_class": None,
                                        "axis": -1, **_REDUCE},
    "kl_divergence": {**_REDUCE},
    "poisson": {**_REDUCE},
    "log_cosh": {**_REDUCE},
    "hinge": {**_REDUCE},
    "squared_hinge": {**_REDUCE},
    "categorical_hinge": {**_REDUCE},
    "cosine_similarity": {"axis": -1, **_REDUCE},
    "mean_absolute_percentage_error": {**_REDUCE},
    "mean_squared_logarithmic_error": {**_REDUCE},
    "binary_focal_crossentropy": {"apply_class_balancing": False, "alpha": 0.25, "gamma": 2.0,
                                  "from_logits": False, "label_smoothing": 0.0, "axis": -1,
                                  **_REDUCE},
    "categorical_focal_crossentropy": {"alpha": 0.25, "gamma": 2.0, "from_logits": False,
                                       "label_smoothing": 0.0, "axis": -1, **_REDUCE},
    "dice": {"axis": None, **_REDUCE},
    "tversky": {"alpha": 0.5, "beta": 0.5, "axis": None, **_REDUCE},
}
LOSS_POSITIONAL = {  # Keras's own order (SparseCategoricalCrossentropy's reduction before axis)
    "mean_squared_error": ["reduction", "name", "dtype"],
    "mean_absolute_error": ["reduction", "name", "dtype"],
    "huber": ["delta", "reduction", "name", "dtype"],
    "binary_crossentropy": ["from_logits", "label_smoothing", "axis", "reduction", "name",
                            "dtype"],
    "categorical_crossentropy": ["from_logits", "label_smoothing", "axis", "reduction",
                                 "name", "dtype"],
    "sparse_categorical_crossentropy": ["from_logits", "ignore_class", "reduction", "axis",
                                       "name", "dtype"],
    "kl_divergence": ["reduction", "name", "dtype"],
    "poisson": ["reduction", "name", "dtype"],
    "log_cosh": ["reduction", "name", "dtype"],
    "hinge": ["reduction", "name", "dtype"],
    "squared_hinge": ["reduction", "name", "dtype"],
    "categorical_hinge": ["reduction", "name", "dtype"],
    "cosine_similarity": ["axis", "reduction", "name", "dtype"],
    "mean_absolute_percentage_error": ["reduction", "name", "dtype"],
    "mean_squared_logarithmic_error": ["reduction", "name", "dtype"],
    "binary_focal_crossentropy": ["apply_class_balancing", "alpha", "gamma", "from_logits",
                                  "label_smoothing", "axis", "reduction", "name", "dtype"],
    "categorical_focal_crossentropy": ["alpha", "gamma", "from_logits", "label_smoothing",
                                       "axis", "reduction", "name", "dtype"],
    "dice": ["reduction", "name", "axis", "dtype"],  # Keras's order: axis after name
    "tversky": ["alpha", "beta", "reduction", "name", "axis", "dtype"],
}
# the Keras class of each loss
LOSS_CLASSES = {
    "mean_squared_error": "MeanSquaredError", "mean_absolute_error": "MeanAbsoluteError",
    "huber": "Huber", "binary_crossentropy": "BinaryCrossentropy",
    "categorical_crossentropy": "CategoricalCrossentropy",
    "sparse_categorical_crossentropy": "SparseCategoricalCrossentropy",
    "kl_divergence": "KLDivergence", "poisson": "Poisson", "log_cosh": "LogCosh",
    "hinge": "Hinge", "squared_hinge": "SquaredHinge", "categorical_hinge": "CategoricalHinge",
    "cosine_similarity": "CosineSimilarity",
    "mean_absolute_percentage_error": "MeanAbsolutePercentageError",
    "mean_squared_logarithmic_error": "MeanSquaredLogarithmicError",
    "binary_focal_crossentropy": "BinaryFocalCrossentropy",
    "categorical_focal_crossentropy": "CategoricalFocalCrossentropy",
    "dice": "Dice", "tversky": "Tversky",
}
# Keras's reductions; None and "none" (no reduction) leave one loss per sample, which
# neither Keras's fit (on JAX) nor seqcli can train on or report as one number
REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight")
LOSS_ALIASES = {"mse": "mean_squared_error", "mae": "mean_absolute_error",
                "kld": "kl_divergence", "kullback_leibler_divergence": "kl_divergence",
                "huber_loss": "huber", "k_l_divergence": "kl_divergence",
                # keras.losses.get's own short names, and Keras's legacy `logcosh`
                "bce": "binary_crossentropy", "mape": "mean_absolute_percentage_error",
                "msle": "mean_squared_logarithmic_error", "logcosh": "log_cosh"}


# every argument of Keras 3's metric classes, in Keras's positional order, with its
# default; the Keras class of each
_OWN = {"name": None, "dtype": None}
METRIC_CLASSES = {
    "accuracy": "Accuracy", "binary_accuracy": "BinaryAccuracy",
    "categorical_accuracy": "CategoricalAccuracy",
    "sparse_categorical_accuracy": "SparseCategoricalAccuracy",
    "top_k_categorical_accuracy": "TopKCategoricalAccuracy",
    "sparse_top_k_categorical_accuracy": "SparseTopKCategoricalAccuracy",
    "mean_absolute_error": "MeanAbsoluteError", "mean_squared_error": "MeanSquaredError",
    "mean_absolute_percentage_error": "MeanAbsolutePercentageError",
    "mean_squared_logarithmic_error": "MeanSquaredLogarithmicError",
    "binary_crossentropy": "BinaryCrossentropy",
    "categorical_crossentropy": "CategoricalCrossentropy",
    "sparse_categorical_crossentropy": "SparseCategoricalCrossentropy",
    "kl_divergence": "KLDivergence", "poisson": "Poisson", "hinge": "Hinge",
    "squared_hinge": "SquaredHinge", "categorical_hinge": "CategoricalHinge",
    "cosine_similarity": "CosineSimilarity", "log_cosh_error": "LogCoshError",
    "root_mean_squared_error": "RootMeanSquaredError",
    "true_positives": "TruePositives", "false_positives": "FalsePositives",
    "true_negatives": "TrueNegatives", "false_negatives": "FalseNegatives",
    "precision": "Precision", "recall": "Recall", "auc": "AUC", "r2_score": "R2Score",
    "binary_io_u": "BinaryIoU", "io_u": "IoU", "mean_io_u": "MeanIoU",
    "one_hot_io_u": "OneHotIoU", "one_hot_mean_io_u": "OneHotMeanIoU",
    "f1_score": "F1Score", "f_beta_score": "FBetaScore",
    "precision_at_recall": "PrecisionAtRecall", "recall_at_precision": "RecallAtPrecision",
    "sensitivity_at_specificity": "SensitivityAtSpecificity",
    "specificity_at_sensitivity": "SpecificityAtSensitivity",
    "pearson_correlation": "PearsonCorrelation",
    "concordance_correlation": "ConcordanceCorrelation",
}
METRICS = {
    **{name: dict(_OWN) for name in METRIC_CLASSES},
    "binary_accuracy": {**_OWN, "threshold": 0.5},
    "top_k_categorical_accuracy": {"k": 5, **_OWN},
    "sparse_top_k_categorical_accuracy": {"k": 5, **_OWN, "from_sorted_ids": False},
    "binary_crossentropy": {**_OWN, "from_logits": False, "label_smoothing": 0.0},
    "categorical_crossentropy": {**_OWN, "from_logits": False, "label_smoothing": 0.0,
                                 "axis": -1},
    "sparse_categorical_crossentropy": {**_OWN, "from_logits": False, "ignore_class": None,
                                        "axis": -1},
    "cosine_similarity": {**_OWN, "axis": -1},
    **{name: {"thresholds": None, **_OWN}
       for name in ("true_positives", "false_positives", "true_negatives", "false_negatives")},
    "precision": {"thresholds": None, "top_k": None, "class_id": None, **_OWN},
    "recall": {"thresholds": None, "top_k": None, "class_id": None, **_OWN},
    "auc": {"num_thresholds": 200, "curve": "ROC", "summation_method": "interpolation", **_OWN,
            "thresholds": None, "multi_label": False, "num_labels": None,
            "label_weights": None, "from_logits": False},
    "r2_score": {"class_aggregation": "uniform_average", "num_regressors": 0, **_OWN},
    # num_classes and IoU's target_class_ids are required (None: not given)
    "binary_io_u": {"target_class_ids": [0, 1], "threshold": 0.5, **_OWN},
    "io_u": {"num_classes": None, "target_class_ids": None, **_OWN, "ignore_class": None,
             "sparse_y_true": True, "sparse_y_pred": True, "axis": -1},
    "mean_io_u": {"num_classes": None, **_OWN, "ignore_class": None, "sparse_y_true": True,
                  "sparse_y_pred": True, "axis": -1},
    "one_hot_io_u": {"num_classes": None, "target_class_ids": None, **_OWN,
                     "ignore_class": None, "sparse_y_pred": False, "axis": -1},
    "one_hot_mean_io_u": {"num_classes": None, **_OWN, "ignore_class": None,
                          "sparse_y_pred": False, "axis": -1},
    # average null (Keras's default) gives one score per class: refused in seqcli.metrics
    "f1_score": {"average": None, "threshold": None, **_OWN},
    "f_beta_score": {"average": None, "beta": 1.0, "threshold": None, **_OWN},
    # the first argument, the value to hold, is required (None: not given)
    **{name: {value: None, "num_thresholds": 200, "class_id": None, **_OWN}
       for name, value in (("precision_at_recall", "recall"),
                           ("recall_at_precision", "precision"),
                           ("sensitivity_at_specificity", "specificity"),
                           ("specificity_at_sensitivity", "sensitivity"))},
    "pearson_correlation": {**_OWN, "axis": -1},
    "concordance_correlation": {**_OWN, "axis": -1},
}
METRIC_POSITIONAL = {name: list(defaults) for name, defaults in METRICS.items()}
# keras.metrics.get's short names; "acc" and any case of "accuracy" as compile takes them
METRIC_ALIASES = {"acc": "accuracy", "ACC": "accuracy", "Acc": "accuracy",
                  "mae": "mean_absolute_error", "mse": "mean_squared_error",
                  "mape": "mean_absolute_percentage_error",
                  "msle": "mean_squared_logarithmic_error", "bce": "binary_crossentropy"}
# the name Keras logs a metric given with arguments under, where not its canonical name
METRIC_DEFAULT_NAMES = {"log_cosh_error": "logcosh", "f_beta_score": "fbeta_score"}
