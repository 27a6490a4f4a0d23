"""Export a built Sequential and its weights to ONNX (opset 17).

The model's input keeps Keras's layout (channels last), its name ("input_layer",
Keras 3's) and a dynamic batch. Each layer family has one emitter in EMITTERS that
adds the layer's nodes to a `Graph` and returns its output `Value`; convolutions,
pooling and resizing work channels-first and leave their output so, and the
graph transposes back only where a layer needs Keras's layout (see onnx_graph).
Layers that only act in training (Dropout, noise, ActivityRegularization) add
nothing. Recurrent layers are in onnx_recurrent.
"""

from __future__ import annotations

import math

from seqcli.errors import SeqcliError

INSTALL = "pip install 'seqcli[onnx]'"
INPUT_NAME = "input_layer"
OUTPUT_NAME = "output_0"


def require_onnx(what: str = "ONNX export"):
    """Import onnx, or a one-line error saying what to install."""
    try:
        import onnx
    except ImportError:
        raise SeqcliError(f"{what} needs the onnx package: {INSTALL}") from None
    return onnx


# ---------------------------------------------------------------- the entry points

def export(model, weights: dict):
    """An onnx.ModelProto computing `model` with `weights` (flat `layer/weight` dict)."""
    return build(model, weights)[0]


def build(model, weights: dict, outputs=(), penalties: bool = False):
    """(ModelProto, the ActivityRegularization layers tapped). `outputs` names top-level
    layers whose outputs become extra graph outputs "layer:NAME"; with `penalties`, the
    outputs of ActivityRegularization layers become outputs "penalty:I", in order (the
    engine adds their loss terms)."""
    require_onnx()
    from seqcli.onnx_graph import Graph, Value, identity
    from seqcli.weights import nest

    model = model.with_input((None, *model.input_shape))
    model.check_masks()
    graph = Graph()
    state = Emission(graph)
    x = Value(INPUT_NAME, identity(len(model.batch_input_shape)))
    y, kept = emit_layers(state, model.plan, nest(weights), x, keep=set(outputs))
    graph.op_named("Identity", [graph.keras(y)], OUTPUT_NAME)
    extra = []
    plan = model.plan
    for name in outputs:
        graph.op_named("Identity", [graph.keras(kept[name])], f"layer:{name}")
        extra.append((f"layer:{name}", plan.step(name).output_shape))
    if penalties:
        for index, (layer, shape, value) in enumerate(state.taps):
            graph.op_named("Identity", [graph.keras(value)], f"penalty:{index}")
            extra.append((f"penalty:{index}", shape))
    proto = graph.model(INPUT_NAME, model.batch_input_shape, OUTPUT_NAME,
                        plan.output_shape, extra, graph_name=model.name or "sequential")
    return proto, [layer for layer, _, _ in state.taps] if penalties else []


def write(model, weights: dict, path: str) -> None:
    """Write the model as an .onnx file, whole or not at all."""
    from seqcli.files import atomic_writer

    proto = export(model, weights)
    with atomic_writer(path, binary=True) as handle:
        handle.write(proto.SerializeToString())


# ---------------------------------------------------------------- the traversal

class Emission:
    """The graph being built, plus what the traversal learns on the way: the Keras
    mask from an Embedding with mask_zero, and the ActivityRegularization taps."""

    def __init__(self, graph):
        self.graph = graph
        self.taps = []  # (layer, Keras shape, Value)


def emit_layers(state: Emission, plan, params: dict, x, keep=frozenset()):
    """Every layer of a built Sequential's plan in turn, as Sequential.run goes (masks
    included); (output Value, {kept layer name: Value})."""
    from seqcli.model import Sequential

    graph, mask, kept = state.graph, None, {}
    outer_scope = graph.scope
    for step in plan.steps:
        layer = step.layer
        graph.scope = f"{outer_scope}/{layer.name}" if outer_scope else layer.name
        layer_params = params.get(layer.name, {})
        made = None
        if layer.makes_mask:
            made = graph.op("Not", [graph.op("Equal", [graph.keras(x),
                                                       graph.const(0.0, "zero")])])
        if isinstance(layer, Sequential):
            x, _ = emit_layers(state, step.inner, layer_params, x)
        elif mask is not None and layer.masking == "uses":
            x, mask = emitter_for(layer, MASKED)(state, layer, layer_params, x,
                                                  step.input_shape, mask)
        else:
            x = emit(state, layer, layer_params, x, step.input_shape)
            mask = mask if layer.masking == "passes" else None
        mask = made if made is not None else mask
        if layer.name in keep:
            kept[layer.name] = x
    graph.scope = outer_scope
    return x, kept


