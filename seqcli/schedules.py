"""Keras's learning-rate schedules: the optimizer's learning rate as a function of the
step (its `iterations`, from 0), as keras/src/optimizers/schedules computes it, in float32.

A schedule is written where a learning rate goes, as a one-key mapping:
`learning_rate: {ExponentialDecay: {initial_learning_rate: 0.1, decay_steps: 100,
decay_rate: 0.5}}`. `check` validates one without numpy.
"""

from __future__ import annotations

import math

REQUIRED = object()
SCHEDULES = {  # class name -> its arguments' defaults (REQUIRED: no default)
    "ExponentialDecay": {"initial_learning_rate": REQUIRED, "decay_steps": REQUIRED,
                         "decay_rate": REQUIRED, "staircase": False},
    "InverseTimeDecay": {"initial_learning_rate": REQUIRED, "decay_steps": REQUIRED,
                         "decay_rate": REQUIRED, "staircase": False},
    "PiecewiseConstantDecay": {"boundaries": REQUIRED, "values": REQUIRED},
    "PolynomialDecay": {"initial_learning_rate": REQUIRED, "decay_steps": REQUIRED,
                        "end_learning_rate": 0.0001, "power": 1.0, "cycle": False},
    "CosineDecay": {"initial_learning_rate": REQUIRED, "decay_steps": REQUIRED, "alpha": 0.0,
                    "warmup_target": None, "warmup_steps": 0},
    "CosineDecayRestarts": {"initial_learning_rate": REQUIRED, "first_decay_steps": REQUIRED,
                            "t_mul": 2.0, "m_mul": 1.0, "alpha": 0.0},
}
ALIASES = {"exponential_decay": "ExponentialDecay", "inverse_time_decay": "InverseTimeDecay",
           "piecewise_constant_decay": "PiecewiseConstantDecay",
           "polynomial_decay": "PolynomialDecay", "cosine_decay": "CosineDecay",
           "cosine_decay_restarts": "CosineDecayRestarts"}
FLAGS = ("staircase", "cycle")


def is_schedule(value) -> bool:
    return isinstance(value, dict)


def check(value) -> dict:
    """{class name: {all its arguments}}; ValueError saying what is wrong."""
    if not (isinstance(value, dict) and len(value) == 1):
        raise ValueError(f"a learning rate is a number or a schedule such as "
                         f"{{ExponentialDecay: {{...}}}}; received {value!r}")
    (name, args), = value.items()
    name = ALIASES.get(name, name)
    if name not in SCHEDULES or not isinstance(args, dict):
        from seqcli.errors import did_you_mean
        raise ValueError(f"unknown learning-rate schedule {name!r}"
                         f"{did_you_mean(str(name), SCHEDULES)}; known: {', '.join(SCHEDULES)}")
    defaults = SCHEDULES[name]
    for key in args:
        if key not in defaults:
            raise ValueError(f"{name} has no argument `{key}`; it takes: {', '.join(defaults)}")
    missing = [key for key, default in defaults.items() if default is REQUIRED and key not in args]
    if missing:
        raise ValueError(f"{name} needs the argument `{missing[0]}`")
    full = {**defaults, **args}
    for key, arg in full.items():
        _check_arg(name, key, arg)
    if name == "PiecewiseConstantDecay" and len(full["boundaries"]) != len(full["values"]) - 1:
        raise ValueError("The length of boundaries should be 1 less than the length of values. "
                         f"Received: boundaries={full['boundaries']} and values={full['values']}")
    return {name: full}


def _check_arg(name, key, value):
    if key in FLAGS:
        ok = isinstance(value, bool)
    elif key in ("boundaries", "values"):
        ok = isinstance(value, list) and bool(value) and all(_number(v) for v in value)
    elif key == "warmup_target":
        ok = value is None or _number(value)
    else:
        ok = _number(value) and (value > 0 if key.endswith("decay_steps") else value >= 0)
    if not ok:
        raise ValueError(f"{name}'s `{key}` is not valid; received {value!r}")


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def learning_rate(setting: dict, step: int):
    """The schedule's float32 learning rate at `step`."""
    import numpy as np

    (name, args), = setting.items()
    f = np.float32
    step = f(step)
    if name == "PiecewiseConstantDecay":
        boundaries, values = args["boundaries"], args["values"]
        if step <= boundaries[0]:
            return f(values[0])
        for low, high, value in zip(boundaries, boundaries[1:], values[1:]):
            if low < step <= high:
                return f(value)
        return f(values[-1])
    initial = f(args["initial_learning_rate"])
    if name in ("ExponentialDecay", "InverseTimeDecay"):
        p = step / f(args["decay_steps"])
        p = np.floor(p) if args["staircase"] else p
        if name == "ExponentialDecay":
            return initial * np.power(f(args["decay_rate"]), p)
        return initial / (f(1) + f(args["decay_rate"]) * p)
    if name == "PolynomialDecay":
        return _polynomial(args, step, initial)
    if name == "CosineDecay":
        return _cosine(args, step, initial)
    return _cosine_restarts(args, step, initial)


def _polynomial(args, step, initial):
    import numpy as np

    f = np.float32
    end, decay_steps = f(args["end_learning_rate"]), f(args["decay_steps"])
    if args["cycle"]:
        decay_steps = decay_steps * (f(1) if step == 0 else np.ceil(step / decay_steps))
    else:
        step = min(step, decay_steps)
    return (initial - end) * np.power(f(1) - step / decay_steps, f(args["power"])) + end


def _cosine(args, step, initial):
    import numpy as np

    f = np.float32
    decay_steps = f(args["decay_steps"])
    if args["warmup_target"] is None:
        return _cosine_decay(min(step, decay_steps), decay_steps, initial, args["alpha"])
    target, warmup = f(args["warmup_target"]), f(args["warmup_steps"])
    step = min(step, decay_steps + warmup)
    if step < warmup:
        return (target - initial) * (step / warmup) + initial
    return _cosine_decay(step - warmup, decay_steps, target, args["alpha"])


def _cosine_decay(step, decay_steps, start, alpha):
    import numpy as np

    f = np.float32
    cosine = f(0.5) * (f(1) + np.cos(f(math.pi) * (step / decay_steps)))
    return start * ((f(1) - f(alpha)) * cosine + f(alpha))


def _cosine_restarts(args, step, initial):
    import numpy as np

    f = np.float32
    t_mul, m_mul, alpha = f(args["t_mul"]), f(args["m_mul"]), f(args["alpha"])
    fraction = step / f(args["first_decay_steps"])
    if t_mul == 1:
        restart = np.floor(fraction)
        fraction = fraction - restart
    else:
        restart = np.floor(np.log(f(1) - fraction * (f(1) - t_mul)) / np.log(t_mul))
        done = (f(1) - np.power(t_mul, restart)) / (f(1) - t_mul)
        fraction = (fraction - done) / np.power(t_mul, restart)
    cosine = f(0.5) * np.power(m_mul, restart) * (f(1) + np.cos(f(math.pi) * fraction))
    return initial * ((f(1) - alpha) * cosine + alpha)
