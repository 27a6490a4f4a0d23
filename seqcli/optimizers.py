"""Keras's optimizers, with Keras 3's update rules and defaults (epsilon 1e-7...).

An optimizer updates weight arrays in place, and only the keys it is told are
trainable: frozen weights are never touched, so they stay bit-for-bit equal.
"""

from __future__ import annotations

import numpy as np

from seqcli import schedules
from seqcli.errors import SeqcliError
from seqcli.settings import named, resolve
# the name and default tables are numpy-free: reading a compiled Keras file needs them
from seqcli.setting_tables import COMMON, OPTIMIZERS  # noqa: F401
from seqcli.setting_tables import OPTIMIZER_ALIASES as ALIASES
from seqcli.setting_tables import OPTIMIZER_POSITIONAL as POSITIONAL


def get(value, where: str = "") -> tuple[str, dict]:
    """(name, arguments); the learning rate may be a schedule ({ExponentialDecay: ...})."""
    schedule = None
    name, args = named(value, OPTIMIZERS, ALIASES, "optimizer", where, POSITIONAL)
    if schedules.is_schedule(args.get("learning_rate")):
        schedule = _checked(schedules.check, args["learning_rate"], "learning_rate", where)
        args = {k: v for k, v in args.items() if k != "learning_rate"}
    name, args = resolve({name: args}, OPTIMIZERS, ALIASES, "optimizer", where)
    _check_common(name, args, where)
    return name, ({**args, "learning_rate": schedule} if schedule else args)


def _check_common(name, args, where):
    """Keras's own checks of the arguments every optimizer shares."""
    for key in ("weight_decay", "clipnorm", "clipvalue", "global_clipnorm"):
        value = args[key]
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or value < 0):
            raise SeqcliError(f"{name}'s `{key}` must be a non-negative number or null; "
                              f"received {value!r}", where)
    clipping = [k for k in ("clipnorm", "clipvalue", "global_clipnorm") if args[k] is not None]
    if len(clipping) > 1:
        raise SeqcliError(f"Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be "
                          f"set; {name} has {', '.join(clipping)}", where)
    if name == "sgd" and not 0 <= args["momentum"] <= 1:  # Keras's SGD refuses it too
        raise SeqcliError(f"`momentum` must be a float between [0, 1]. Received: "
                          f"momentum={args['momentum']}", where)
    if not 0 <= args["ema_momentum"] <= 1:
        raise SeqcliError(f"`ema_momentum` must be in the range [0, 1]. Received: "
                          f"ema_momentum={args['ema_momentum']}", where)
    frequency = args["ema_overwrite_frequency"]
    if frequency is not None and (not isinstance(frequency, int) or isinstance(frequency, bool)
                                  or frequency < 1):
        raise SeqcliError(f"`ema_overwrite_frequency` must be an integer >= 1 or null. "
                          f"Received: ema_overwrite_frequency={frequency}", where)


def _checked(check, value, key, where):
    try:
        return check(value)
    except ValueError as exc:
        raise SeqcliError(f"optimizer `{key}`: {exc}", where) from None


