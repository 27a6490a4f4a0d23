"""ONNX emitters for the layers that need no channels-first layout: activations,
core layers, activation layers, normalization, rescaling and TimeDistributed.

Each emitter takes (emission state, layer, its params, input Value, Keras input shape)
and returns the output Value; elementwise ones keep whatever layout their input has.
"""

from __future__ import annotations

import math

import numpy as np
from onnx import TensorProto

from seqcli.errors import SeqcliError
from seqcli.onnx_export import place
from seqcli.onnx_graph import Value, identity


# ---------------------------------------------------------------- activations

def activation(graph, name, x):
    """Keras's activation by name on a Value (softmax over Keras's last axis)."""
    op = graph.op
    simple = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "softplus": "Softplus",
              "softsign": "Softsign", "exponential": "Exp", "hard_silu": "HardSwish",
              "hard_swish": "HardSwish"}
    if name in (None, "linear"):
        return x
    if name in simple:
        return x.relabel(op(simple[name], [x.name]))
    if name in ("softmax", "log_softmax"):
        kind = "Softmax" if name == "softmax" else "LogSoftmax"
        return x.relabel(op(kind, [x.name], axis=x.position(-1)))
    if name == "elu":
        return x.relabel(op("Elu", [x.name], alpha=1.0))
    if name == "selu":
        return x.relabel(op("Selu", [x.name], alpha=1.6732632423543772,
                            gamma=1.0507009873554805))
    if name == "leaky_relu":
        return x.relabel(op("LeakyRelu", [x.name], alpha=0.2))
    if name == "relu6":
        return x.relabel(op("Clip", [x.name, graph.const(0.0), graph.const(6.0)]))
    if name == "hard_sigmoid":
        return x.relabel(op("HardSigmoid", [x.name], alpha=1 / 6, beta=0.5))
    if name in ("silu", "swish"):
        return x.relabel(op("Mul", [x.name, op("Sigmoid", [x.name])]))
    if name == "mish":
        return x.relabel(op("Mul", [x.name, op("Tanh", [op("Softplus", [x.name])])]))
    if name == "gelu":  # exact: x * Phi(x)
        erf = op("Erf", [op("Mul", [x.name, graph.const(1 / math.sqrt(2))])])
        half = op("Mul", [x.name, graph.const(0.5)])
        return x.relabel(op("Mul", [half, op("Add", [erf, graph.const(1.0)])]))
    raise SeqcliError(f"activation {name!r} has no ONNX form in seqcli")


# ---------------------------------------------------------------- core layers

def passthrough(state, layer, params, x, shape):
    return x


def dense(state, layer, params, x, shape):
    """On the last axis: any layout that keeps Keras's last axis last will do (an RNN's
    steps-first output, say), and the output keeps it."""
    graph = state.graph
    if x.perm[-1] == x.rank - 1:
        data, perm = x.name, x.perm
    else:
        data, perm = graph.keras(x), identity(x.rank)
    kernel = graph.const(params["kernel"], "kernel")
    if x.rank == 2 and layer.use_bias:
        y = graph.op("Gemm", [data, kernel, graph.const(params["bias"], "bias")])
    else:
        y = graph.op("MatMul", [data, kernel])
        if layer.use_bias:
            y = graph.op("Add", [y, graph.const(params["bias"], "bias")])
    return activation(graph, layer.activation, Value(y, perm))


def activation_layer(state, layer, params, x, shape):
    return activation(state.graph, layer.activation, x)


def flatten(state, layer, params, x, shape):
    perm = identity(x.rank)
    if layer.data_format == "channels_first" and x.rank > 2:
        perm = (0, *range(2, x.rank), 1)  # Keras flattens channels-last whatever the format
    return Value(state.graph.op("Flatten", [state.graph.layout(x, perm)], axis=1), (0, 1))


def embedding(state, layer, params, x, shape):
    graph = state.graph
    indices = graph.op("Cast", [graph.keras(x)], to=TensorProto.INT64)
    y = graph.op("Gather", [graph.const(params["embeddings"], "embeddings"), indices])
    return Value(y, identity(x.rank + 1))


