"""Keras's optimizers, with Keras 3's update rules and defaults (epsilon 1e-7...).

An optimizer updates weight arrays in place, and only the keys it is told are
trainable: frozen weights are never touched, so they stay bit-for-bit equal.
"""

from __future__ import annotations

import numpy as np

from seqcli.settings import resolve

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
ALIASES = {"SGD": "sgd", "Adam": "adam", "AdamW": "adamw", "RMSprop": "rmsprop",
           "Adagrad": "adagrad", "r_m_sprop": "rmsprop", "adam_w": "adamw"}


def get(value, where: str = "") -> tuple[str, dict]:
    return resolve(value, OPTIMIZERS, ALIASES, "optimizer", where)


class Optimizer:
    """One optimizer's state (moments, velocities...) per weight key."""

    def __init__(self, setting: tuple[str, dict]):
        self.name, self.args = setting
        self.iterations = 0
        self.slots: dict[str, dict] = {}

    def apply(self, weights: dict, grads: dict, trainable: list[str]) -> None:
        """One step on the trainable keys, in place."""
        update = UPDATES[self.name]
        for key in trainable:
            variable, gradient = weights[key], grads[key].astype(weights[key].dtype, copy=False)
            update(self, key, variable, gradient, np.float32(self.args["learning_rate"]))
        self.iterations += 1

    def _slot(self, key, name, like, fill=0.0):
        slots = self.slots.setdefault(key, {})
        if name not in slots:
            slots[name] = np.full_like(like, fill)
        return slots[name]

    def _sgd(self, key, variable, gradient, lr):
        momentum = self.args["momentum"]
        if momentum == 0:
            variable -= gradient * lr
            return
        m = self._slot(key, "momentum", variable)
        m *= np.float32(momentum)
        m -= gradient * lr
        if self.args["nesterov"]:
            variable += m * np.float32(momentum) - gradient * lr
        else:
            variable += m

    def _adam(self, key, variable, gradient, lr):
        beta_1, beta_2 = np.float32(self.args["beta_1"]), np.float32(self.args["beta_2"])
        step = np.float32(self.iterations + 1)
        alpha = lr * np.sqrt(1 - beta_2 ** step) / (1 - beta_1 ** step)
        m, v = self._slot(key, "m", variable), self._slot(key, "v", variable)
        m += (gradient - m) * (1 - beta_1)
        v += (gradient * gradient - v) * (1 - beta_2)
        if self.args["amsgrad"]:
            v_hat = self._slot(key, "v_hat", variable)
            np.maximum(v_hat, v, out=v_hat)
            v = v_hat
        variable -= (m * alpha) / (np.sqrt(v) + np.float32(self.args["epsilon"]))

    def _adamw(self, key, variable, gradient, lr):
        # Keras applies the decoupled weight decay first, then the Adam step
        variable -= variable * np.float32(self.args["weight_decay"]) * lr
        self._adam(key, variable, gradient, lr)

    def _rmsprop(self, key, variable, gradient, lr):
        rho, epsilon = np.float32(self.args["rho"]), np.float32(self.args["epsilon"])
        velocity = self._slot(key, "velocity", variable)
        velocity[...] = rho * velocity + (1 - rho) * gradient * gradient
        if self.args["centered"]:
            average = self._slot(key, "average_gradient", variable)
            average[...] = rho * average + (1 - rho) * gradient
            denominator = velocity - average * average + epsilon
        else:
            denominator = velocity + epsilon
        increment = lr * gradient / np.sqrt(denominator)
        if self.args["momentum"] > 0:
            m = self._slot(key, "momentum", variable)
            m[...] = np.float32(self.args["momentum"]) * m + increment
            variable -= m
        else:
            variable -= increment

    def _adagrad(self, key, variable, gradient, lr):
        accumulator = self._slot(key, "accumulator", variable,
                                 self.args["initial_accumulator_value"])
        accumulator += gradient * gradient
        variable -= lr * gradient / np.sqrt(accumulator + np.float32(self.args["epsilon"]))


UPDATES = {"sgd": Optimizer._sgd, "adam": Optimizer._adam, "adamw": Optimizer._adamw,
           "rmsprop": Optimizer._rmsprop, "adagrad": Optimizer._adagrad}