class Optimizer:
    """One optimizer's state (moments, velocities...) per weight key, and Keras's steps
    around every update: gradient clipping, weight decay, the moving average (EMA)."""

    def __init__(self, setting: tuple[str, dict]):
        self.name, self.args = setting[0], dict(setting[1])  # its own: the rate may change
        self.iterations = 0
        self.slots: dict[str, dict] = {}
        self.averages: dict[str, np.ndarray] = {}  # use_ema: each weight's moving average

    def learning_rate(self):
        """This step's learning rate (a schedule's value at `iterations`)."""
        rate = self.args["learning_rate"]
        if isinstance(rate, dict):
            return schedules.learning_rate(rate, self.iterations)
        return np.float32(rate)

    def apply(self, weights: dict, grads: dict, trainable: list[str]) -> None:
        """One step on the trainable keys, in place, in Keras's order."""
        update, lr = UPDATES[self.name], self.learning_rate()
        grads = self._clipped({key: grads[key].astype(weights[key].dtype, copy=False)
                               for key in trainable})
        if self.args["weight_decay"] is not None:  # decoupled, before the update
            decay = np.float32(self.args["weight_decay"])
            for key in trainable:
                weights[key] -= weights[key] * decay * lr
        for key in trainable:
            update(self, key, weights[key], grads[key], lr)
        if self.args["use_ema"]:
            self._move_averages(weights, trainable)
        self.iterations += 1

    def _clipped(self, grads: dict) -> dict:
        """Keras's clipnorm (per weight), global_clipnorm (all together) or clipvalue."""
        if self.args["clipnorm"]:
            limit = np.float32(self.args["clipnorm"])
            return {key: g * limit / np.maximum(np.sqrt((g * g).sum()), limit)
                    for key, g in grads.items()}
        if self.args["global_clipnorm"]:
            limit = np.float32(self.args["global_clipnorm"])
            norm = np.sqrt(sum((g * g).sum() for g in grads.values()))
            with np.errstate(divide="ignore"):  # a zero norm: 1 / 0 = inf, then the minimum
                scale = limit * np.minimum(1 / norm, 1 / limit)
            return {key: g * scale for key, g in grads.items()}
        if self.args["clipvalue"]:
            limit = np.float32(self.args["clipvalue"])
            return {key: np.clip(g, -limit, limit) for key, g in grads.items()}
        return grads

    def _move_averages(self, weights: dict, trainable: list[str]) -> None:
        # Keras: the first step copies the weights; every ema_overwrite_frequency steps
        # the weights themselves take their averages
        momentum = np.float32(self.args["ema_momentum"] if self.iterations else 0.0)
        frequency = self.args["ema_overwrite_frequency"]
        for key in trainable:
            average = self.averages.setdefault(key, np.zeros_like(weights[key]))
            average[...] = momentum * average + (1 - momentum) * weights[key]
            if frequency and (self.iterations + 1) % frequency == 0:
                weights[key][...] = average

    def finalize(self, weights: dict) -> None:
        """At the end of fit, as Keras does: with use_ema the weights become their averages."""
        for key, average in self.averages.items():
            weights[key][...] = average

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
        # Keras writes `1 - self.beta_1` with Python floats: the difference is taken in
        # float64, then rounded to float32 (0.1, not float32's 1 - 0.9 = 0.10000002;
        # for beta_2 the two differ by 1.3e-5 relative, which Adam's steps accumulate)
        m += (gradient - m) * _complement(self.args["beta_1"])
        v += (gradient * gradient - v) * _complement(self.args["beta_2"])
        if self.args["amsgrad"]:
            v_hat = self._slot(key, "v_hat", variable)
            np.maximum(v_hat, v, out=v_hat)
            v = v_hat
        variable -= (m * alpha) / (np.sqrt(v) + np.float32(self.args["epsilon"]))

    def _rmsprop(self, key, variable, gradient, lr):
        rho, epsilon = np.float32(self.args["rho"]), np.float32(self.args["epsilon"])
        velocity = self._slot(key, "velocity", variable)
        velocity[...] = rho * velocity + _complement(self.args["rho"]) * (gradient * gradient)
        if self.args["centered"]:
            average = self._slot(key, "average_gradient", variable)
            average[...] = rho * average + _complement(self.args["rho"]) * gradient
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


def _complement(value: float) -> np.float32:
    """1 - value as Keras computes it from a Python float: in float64, then float32."""
    return np.float32(1 - float(value))


# AdamW is Adam with a weight decay by default (Keras's AdamW)
UPDATES = {"sgd": Optimizer._sgd, "adam": Optimizer._adam, "adamw": Optimizer._adam,
           "rmsprop": Optimizer._rmsprop, "adagrad": Optimizer._adagrad}