def emit(state, layer, params, x, shape):
    """One layer's nodes (wrappers call this for the layers they hold)."""
    return emitter_for(layer, EMITTERS)(state, layer, params, x, shape)


def emitter_for(layer, table):
    for cls in type(layer).__mro__:
        if cls in table:
            return table[cls]
    raise SeqcliError(f"{type(layer).__name__} has no ONNX form in seqcli, so this model "
                      "cannot be exported (nor run with --engine onnxruntime)",
                      f"layer {layer.name!r} ({type(layer).__name__})")


EMITTERS: dict = {}
MASKED: dict = {}


def emits(*classes, table=None):
    def register(function):
        for cls in classes:
            (EMITTERS if table is None else table)[cls] = function
        return function
    return register


def _cannot(layer, why: str):
    return SeqcliError(f"cannot export to ONNX: {why}",
                       f"layer {layer.name!r} ({type(layer).__name__})")


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

def _passthrough(state, layer, params, x, shape):
    return x


def _tap(state, layer, params, x, shape):
    """ActivityRegularization: the identity; its output feeds the loss term."""
    state.taps.append((layer, shape, x))
    return x


def _dense(state, layer, params, x, shape):
    from seqcli.onnx_graph import Value, identity

    graph = state.graph
    data = graph.keras(x)
    kernel = graph.const(params["kernel"], "kernel")
    if x.rank == 2 and layer.use_bias:
        y = graph.op("Gemm", [data, kernel, graph.const(params["bias"], "bias")])
    else:
        y = graph.op("MatMul", [data, kernel])
        if layer.use_bias:
            y = graph.op("Add", [y, graph.const(params["bias"], "bias")])
    return activation(graph, layer.activation, Value(y, identity(x.rank)))


def _activation(state, layer, params, x, shape):
    return activation(state.graph, layer.activation, x)


def _flatten(state, layer, params, x, shape):
    from seqcli.onnx_graph import Value, identity

    perm = identity(x.rank)
    if layer.data_format == "channels_first" and x.rank > 2:
        perm = (0, *range(2, x.rank), 1)  # Keras flattens channels-last whatever the format
    return Value(state.graph.op("Flatten", [state.graph.layout(x, perm)], axis=1), (0, 1))


def _embedding(state, layer, params, x, shape):
    from onnx import TensorProto

    from seqcli.onnx_graph import Value, identity

    graph = state.graph
    indices = graph.op("Cast", [graph.keras(x)], to=TensorProto.INT64)
    y = graph.op("Gather", [graph.const(params["embeddings"], "embeddings"), indices])
    return Value(y, identity(x.rank + 1))


def _reshape(state, layer, params, x, shape):
    from seqcli.onnx_graph import Value, identity

    y = state.graph.reshape(state.graph.keras(x), [0, *layer.target_shape])
    return Value(y, identity(len(layer.target_shape) + 1))


def _permute(state, layer, params, x, shape):
    """No node: the same tensor, relabelled with the Keras axes it now holds."""
    from seqcli.onnx_graph import Value

    order = (0, *layer.dims)  # Keras output axis j is input axis order[j]
    return Value(x.name, tuple(order.index(axis) for axis in x.perm))


def _repeat_vector(state, layer, params, x, shape):
    from seqcli.onnx_graph import Value

    graph = state.graph
    column = graph.op("Unsqueeze", [graph.keras(x), graph.ints([1], "axes")])
    return Value(graph.op("Tile", [column, graph.ints([1, layer.n, 1], "repeats")]), (0, 1, 2))


# ---------------------------------------------------------------- activation layers

def _relu(state, layer, params, x, shape):
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


def _leaky_relu(state, layer, params, x, shape):
    return x.relabel(state.graph.op("LeakyRelu", [x.name], alpha=layer.negative_slope))


def _prelu(state, layer, params, x, shape):
    graph = state.graph
    return x.relabel(graph.op("PRelu", [x.name, graph.broadcast(params["alpha"], x, "alpha")]))