def reshape(state, layer, params, x, shape):
    if tuple(layer.output_shape(shape)) == tuple(shape):
        return x  # the same tensor, as in JAX (so Keras's mask stays on it)
    y = state.graph.reshape(state.graph.keras(x), [0, *layer.target_shape])
    return Value(y, identity(len(layer.target_shape) + 1))


def permute(state, layer, params, x, shape):
    """No node: the same tensor, relabelled with the Keras axes it now holds."""
    order = (0, *layer.dims)  # Keras output axis j is input axis order[j]
    return Value(x.name, tuple(order.index(axis) for axis in x.perm))


def repeat_vector(state, layer, params, x, shape):
    graph = state.graph
    column = graph.op("Unsqueeze", [graph.keras(x), graph.ints([1], "axes")])
    return Value(graph.op("Tile", [column, graph.ints([1, layer.n, 1], "repeats")]), (0, 1, 2))


# ---------------------------------------------------------------- activation layers

def relu(state, layer, params, x, shape):
    graph = state.graph
    op = graph.op
    if not layer.threshold and not layer.negative_slope:
        y = op("Relu", [x.name])
    else:  # numpy: where(x > threshold, x, 0), clipped, minus slope * max(threshold - x, 0)
        above = op("Greater", [x.name, graph.const(layer.threshold)])
        y = op("Where", [above, x.name, graph.const(0.0)])
    if layer.max_value is not None:
        y = op("Clip", [y, graph.const(0.0), graph.const(layer.max_value)])
    if layer.negative_slope:
        below = op("Relu", [op("Sub", [graph.const(layer.threshold), x.name])])
        y = op("Sub", [y, op("Mul", [below, graph.const(layer.negative_slope)])])
    return x.relabel(y)


def leaky_relu(state, layer, params, x, shape):
    return x.relabel(state.graph.op("LeakyRelu", [x.name], alpha=layer.negative_slope))


def prelu(state, layer, params, x, shape):
    graph = state.graph
    return x.relabel(graph.op("PRelu", [x.name, graph.broadcast(params["alpha"], x, "alpha")]))


def elu(state, layer, params, x, shape):
    return x.relabel(state.graph.op("Elu", [x.name], alpha=layer.alpha))


def softmax(state, layer, params, x, shape):
    graph = state.graph
    axes = layer.axis if isinstance(layer.axis, tuple) else (layer.axis,)
    positions = sorted({x.position(a) for a in axes})
    if len(positions) == 1:
        return x.relabel(graph.op("Softmax", [x.name], axis=positions[0]))
    shifted = graph.op("Sub", [x.name, graph.reduce("ReduceMax", x.name, positions)])
    e = graph.op("Exp", [shifted])
    return x.relabel(graph.op("Div", [e, graph.reduce("ReduceSum", e, positions)]))


def softmax_masked(state, layer, params, x, shape, mask):
    """Keras's Softmax with a mask broadcast to x: masked logits are -1e9, and the masked
    outputs 0; the mask goes on."""
    fits = len(mask.shape) <= len(shape) and all(  # numpy's rule; None: known at run time
        m in (1, i) or None in (m, i) for m, i in zip(mask.shape[::-1], shape[::-1]))
    if not fits:
        raise SeqcliError("The `mask` must be broadcastable to `inputs`. Each mask dimension "
                          "must be 1 or match the corresponding input dimension. Received: "
                          f"inputs.shape={shape}, mask.shape={mask.shape}", place(layer))
    graph = state.graph
    data = graph.keras(x)  # the mask broadcasts against Keras's layout
    logits = graph.op("Where", [mask.name, data, graph.const(-1e9)])
    y = softmax(state, layer, params, Value(logits, identity(x.rank)), shape)
    return Value(graph.op("Where", [mask.name, y.name, graph.const(0.0)]), y.perm), mask

# ---------------------------------------------------------------- normalization

