"""Keras's initializers, with Keras's formulas and defaults.

An initializer spec is a name ("glorot_uniform") or a one-key mapping
({"random_normal": {"stddev": 0.01}}). `check_initializer` validates it without
numpy; `initialize` draws an array. Values are drawn from numpy's generator,
so they follow Keras's distributions, not its random stream.
"""

from __future__ import annotations

import math

# name -> (defaults of its arguments)
INITIALIZERS = {
    "zeros": {},
    "ones": {},
    "constant": {"value": 0.0},
    "random_normal": {"mean": 0.0, "stddev": 0.05},
    "random_uniform": {"minval": -0.05, "maxval": 0.05},
    "truncated_normal": {"mean": 0.0, "stddev": 0.05},
    "glorot_uniform": {},
    "glorot_normal": {},
    "he_uniform": {},
    "he_normal": {},
    "lecun_uniform": {},
    "lecun_normal": {},
    "orthogonal": {"gain": 1.0},
    "identity": {"gain": 1.0},
    "variance_scaling": {"scale": 1.0, "mode": "fan_in", "distribution": "truncated_normal"},
}
ALIASES = {"Zeros": "zeros", "Ones": "ones", "GlorotUniform": "glorot_uniform",
           "GlorotNormal": "glorot_normal", "HeNormal": "he_normal", "HeUniform": "he_uniform",
           "RandomNormal": "random_normal", "RandomUniform": "random_uniform",
           "TruncatedNormal": "truncated_normal", "Orthogonal": "orthogonal",
           "Constant": "constant", "LecunNormal": "lecun_normal",
           "LecunUniform": "lecun_uniform", "Identity": "identity",
           "VarianceScaling": "variance_scaling",
           "uniform": "random_uniform", "normal": "random_normal"}  # Keras's short names
# variance-scaling family: name -> (scale, mode, distribution)
_VARIANCE = {
    "glorot_uniform": (1.0, "fan_avg", "uniform"),
    "glorot_normal": (1.0, "fan_avg", "truncated_normal"),
    "he_uniform": (2.0, "fan_in", "uniform"),
    "he_normal": (2.0, "fan_in", "truncated_normal"),
    "lecun_uniform": (1.0, "fan_in", "uniform"),
    "lecun_normal": (1.0, "fan_in", "truncated_normal"),
}


def check_initializer(value):
    """Normalize to a name or {name: {args}}; ValueError if it is not one."""
    if isinstance(value, str):
        name = ALIASES.get(value, value)
        if name not in INITIALIZERS:
            from seqcli.errors import did_you_mean
            raise ValueError(f"unknown initializer {value!r}{did_you_mean(value, INITIALIZERS)}; "
                             f"known: {', '.join(INITIALIZERS)}")
        return name
    if isinstance(value, dict) and len(value) == 1:
        (raw_name, args), = value.items()
        name = check_initializer(raw_name)
        args = args or {}
        if not isinstance(args, dict):
            raise ValueError(f"the arguments of {name} must be a mapping")
        unknown = set(args) - set(INITIALIZERS[name]) - {"seed"}
        if unknown:
            raise ValueError(f"{name} has no argument {sorted(unknown)[0]!r}; "
                             f"it takes {sorted(INITIALIZERS[name]) + ['seed']}")
        for key, value in args.items():
            _check_initializer_arg(name, key, value)
        return {name: dict(args)}
    raise ValueError(f"expected an initializer name or {{name: {{args}}}}, received {value!r}")


_CHOICES = {"mode": ("fan_in", "fan_out", "fan_avg"),
            "distribution": ("truncated_normal", "untruncated_normal", "normal", "uniform")}