def _elu(state, layer, params, x, shape):
    return x.relabel(state.graph.op("Elu", [x.name], alpha=layer.alpha))


def _softmax(state, layer, params, x, shape):
    graph = state.graph
    axes = layer.axis if isinstance(layer.axis, tuple) else (layer.axis,)
    positions = sorted({x.position(a) for a in axes})
    if len(positions) == 1:
        return x.relabel(graph.op("Softmax", [x.name], axis=positions[0]))
    shifted = graph.op("Sub", [x.name, graph.reduce("ReduceMax", x.name, positions)])
    e = graph.op("Exp", [shifted])
    return x.relabel(graph.op("Div", [e, graph.reduce("ReduceSum", e, positions)]))


# ---------------------------------------------------------------- convolutions

def _spatial_layout(layer, rank):
    """The layout a channels-first ONNX op needs for this layer's Keras input."""
    from seqcli.layers.base import channels_last
    from seqcli.onnx_graph import channels_first, identity

    last = channels_last(getattr(layer, "data_format", None))
    return channels_first(rank) if last else identity(rank), last


def _spatial_sizes(shape, last):
    return shape[1:-1] if last else shape[2:]


def _pads(layer, spatial, window, strides, dilation):
    """Keras's padding as ONNX attributes: explicit pads, or SAME_UPPER (TensorFlow's
    "same": the extra cell at the end) when a size is unknown."""
    from seqcli import ops

    if layer.padding == "valid":
        return {}
    if layer.padding == "causal":
        return {"pads": [(window[0] - 1) * dilation[0], 0]}
    if None in spatial:
        return {"auto_pad": "SAME_UPPER"}
    pairs = ops.conv_pads(spatial, window, strides, "same", dilation)
    return {"pads": [a for a, _ in pairs] + [b for _, b in pairs]}


def _conv_node(graph, data, kernel, bias, layer, spatial, groups, window=None, ones=False):
    rank = len(spatial)
    window = window or layer.kernel_size
    strides = (1,) * rank if ones else layer.strides
    dilation = (1,) * rank if ones else layer.dilation_rate
    inputs = [data, graph.const(kernel, "kernel")]
    if bias is not None:
        inputs.append(graph.const(bias, "bias"))
    pads = {} if ones else _pads(layer, spatial, window, strides, dilation)
    return graph.op("Conv", inputs, group=groups, strides=list(strides),
                    dilations=list(dilation), kernel_shape=list(window), **pads)


def _onnx_kernel(kernel, rank):
    """Keras (*window, in, out) -> ONNX (out, in, *window)."""
    return kernel.transpose(rank + 1, rank, *range(rank))


def _depthwise_kernel(kernel, rank):
    """Keras (*window, C, multiplier) -> ONNX (C * multiplier, 1, *window), group C."""
    grouped = kernel.reshape(*kernel.shape[:rank], 1, kernel.shape[rank] * kernel.shape[-1])
    return _onnx_kernel(grouped, rank)


def _conv(state, layer, params, x, shape):
    from seqcli.layers.conv import ConvTranspose, DepthwiseConv, SeparableConv
    from seqcli.onnx_graph import Value

    graph, rank = state.graph, layer.rank
    perm, last = _spatial_layout(layer, rank + 2)
    data = graph.layout(x, perm)
    spatial = _spatial_sizes(shape, last)
    bias = params.get("bias") if layer.use_bias else None
    channels = shape[-1] if last else shape[1]
    if isinstance(layer, ConvTranspose):
        y = _conv_transpose_node(graph, data, params["kernel"], bias, layer, spatial)
    elif isinstance(layer, DepthwiseConv):
        y = _conv_node(graph, data, _depthwise_kernel(params["kernel"], rank), bias, layer,
                       spatial, channels)
    elif isinstance(layer, SeparableConv):
        middle = _conv_node(graph, data, _depthwise_kernel(params["depthwise_kernel"], rank),
                            None, layer, spatial, channels)
        y = _conv_node(graph, middle, _onnx_kernel(params["pointwise_kernel"], rank), bias,
                       layer, spatial, 1, window=(1,) * rank, ones=True)
    else:
        y = _conv_node(graph, data, _onnx_kernel(params["kernel"], rank), bias, layer,
                       spatial, layer.groups)
    return activation(graph, layer.activation, Value(y, perm))


