"""Activation names (Keras's, with aliases) and their numpy functions.

The names are plain data so that checking a spec never imports numpy; the
functions live in `ops.py` and are looked up only when a forward pass runs.
"""

# Keras name -> function name in seqcli.ops
ACTIVATIONS = {
    "linear": "linear",
    "relu": "relu",
    "sigmoid": "sigmoid",
    "tanh": "tanh",
    "softmax": "softmax",
    "log_softmax": "log_softmax",
    "elu": "elu",
    "selu": "selu",
    "softplus": "softplus",
    "softsign": "softsign",
    "swish": "silu",
    "silu": "silu",
    "gelu": "gelu",
    "exponential": "exponential",
    "hard_sigmoid": "hard_sigmoid",
    "hard_silu": "hard_silu",
    "hard_swish": "hard_silu",
    "relu6": "relu6",
    "leaky_relu": "leaky_relu",
    "mish": "mish",
}


def get(name):
    """The numpy function for an activation name (None means linear)."""
    from seqcli import ops

    return getattr(ops, ACTIVATIONS[name or "linear"])


def apply_in_place(name, z):
    """The activation of z, reusing z's memory where the function allows (inference)."""
    if name in (None, "linear"):
        return z
    if name == "relu":
        import numpy as np
        return np.maximum(z, 0, out=z)
    return get(name)(z)


def gradient(name):
    """dL/dz from (z, y, dy) for an activation name (None means linear)."""
    from seqcli import ops

    return getattr(ops, ACTIVATIONS[name or "linear"] + "_grad")