def _check_initializer_arg(name, key, value):
    if key in _CHOICES:
        if value not in _CHOICES[key]:
            raise ValueError(f"{name}'s `{key}` must be one of {', '.join(_CHOICES[key])}; "
                             f"received {value!r}")
    elif key == "seed":
        if not isinstance(value, int) or isinstance(value, bool) or value is None:
            raise ValueError(f"{name}'s `seed` must be an integer; received {value!r}")
    elif not isinstance(value, (int, float)) or isinstance(value, bool) or value != value:
        raise ValueError(f"{name}'s `{key}` must be a number; received {value!r}")


def compute_fans(shape):
    """Keras's fan_in and fan_out for a weight shape."""
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def initialize(spec, shape, rng):
    """Draw a float32 array of `shape` for an initializer spec.

    A layer may also give ("segments", [(spec, length), ...]): slices of the last axis
    drawn from their own initializers (LSTM's forget-gate bias of ones, say).
    """
    import numpy as np

    if isinstance(spec, tuple) and spec and spec[0] == "segments":
        parts = [initialize(part, (*shape[:-1], length), rng) for part, length in spec[1]]
        return np.concatenate(parts, axis=-1)
    fans = None
    if isinstance(spec, tuple) and spec and spec[0] == "fans":  # ("fans", spec, in, out)
        _, spec, fan_in, fan_out = spec  # fans over these kernel axes (EinsumDense's)
        fans = (math.prod(shape[a] for a in fan_in), math.prod(shape[a] for a in fan_out))

    name, args = (spec, {}) if isinstance(spec, str) else next(iter(spec.items()))
    args = {**INITIALIZERS[name], **{k: v for k, v in args.items() if k != "seed"}}
    shape = tuple(shape)
    if name in _VARIANCE:
        scale, mode, distribution = _VARIANCE[name]
        values = _variance_scaling(shape, scale, mode, distribution, rng, fans)
    elif name == "variance_scaling":
        values = _variance_scaling(shape, args["scale"], args["mode"], args["distribution"], rng,
                                   fans)
    elif name == "zeros":
        values = np.zeros(shape)
    elif name == "ones":
        values = np.ones(shape)
    elif name == "constant":
        values = np.full(shape, args["value"])
    elif name == "random_normal":
        values = rng.normal(args["mean"], args["stddev"], shape)
    elif name == "random_uniform":
        values = rng.uniform(args["minval"], args["maxval"], shape)
    elif name == "truncated_normal":
        values = args["mean"] + args["stddev"] * _truncated_standard_normal(shape, rng)
    elif name == "orthogonal":
        values = args["gain"] * _orthogonal(shape, rng)
    else:  # identity, which Keras defines for 2-D weights only
        if len(shape) != 2:
            raise ValueError(f"the identity initializer needs a 2-D weight, not shape {shape}")
        values = args["gain"] * np.eye(*shape)
    # C order whatever the draw gave (orthogonal's QR is column-major): a column-major
    # recurrent kernel made every step's product about twice as slow
    return np.asarray(values, dtype=np.float32, order="C")


def _variance_scaling(shape, scale, mode, distribution, rng, fans=None):
    fan_in, fan_out = fans or compute_fans(shape)
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    variance = scale / max(1.0, n)
    if distribution == "uniform":
        limit = math.sqrt(3.0 * variance)
        return rng.uniform(-limit, limit, shape)
    if distribution == "untruncated_normal":  # Keras's "normal" means truncated
        return rng.normal(0.0, math.sqrt(variance), shape)
    # 0.879... is the stddev of a standard normal truncated to [-2, 2]
    stddev = math.sqrt(variance) / 0.87962566103423978
    return stddev * _truncated_standard_normal(shape, rng)


def _truncated_standard_normal(shape, rng):
    values = rng.standard_normal(shape)
    outside = abs(values) > 2
    while outside.any():
        values[outside] = rng.standard_normal(int(outside.sum()))
        outside = abs(values) > 2
    return values


def _orthogonal(shape, rng):
    import numpy as np

    rows = math.prod(shape[:-1]) if len(shape) > 1 else 1
    cols = shape[-1]
    flat = rng.standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return q.reshape(shape)