def _conv_transpose_node(graph, data, kernel, bias, layer, spatial):
    """Keras keeps a window of the full transposed convolution: ONNX's pads crop it,
    and output_padding extends it with zeros (plus the bias) where Keras's is longer."""
    from seqcli.shapes import conv_transpose_sizes

    rank = layer.rank
    known = [1 if size is None else size for size in spatial]  # the crops ignore sizes
    _, crops = conv_transpose_sizes(known, layer.kernel_size, layer.strides, layer.padding,
                                    layer.output_padding, layer.dilation_rate)
    inputs = [data, graph.const(kernel.transpose(rank + 1, rank, *range(rank)), "kernel")]
    if bias is not None:
        inputs.append(graph.const(bias, "bias"))
    return graph.op("ConvTranspose", inputs, strides=list(layer.strides),
                    dilations=list(layer.dilation_rate), kernel_shape=list(layer.kernel_size),
                    pads=[left for left, _ in crops] + [max(right, 0) for _, right in crops],
                    output_padding=[max(-right, 0) for _, right in crops])


# ---------------------------------------------------------------- pooling

def _pooling(state, layer, params, x, shape):
    from seqcli.onnx_graph import Value

    graph = state.graph
    perm, last = _spatial_layout(layer, layer.rank + 2)
    spatial = _spatial_sizes(shape, last)
    pads = _pads(layer, spatial, layer.pool_size, layer.step, (1,) * layer.rank)
    attributes = dict(kernel_shape=list(layer.pool_size), strides=list(layer.step), **pads)
    if layer.mode == "max":
        y = graph.op("MaxPool", [graph.layout(x, perm)], **attributes)
    else:  # TensorFlow and JAX average only the real cells of a padded window
        y = graph.op("AveragePool", [graph.layout(x, perm)], count_include_pad=0,
                     **attributes)
    return Value(y, perm)


def _spatial_axes(layer, rank):
    from seqcli.layers.base import channels_last

    last = channels_last(getattr(layer, "data_format", None))
    return tuple(range(1, rank - 1)) if last else tuple(range(2, rank))


def _without(perm, axes):
    """The layout left when Keras axes are reduced away (and the rest renumbered)."""
    return tuple(a - sum(r < a for r in axes) for a in perm if a not in axes)


def _global_pooling(state, layer, params, x, shape):
    from seqcli.onnx_graph import Value

    axes = _spatial_axes(layer, x.rank)
    op = "ReduceMax" if layer.mode == "max" else "ReduceMean"
    y = state.graph.reduce(op, x.name, [x.position(a) for a in axes], layer.keepdims)
    return Value(y, x.perm if layer.keepdims else _without(x.perm, axes))


def _global_average_masked(state, layer, params, x, shape, mask):
    """The mean over the unmasked steps (GlobalAveragePooling1D after mask_zero)."""
    from onnx import TensorProto

    from seqcli.layers.base import channels_last
    from seqcli.onnx_graph import Value, identity

    graph = state.graph
    last = channels_last(layer.data_format)
    time, feature = (1, 2) if last else (2, 1)
    weights = graph.op("Unsqueeze", [graph.op("Cast", [mask], to=TensorProto.FLOAT),
                                     graph.ints([feature], "axes")])
    total = graph.reduce("ReduceSum", graph.op("Mul", [graph.keras(x), weights]), [time],
                         layer.keepdims)
    count = graph.reduce("ReduceSum", weights, [time], layer.keepdims)
    y = graph.op("Div", [total, count])
    return Value(y, identity(3 if layer.keepdims else 2)), None


# ---------------------------------------------------------------- normalization

def _batch_norm(state, layer, params, x, shape):
    import numpy as np

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


def _standardize(graph, name, positions, epsilon, centre=True):
    """(x - mean) / sqrt(var + eps) over positions, as numpy computes it (or x / ...
    when not centred: Keras's rms_scaling)."""
    mean = graph.reduce("ReduceMean", name, positions)
    centred = graph.op("Sub", [name, mean])
    variance = graph.reduce("ReduceMean", graph.op("Mul", [centred, centred]), positions)
    inverse = graph.op("Reciprocal", [graph.op("Sqrt", [graph.op(
        "Add", [variance, graph.const(epsilon, "epsilon")])])])
    return graph.op("Mul", [centred if centre else name, inverse])


def _layer_norm(state, layer, params, x, shape):
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


