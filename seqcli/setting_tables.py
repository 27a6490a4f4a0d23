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


LOSSES = {
    "mean_squared_error": {},
    "mean_absolute_error": {},
    "huber": {"delta": 1.0},
    "binary_crossentropy": {"from_logits": False},
    "categorical_crossentropy": {"from_logits": False},
    "sparse_categorical_crossentropy": {"from_logits": False},
    "kl_divergence": {},
}
LOSS_ALIASES = {"mse": "mean_squared_error", "mae": "mean_absolute_error",
                "kld": "kl_divergence", "kullback_leibler_divergence": "kl_divergence",
                "huber_loss": "huber", "k_l_divergence": "kl_divergence"}
