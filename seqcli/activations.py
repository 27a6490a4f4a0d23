"""Activation names (Keras's, with aliases) and their numpy functions.

The names are plain data so that checking a spec never imports numpy; the
functions live in `ops.py` and are looked up only when a forward pass runs.
"""

# Keras name -> (its function, its gradient's function) in seqcli.ops
ACTIVATIONS = {
    "linear": ("linear", "linear_grad"),
    "relu": ("relu", "relu_grad"),
    "sigmoid": ("sigmoid", "sigmoid_grad"),
    "tanh": ("tanh", "tanh_grad"),
    "softmax": ("softmax", "softmax_grad"),
    "log_softmax": ("log_softmax", "log_softmax_grad"),
    "elu": ("elu", "elu_grad"),
    "selu": ("selu", "selu_grad"),
    "softplus": ("softplus", "softplus_grad"),
    "softsign": ("softsign", "softsign_grad"),
    "swish": ("silu", "silu_grad"),
    "silu": ("silu", "silu_grad"),
    "gelu": ("gelu", "gelu_grad"),
    "exponential": ("exponential", "exponential_grad"),
    "hard_sigmoid": ("hard_sigmoid", "hard_sigmoid_grad"),
    "hard_silu": ("hard_silu", "hard_silu_grad"),
    "hard_swish": ("hard_silu", "hard_silu_grad"),
    "relu6": ("relu6", "relu6_grad"),
    "leaky_relu": ("leaky_relu", "leaky_relu_grad"),
    "mish": ("mish", "mish_grad"),
}


def get(name):
    """The numpy function for an activation name (None means linear)."""
    from seqcli import ops

    return getattr(ops, ACTIVATIONS[name or "linear"][0])


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

    return getattr(ops, ACTIVATIONS[name or "linear"][1])