def _group_norm(state, layer, params, x, shape):
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


def _unit_norm(state, layer, params, x, shape):
    graph = state.graph
    positions = [x.position(a) for a in layer._axes(x.rank)]
    square_sum = graph.reduce("ReduceSum", graph.op("Mul", [x.name, x.name]), positions)
    inverse = graph.op("Min", [graph.op("Reciprocal", [graph.op("Sqrt", [square_sum])]),
                               graph.const(1e12)])  # Keras's cap for a zero norm
    return x.relabel(graph.op("Mul", [x.name, inverse]))


# ---------------------------------------------------------------- preprocessing

def _rescaling(state, layer, params, x, shape):
    graph = state.graph
    y = graph.op("Mul", [x.name, graph.broadcast(layer.scale, x, "scale")])
    return x.relabel(graph.op("Add", [y, graph.broadcast(layer.offset, x, "offset")]))


def _normalization(state, layer, params, x, shape):
    import numpy as np

    graph = state.graph
    keep = layer._keep(x.rank)
    probe = np.zeros([shape[d] if d in keep else 1 for d in range(x.rank)], np.float32)
    mean, spread = layer._statistics(params, probe)
    mean, spread = graph.broadcast(mean, x, "mean"), graph.broadcast(spread, x, "spread")
    if layer.invert:
        return x.relabel(graph.op("Add", [mean, graph.op("Mul", [x.name, spread])]))
    return x.relabel(graph.op("Div", [graph.op("Sub", [x.name, mean]), spread]))


def _resize(graph, data, sizes, method):
    """Resize the two spatial axes of channels-first data as jax.image.resize does
    (half-pixel centres; nearest takes the pixel under the centre)."""
    target = graph.op("Concat", [graph.shape_part(data, 0, 2), graph.ints(sizes, "sizes")],
                      axis=0)
    if method == "nearest":  # the pixel under the centre: round_prefer_ceil(c - 0.5)
        mode = dict(mode="nearest", coordinate_transformation_mode="half_pixel",
                    nearest_mode="round_prefer_ceil")
    else:
        mode = dict(mode="linear", coordinate_transformation_mode="half_pixel")
    return graph.op("Resize", [data, "", "", target], **mode)


def _crop(graph, data, starts, ends, axes):
    return graph.op("Slice", [data, graph.ints(starts, "starts"), graph.ints(ends, "ends"),
                              graph.ints(axes, "axes")])


def _image(state, layer, params, x, shape):
    """Resizing and CenterCrop: an optional centre crop, then a resize."""
    from seqcli.layers.preprocessing import CenterCrop, Resizing, _aspect_crop
    from seqcli.onnx_graph import Value

    graph = state.graph
    perm, last = _spatial_layout(layer, 4)
    data = graph.layout(x, perm)
    height, width = _spatial_sizes(shape, last)
    target = (layer.height, layer.width)
    if height is None or width is None:
        if isinstance(layer, Resizing) and not layer.crop_to_aspect_ratio:
            return Value(_resize(graph, data, target, layer.interpolation), perm)
        raise _cannot(layer, "the crop depends on the image size, and the input's height "
                      "and width are not known; give them in the input shape")
    if isinstance(layer, CenterCrop) and height >= layer.height and width >= layer.width:
        top, left = (height - layer.height) // 2, (width - layer.width) // 2
        return Value(_crop(graph, data, [top, left], [top + layer.height, left + layer.width],
                           [2, 3]), perm)
    method = "bilinear" if isinstance(layer, CenterCrop) else layer.interpolation
    if isinstance(layer, CenterCrop) or layer.crop_to_aspect_ratio:
        top, left, box_h, box_w = _aspect_crop(height, width, *target)
        if (box_h, box_w) != (height, width):
            data = _crop(graph, data, [top, left], [top + box_h, left + box_w], [2, 3])
    return Value(_resize(graph, data, target, method), perm)


# ---------------------------------------------------------------- padding, cropping, upsampling

def _spatial_margins(layer, x, margins):
    """Per ONNX axis (before, after) for the layer's Keras spatial axes."""
    pairs = (margins,) if layer.rank == 1 else margins
    axes = _spatial_axes(layer, layer.rank + 2)
    result = [(0, 0)] * x.rank
    for axis, pair in zip(axes, pairs):
        result[x.position(axis)] = pair
    return result


