"""The names and default arguments of Keras's optimizers and losses, without numpy:
`optimizers` and `losses` compute with these, and reading a compiled Keras model's
compile_config (for a summary) needs only the names and defaults.
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
OPTIMIZER_ALIASES = {"SGD": "sgd", "Adam": "adam", "AdamW": "adamw", "RMSprop": "rmsprop",
                     "Adagrad": "adagrad", "r_m_sprop": "rmsprop", "adam_w": "adamw"}


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
# Keras's reductions; None and "none" (no reduction) leave one loss per sample, which
# neither Keras's fit (on JAX) nor seqcli can train on or report as one number
REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight")
LOSS_ALIASES = {"mse": "mean_squared_error", "mae": "mean_absolute_error",
                "kld": "kl_divergence", "kullback_leibler_divergence": "kl_divergence",
                "huber_loss": "huber", "k_l_divergence": "kl_divergence",
                # keras.losses.get's own short names, and Keras's legacy `logcosh`
                "bce": "binary_crossentropy", "mape": "mean_absolute_percentage_error",
                "msle": "mean_squared_logarithmic_error", "logcosh": "log_cosh"}