def batch_norm(state, layer, params, x, shape):
    from seqcli.shapes import feature_axis

    graph = state.graph
    axis = feature_axis(layer.axis, x.rank, "BatchNormalization")
    mean, variance = params["moving_mean"], params["moving_variance"]
    gamma = params["gamma"] if layer.scale else np.ones_like(mean)
    beta = params["beta"] if layer.center else np.zeros_like(mean)
    if x.position(axis) == 1:  # ONNX's own operator, which runtimes fuse into a Conv
        y = graph.op("BatchNormalization", [x.name, graph.const(gamma, "gamma"),
                                            graph.const(beta, "beta"),
                                            graph.const(mean, "moving_mean"),
                                            graph.const(variance, "moving_variance")],
                     epsilon=layer.epsilon)
        return x.relabel(y)
    scale = gamma / np.sqrt(variance + np.float32(layer.epsilon))
    centred = graph.op("Sub", [x.name, graph.along(mean, x, axis, "moving_mean")])
    y = graph.op("Add", [graph.op("Mul", [centred, graph.along(scale, x, axis, "scale")]),
                         graph.along(beta, x, axis, "beta")])
    return x.relabel(y)


def batch_norm_masked(state, layer, params, x, shape, mask):
    """At inference the mask changes nothing (only training statistics use it); it goes
    on. Keras wants it one dimension less than the input."""
    if len(mask.shape) != len(shape) - 1:
        raise SeqcliError("The mask provided should be one dimension less than the inputs. "
                          f"Received: mask.shape={mask.shape}, inputs.shape={shape}",
                          place(layer))
    return batch_norm(state, layer, params, x, shape), mask


def _standardize(graph, name, positions, epsilon, centre=True):
    """(x - mean) / sqrt(var + eps) over positions, as numpy computes it (or x / ...
    when not centred: Keras's rms_scaling)."""
    mean = graph.reduce("ReduceMean", name, positions)
    centred = graph.op("Sub", [name, mean])
    variance = graph.reduce("ReduceMean", graph.op("Mul", [centred, centred]), positions)
    inverse = graph.op("Reciprocal", [graph.op("Sqrt", [graph.op(
        "Add", [variance, graph.const(epsilon, "epsilon")])])])
    return graph.op("Mul", [centred if centre else name, inverse])


def layer_norm(state, layer, params, x, shape):
    graph = state.graph
    axes = layer._axes(x.rank)
    y = _standardize(graph, x.name, [x.position(a) for a in axes], layer.epsilon,
                     centre=not layer.rms_scaling)
    broadcast = layer._broadcast(shape)
    if layer.has_gamma:
        y = graph.op("Mul", [y, graph.broadcast(params["gamma"].reshape(broadcast), x,
                                                "gamma")])
    if layer.has_beta:
        y = graph.op("Add", [y, graph.broadcast(params["beta"].reshape(broadcast), x,
                                                "beta")])
    return x.relabel(y)