def _zero_padding(state, layer, params, x, shape):
    graph = state.graph
    pairs = _spatial_margins(layer, x, layer.padding)
    pads = graph.ints([a for a, _ in pairs] + [b for _, b in pairs], "pads")
    return x.relabel(graph.op("Pad", [x.name, pads], mode="constant"))


def _cropping(state, layer, params, x, shape):
    from seqcli.onnx_graph import INT64_MAX

    pairs = _spatial_margins(layer, x, layer.cropping)
    axes = [i for i, pair in enumerate(pairs) if any(pair)]
    if not axes:
        return x
    starts = [pairs[i][0] for i in axes]
    ends = [-pairs[i][1] if pairs[i][1] else INT64_MAX for i in axes]
    return x.relabel(_crop(state.graph, x.name, starts, ends, axes))


def _upsampling(state, layer, params, x, shape):
    from seqcli.onnx_graph import Value

    graph = state.graph
    factors = layer.factors()
    if getattr(layer, "interpolation", "nearest") == "bilinear":
        perm, last = _spatial_layout(layer, 4)
        data = graph.layout(x, perm)
        sizes = [s * f for s, f in zip(_spatial_sizes(shape, last), factors)]
        if None in sizes:
            scales = graph.const([1, 1, *factors], "scales")
            return Value(graph.op("Resize", [data, "", scales], mode="linear",
                                  coordinate_transformation_mode="half_pixel"), perm)
        return Value(_resize(graph, data, sizes, "bilinear"), perm)
    scales = [1.0] * x.rank  # nearest by whole factors: each value repeated
    for axis, factor in zip(_spatial_axes(layer, x.rank), factors):
        scales[x.position(axis)] = float(factor)
    y = graph.op("Resize", [x.name, "", graph.const(scales, "scales")], mode="nearest",
                 coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    return x.relabel(y)


# ---------------------------------------------------------------- wrappers

def _time_distributed(state, layer, params, x, shape):
    """The inner layer on (batch * steps, ...), reshaped back."""
    from seqcli.onnx_graph import Value, identity

    graph = state.graph
    data = graph.keras(x)
    flat = graph.reshape(data, [-1], graph.shape_part(data, 2))
    inner_shape = (None, *shape[2:])
    inner = emit(state, layer.layer, params, Value(flat, identity(x.rank - 1)), inner_shape)
    inner_out = graph.keras(inner)
    y = graph.reshape(inner_out, graph.shape_part(data, 0, 2), graph.shape_part(inner_out, 1))
    return Value(y, identity(inner.rank + 1))


# ---------------------------------------------------------------- the table

def _register_all():
    from seqcli.layers import (activation as act, conv, core, normalization as norm,
                               padding, pooling, preprocessing as pre, regularization as reg,
                               reshaping, wrappers)
    from seqcli import onnx_recurrent
    from seqcli.layers.recurrent import _Recurrent

    table = {
        core.Dense: _dense, core.Activation: _activation, core.Flatten: _flatten,
        core.Embedding: _embedding, core.RandomInTraining: _passthrough,
        reg.ActivityRegularization: _tap,
        reshaping.Identity: _passthrough, reshaping.Reshape: _reshape,
        reshaping.Permute: _permute, reshaping.RepeatVector: _repeat_vector,
        act.ReLU: _relu, act.LeakyReLU: _leaky_relu, act.PReLU: _prelu, act.ELU: _elu,
        act.Softmax: _softmax,
        conv._Convolution: _conv,
        pooling.Pooling: _pooling, pooling.GlobalPooling: _global_pooling,
        norm.BatchNormalization: _batch_norm, norm.LayerNormalization: _layer_norm,
        norm.GroupNormalization: _group_norm, norm.UnitNormalization: _unit_norm,
        pre.Rescaling: _rescaling, pre.Normalization: _normalization, pre._Image: _image,
        padding.ZeroPadding: _zero_padding, padding.Cropping: _cropping,
        padding.UpSampling: _upsampling,
        wrappers.TimeDistributed: _time_distributed,
        wrappers.Bidirectional: onnx_recurrent.bidirectional,
        _Recurrent: onnx_recurrent.recurrent,
    }
    EMITTERS.update(table)
    MASKED.update({_Recurrent: onnx_recurrent.recurrent_masked,
                   pooling.GlobalPooling: _global_average_masked})


_register_all()
