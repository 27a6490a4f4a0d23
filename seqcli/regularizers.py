"""Keras's regularizers and constraints: the loss terms weights (and outputs) add in
training, with their gradients, and the projections applied after each optimizer step.

A setting is written as initializers are: a Keras name (`l2`, `MaxNorm`) or a one-key
mapping `{L2: {l2: 0.001}}`. `check_regularizer` and `check_constraint` validate one
without numpy; the formulas follow Keras 3 (keras/src/regularizers, constraints).
"""

from __future__ import annotations

import math

from seqcli.errors import did_you_mean

EPSILON = 1e-7  # Keras's backend.epsilon()

REGULARIZERS = {  # class name -> its arguments' defaults
    "L1": {"l1": 0.01},
    "L2": {"l2": 0.01},
    "L1L2": {"l1": 0.0, "l2": 0.0},
    "OrthogonalRegularizer": {"factor": 0.01, "mode": "rows"},
}
CONSTRAINTS = {
    "MaxNorm": {"max_value": 2, "axis": 0},
    "MinMaxNorm": {"min_value": 0.0, "max_value": 1.0, "rate": 1.0, "axis": 0},
    "NonNeg": {},
    "UnitNorm": {"axis": 0},
}
# Keras's other spellings (its snake_case of the class names)
ALIASES = {"l1": "L1", "l2": "L2", "l1l2": "L1L2",
           "orthogonal_regularizer": "OrthogonalRegularizer",
           "max_norm": "MaxNorm", "min_max_norm": "MinMaxNorm", "non_neg": "NonNeg",
           "unit_norm": "UnitNorm"}


def check_regularizer(value):
    return _check(value, REGULARIZERS, "regularizer")


def check_constraint(value):
    return _check(value, CONSTRAINTS, "constraint")


def _check(value, table, what):
    """None, a class name, or {class name: {args}}; ValueError naming what is wrong."""
    if value is None:
        return None
    if isinstance(value, str):
        name, args = value, {}
    elif isinstance(value, dict) and len(value) == 1:
        (name, args), = value.items()
        args = {} if args is None else args
    else:
        name, args = None, None
    name = ALIASES.get(name, name) if isinstance(name, str) else name
    if name not in table or not isinstance(args, dict):
        known = ", ".join(table)
        hint = did_you_mean(name, list(table) + list(ALIASES)) if isinstance(name, str) else ""
        raise ValueError(f"expected a {what} name or {{name: {{args}}}} with one of {known}"
                         f"{hint}; received {value!r}")
    for key, arg in args.items():
        if key not in table[name]:
            raise ValueError(f"{name} has no argument `{key}`; it takes: "
                             f"{', '.join(table[name]) or 'none'}")
        _check_arg(name, key, arg)
    return {name: dict(args)} if args else name


def _check_arg(name, key, value):
    if key == "mode":
        if value not in ("rows", "columns"):
            raise ValueError(f'{name}: expected mode "rows" or "columns"; received {value!r}')
    elif key == "axis":
        axes = value if isinstance(value, list) else [value]
        if not axes or not all(isinstance(a, int) and not isinstance(a, bool) for a in axes):
            raise ValueError(f"{name}: axis must be an integer or a list of integers; "
                             f"received {value!r}")
    elif isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name}: {key} must be a non-negative number; received {value!r}")


def _settings(value, table) -> tuple[str, dict]:
    name, args = (value, {}) if isinstance(value, str) else next(iter(value.items()))
    name = ALIASES.get(name, name)
    return name, {**table[name], **(args or {})}


# ---------------------------------------------------------------- regularizers

def penalty(value, x) -> float:
    """The loss term of a regularizer on an array (a weight, or a layer's output)."""
    import numpy as np

    name, args = _settings(value, REGULARIZERS)
    x = np.asarray(x)  # float32 in training, as Keras computes (float64 in gradient checks)
    if name == "OrthogonalRegularizer":
        return float(_orthogonal(x, args)[0])
    total = x.dtype.type(0.0)
    if args.get("l1"):
        total += x.dtype.type(args["l1"]) * np.abs(x).sum()
    if args.get("l2"):
        total += x.dtype.type(args["l2"]) * np.square(x).sum()
    return float(total)


def gradient(value, x):
    """d(penalty)/dx."""
    import numpy as np

    name, args = _settings(value, REGULARIZERS)
    if name == "OrthogonalRegularizer":
        return _orthogonal(np.asarray(x), args)[1].astype(x.dtype)
    grad = np.zeros_like(x)
    if args.get("l1"):  # JAX's d|x|/dx, 1 at 0 (Keras's numbers are JAX's)
        grad += x.dtype.type(args["l1"]) * np.where(x >= 0, 1, -1).astype(x.dtype)
    if args.get("l2"):
        grad += x.dtype.type(2 * args["l2"]) * x
    return grad


def _orthogonal(x, args):
    """Keras's OrthogonalRegularizer and its gradient: factor / 2 times the mean |cosine|
    between distinct rows (or columns) of a rank-2 weight."""
    import numpy as np

    if x.ndim != 2:
        raise ValueError(f"Inputs to OrthogonalRegularizer must have rank 2. Received: "
                         f"inputs.shape={x.shape}")
    rows = x if args["mode"] == "rows" else x.T
    squares = (rows * rows).sum(axis=1, keepdims=True)
    # Keras's normalize: x * min(rsqrt(sum of squares), 1 / epsilon)
    inverse = np.minimum(1 / np.sqrt(squares), rows.dtype.type(1 / EPSILON))
    unit = rows * inverse
    size = rows.shape[0]
    off_diagonal = (unit @ unit.T) * (1 - np.eye(size, dtype=rows.dtype))
    pairs = size * (size - 1.0) / 2.0
    scale = args["factor"] * 0.5 / pairs if pairs else 0.0
    value = scale * np.abs(off_diagonal).sum()
    d_unit = 2 * scale * np.sign(off_diagonal) @ unit
    clipped = 1 / np.sqrt(squares) > 1 / EPSILON
    d_rows = inverse * d_unit - np.where(
        clipped, 0, rows * inverse ** 3 * (d_unit * rows).sum(axis=1, keepdims=True))
    return value, (d_rows if args["mode"] == "rows" else d_rows.T)


# ---------------------------------------------------------------- constraints

def constrain(value, w):
    """The weight after Keras's constraint, as the optimizer applies it after a step."""
    import numpy as np

    name, args = _settings(value, CONSTRAINTS)
    if name == "NonNeg":
        return np.maximum(w, 0)
    axis = tuple(args["axis"]) if isinstance(args["axis"], list) else args["axis"]
    norms = np.sqrt(np.square(w).sum(axis=axis, keepdims=True))
    epsilon = w.dtype.type(EPSILON)
    if name == "UnitNorm":
        return w / (epsilon + norms)
    if name == "MaxNorm":
        desired = np.clip(norms, 0, args["max_value"])
    else:
        rate = w.dtype.type(args["rate"])
        desired = rate * np.clip(norms, args["min_value"], args["max_value"]) + (1 - rate) * norms
    return (w * (desired / (epsilon + norms))).astype(w.dtype)