def group_norm(state, layer, params, x, shape):
    from seqcli.shapes import feature_axis

    graph = state.graph
    axis = feature_axis(layer.axis, x.rank, "GroupNormalization")
    channels, where = shape[axis], x.position(axis)
    groups = layer._groups(channels)
    grouped = graph.reshape(x.name, graph.shape_part(x.name, 0, where),
                            [groups, channels // groups], graph.shape_part(x.name, where + 1))
    positions = [i for i in range(1, x.rank + 1) if i != where]
    y = graph.reshape(_standardize(graph, grouped, positions, layer.epsilon),
                      graph.shape_part(x.name, 0))
    if layer.scale:
        y = graph.op("Mul", [y, graph.along(params["gamma"], x, axis, "gamma")])
    if layer.center:
        y = graph.op("Add", [y, graph.along(params["beta"], x, axis, "beta")])
    return x.relabel(y)


def unit_norm(state, layer, params, x, shape):
    graph = state.graph
    positions = [x.position(a) for a in layer._axes(x.rank)]
    square_sum = graph.reduce("ReduceSum", graph.op("Mul", [x.name, x.name]), positions)
    inverse = graph.op("Min", [graph.op("Reciprocal", [graph.op("Sqrt", [square_sum])]),
                               graph.const(1e12)])  # Keras's cap for a zero norm
    return x.relabel(graph.op("Mul", [x.name, inverse]))


# ---------------------------------------------------------------- preprocessing

def rescaling(state, layer, params, x, shape):
    graph = state.graph
    y = graph.op("Mul", [x.name, graph.broadcast(layer.scale, x, "scale")])
    return x.relabel(graph.op("Add", [y, graph.broadcast(layer.offset, x, "offset")]))


def preprocessing_normalization(state, layer, params, x, shape):
    graph = state.graph
    keep = layer._keep(x.rank)
    probe = np.zeros([shape[d] if d in keep else 1 for d in range(x.rank)], np.float32)
    mean, spread = layer._statistics(params, probe)
    mean, spread = graph.broadcast(mean, x, "mean"), graph.broadcast(spread, x, "spread")
    if layer.invert:
        return x.relabel(graph.op("Add", [mean, graph.op("Mul", [x.name, spread])]))
    return x.relabel(graph.op("Div", [graph.op("Sub", [x.name, mean]), spread]))


def auto_contrast(state, layer, params, x, shape):
    """Keras's AutoContrast: each image's range over Keras axes 1 and 2 stretched to fill
    value_range; a flat image (0 / 0) given back unchanged."""
    graph = state.graph
    low_v, high_v = (float(v) for v in layer.value_range)
    rescale = (low_v, high_v) != (0.0, 255.0)
    full, span = graph.const(255.0, "full"), graph.const(high_v - low_v, "span")
    bottom = graph.const(low_v, "bottom")
    scaled = graph.op("Mul", [graph.op("Div", [graph.op("Sub", [x.name, bottom]), span]),
                              full]) if rescale else x.name
    axes = [x.position(1), x.position(2)]
    low = graph.reduce("ReduceMin", scaled, axes)
    high = graph.reduce("ReduceMax", scaled, axes)
    scale = graph.op("Div", [full, graph.op("Sub", [high, low])])
    z = graph.op("Add", [graph.op("Mul", [scaled, scale]),
                         graph.op("Mul", [graph.op("Neg", [low]), scale])])
    y = graph.op("Clip", [z, graph.const(0.0, "zero"), full])
    if rescale:
        y = graph.op("Add", [graph.op("Mul", [graph.op("Div", [y, full]), span]), bottom])
    return x.relabel(graph.op("Where", [graph.op("IsNaN", [y]), x.name, y]))


# ---------------------------------------------------------------- wrappers

def time_distributed(state, layer, params, x, shape):
    """The inner layer on (batch * steps, ...), reshaped back; a Dense, which works on
    the last axis whatever the rank, needs no reshaping."""
    from seqcli.layers.core import Dense
    from seqcli.onnx_export import emit

    if isinstance(layer.layer, Dense):
        return dense(state, layer.layer, params, x, shape)
    graph = state.graph
    data = graph.keras(x)
    flat = graph.reshape(data, [-1], graph.shape_part(data, 2))
    inner = emit(state, layer.layer, params, Value(flat, identity(x.rank - 1)),
                 (None, *shape[2:]))
    inner_out = graph.keras(inner)
    y = graph.reshape(inner_out, graph.shape_part(data, 0, 2), graph.shape_part(inner_out, 1))
    return Value(y, identity(inner.rank + 1))


def einsum_dense(state, layer, params, x, shape):
    """ONNX's Einsum with the equation's letters (the elided axes named), in Keras's
    layout; the bias broadcasts over the output's last axes as in Keras."""
    graph = state.graph
    inputs, kernel, outputs = layer.letters(x.rank)
    y = graph.op("Einsum", [graph.keras(x), graph.const(params["kernel"], "kernel")],
                 equation=f"{inputs},{kernel}->{outputs}")
    if "bias" in params:
        y = graph.op("Add", [y, graph.const(params["bias"], "bias")])
    return activation(graph, layer.activation, Value(y, identity(len(outputs))))


def spectral_normalization(state, layer, params, x, shape):
    """At inference the wrapped layer runs with its stored kernel: vector_u is unused."""
    from seqcli.onnx_export import emit

    inner = {key: value for key, value in params.items() if key != "vector_u"}
    return emit(state, layer.layer, inner, x, shape)


def rms_norm(state, layer, params, x, shape):
    """x / sqrt(mean(x * x) + epsilon) * scale, as Keras 3's ops.rms_normalization."""
    graph = state.graph
    positions = [x.position(a) for a in layer._axes()]
    mean_square = graph.reduce("ReduceMean", graph.op("Mul", [x.name, x.name]), positions)
    inverse = graph.op("Reciprocal", [graph.op("Sqrt", [graph.op(
        "Add", [mean_square, graph.const(layer.epsilon, "epsilon")])])])
    y = graph.op("Mul", [x.name, inverse])
    return x.relabel(graph.op("Mul", [y, graph.broadcast(params["scale"], x, "scale")]))


# ---------------------------------------------------------------- masking

def masking_mask(graph, layer, x) -> str:
    """Keras's Masking.compute_mask: True where any feature differs from mask_value
    (Keras's layout, the feature axis reduced away)."""
    differs = graph.op("Not", [graph.op("Equal", [graph.keras(x), graph.const(
        layer.mask_value, "mask_value")])])
    as_float = graph.op("Cast", [differs], to=TensorProto.FLOAT)
    return graph.op("Cast", [graph.reduce("ReduceMax", as_float, [x.rank - 1],
                                          keepdims=False)], to=TensorProto.BOOL)


def masking(state, layer, params, x, shape):
    """The masked steps set to +0.0, as Keras's ops.where(mask, x, 0) sets them."""
    graph = state.graph
    keep = graph.op("Unsqueeze", [masking_mask(graph, layer, x), graph.ints([-1], "axes")])
    y = graph.op("Where", [keep, graph.keras(x), graph.const(0.0, "zero")])
    return Value(y, identity(x.rank))


# ---------------------------------------------------------------- categories

def _encoded(graph, indices, layer, shape, mode, depth):
    """seqcli.layers.encoding.encode on a float tensor of whole numbers (Keras's layout,
    Keras shape `shape`): one_hot (a last axis of 1 squeezed first), multi_hot (the
    largest over axis 1) or count (the sum over axis 1)."""
    rank = len(layer.output_shape(shape))
    if mode == "int":
        return Value(indices, identity(rank))
    if mode == "one_hot" and len(shape) > 1 and shape[-1] == 1:
        indices = graph.op("Squeeze", [indices, graph.ints([-1], "axes")])
    columns = graph.const(np.arange(depth, dtype=np.float32), "categories")
    hot = graph.op("Cast", [graph.op("Equal", [graph.op(
        "Unsqueeze", [indices, graph.ints([-1], "axes")]), columns])], to=TensorProto.FLOAT)
    if mode != "one_hot":
        hot = graph.reduce("ReduceMax" if mode == "multi_hot" else "ReduceSum", hot, [1],
                           keepdims=False)
    return Value(hot, identity(rank))


def discretization(state, layer, params, x, shape):
    """The bin index is the number of boundaries at or below x (numpy's digitize)."""
    graph = state.graph
    edges = graph.const(np.asarray(layer.bin_boundaries, np.float32), "bin_boundaries")
    above = graph.op("GreaterOrEqual", [graph.op(
        "Unsqueeze", [graph.keras(x), graph.ints([-1], "axes")]), edges])
    indices = graph.reduce("ReduceSum", graph.op("Cast", [above], to=TensorProto.FLOAT),
                           [x.rank], keepdims=False)
    return _encoded(graph, indices, layer, shape, layer.output_mode, layer.depth)


def category_encoding(state, layer, params, x, shape):
    """Inputs outside 0 .. num_tokens - 1 encode as zeros here (the numpy engine refuses
    them; a graph has no such check)."""
    graph = state.graph
    return _encoded(graph, graph.keras(x), layer, shape, layer.mode, layer.num_tokens)
