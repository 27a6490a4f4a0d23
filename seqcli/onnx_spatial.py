"""ONNX emitters for spatial layers: convolutions, pooling, padding, cropping,
upsampling and image resizing. ONNX's operators want channels first: the input is
asked for in that layout, and the output is left in it (see onnx_graph).
"""

from __future__ import annotations

from onnx import TensorProto

from seqcli.errors import SeqcliError
from seqcli.onnx_export import place
from seqcli.onnx_graph import INT64_MAX, Value, channels_first, identity
from seqcli.onnx_layers import activation


# ---------------------------------------------------------------- convolutions

def _spatial_layout(layer, rank):
    """(the layout a channels-first ONNX op needs for this layer's Keras input, whether
    the layer is channels-last)."""
    return channels_first(rank) if layer.last else identity(rank), layer.last


def _spatial_sizes(shape, last):
    return shape[1:-1] if last else shape[2:]


def _pads(layer, spatial, window, strides, dilation):
    """Keras's padding as ONNX attributes: explicit pads, or SAME_UPPER (TensorFlow's
    "same": the extra cell at the end) when a strided axis's size is unknown. With
    stride 1 the pads do not depend on the size (ONNX Runtime refuses SAME_UPPER with
    dilation, which Keras allows only with stride 1)."""
    from seqcli import ops

    if layer.padding == "valid":
        return {}
    if layer.padding == "causal":
        return {"pads": [(window[0] - 1) * dilation[0], 0]}
    if any(size is None and stride > 1 for size, stride in zip(spatial, strides)):
        return {"auto_pad": "SAME_UPPER"}
    spatial = [1 if size is None else size for size in spatial]  # stride 1: any size
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


def conv(state, layer, params, x, shape):
    from seqcli.layers.conv import ConvTranspose, DepthwiseConv, SeparableConv

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

def pooling(state, layer, params, x, shape):
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
    """The Keras axes of a layer's spatial dimensions, for an input of `rank`."""
    return tuple(range(1, rank - 1)) if layer.last else tuple(range(2, rank))


def _without(perm, axes):
    """The layout left when Keras axes are reduced away (and the rest renumbered)."""
    return tuple(a - sum(r < a for r in axes) for a in perm if a not in axes)


def global_pooling(state, layer, params, x, shape):
    axes = _spatial_axes(layer, x.rank)
    op = "ReduceMax" if layer.mode == "max" else "ReduceMean"
    y = state.graph.reduce(op, x.name, [x.position(a) for a in axes], layer.keepdims)
    return Value(y, x.perm if layer.keepdims else _without(x.perm, axes))


def global_average_masked(state, layer, params, x, shape, mask):
    """The mean over the unmasked steps (GlobalAveragePooling1D after mask_zero)."""
    graph = state.graph
    time, feature = (1, 2) if layer.last else (2, 1)
    weights = graph.op("Unsqueeze", [graph.op("Cast", [mask.name], to=TensorProto.FLOAT),
                                     graph.ints([feature], "axes")])
    total = graph.reduce("ReduceSum", graph.op("Mul", [graph.keras(x), weights]), [time],
                         layer.keepdims)
    count = graph.reduce("ReduceSum", weights, [time], layer.keepdims)
    y = graph.op("Div", [total, count])
    return Value(y, identity(3 if layer.keepdims else 2)), None


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


def image(state, layer, params, x, shape):
    """Resizing and CenterCrop: an optional centre crop, then a resize."""
    from seqcli.layers.preprocessing import CenterCrop, Resizing, _aspect_crop

    graph = state.graph
    perm, last = _spatial_layout(layer, 4)
    data = graph.layout(x, perm)
    height, width = _spatial_sizes(shape, last)
    target = (layer.height, layer.width)
    if height is None or width is None:
        if isinstance(layer, Resizing) and not layer.crop_to_aspect_ratio:
            return Value(_resize(graph, data, target, layer.interpolation), perm)
        raise SeqcliError("cannot export to ONNX: the crop depends on the image size, and "
                          "the input's height and width are not known; give them in the "
                          "input shape", place(layer))
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


def random_crop(state, layer, params, x, shape):
    """RandomCrop at inference: the centre window of the target's aspect ratio, resized
    bilinearly (seqcli's inference, as Keras documents it)."""
    from seqcli.layers.preprocessing import _aspect_crop

    graph = state.graph
    perm, last = _spatial_layout(layer, 4)
    data = graph.layout(x, perm)
    height, width = _spatial_sizes(shape, last)
    if height is None or width is None:
        raise SeqcliError("cannot export to ONNX: RandomCrop's window depends on the image "
                          "size, and the input's height and width are not known; give them "
                          "in the input shape", place(layer))
    top, left, box_h, box_w = _aspect_crop(height, width, layer.height, layer.width)
    if (box_h, box_w) != (height, width):
        data = _crop(graph, data, [top, left], [top + box_h, left + box_w], [2, 3])
    return Value(_resize(graph, data, (layer.height, layer.width), "bilinear"), perm)


# ---------------------------------------------------------------- padding, cropping, upsampling

def _spatial_margins(layer, x, margins):
    """Per ONNX axis (before, after) for the layer's Keras spatial axes."""
    pairs = (margins,) if layer.rank == 1 else margins
    axes = _spatial_axes(layer, layer.rank + 2)
    result = [(0, 0)] * x.rank
    for axis, pair in zip(axes, pairs):
        result[x.position(axis)] = pair
    return result


def zero_padding(state, layer, params, x, shape):
    graph = state.graph
    pairs = _spatial_margins(layer, x, layer.padding)
    pads = graph.ints([a for a, _ in pairs] + [b for _, b in pairs], "pads")
    return x.relabel(graph.op("Pad", [x.name, pads], mode="constant"))


def cropping(state, layer, params, x, shape):
    pairs = _spatial_margins(layer, x, layer.cropping)
    axes = [i for i, pair in enumerate(pairs) if any(pair)]
    if not axes:
        return x
    starts = [pairs[i][0] for i in axes]
    ends = [-pairs[i][1] if pairs[i][1] else INT64_MAX for i in axes]
    return x.relabel(_crop(state.graph, x.name, starts, ends, axes))


def upsampling(state, layer, params, x, shape):
    graph = state.graph
    factors = layer.factors()
    if getattr(layer, "interpolation", "nearest") == "bilinear":
        perm, last = _spatial_layout(layer, 4)
        data = graph.layout(x, perm)
        spatial = _spatial_sizes(shape, last)
        if None in spatial:  # whole factors: output sizes and centres are exact
            scales = graph.const([1, 1, *factors], "scales")
            return Value(graph.op("Resize", [data, "", scales], mode="linear",
                                  coordinate_transformation_mode="half_pixel"), perm)
        sizes = [size * factor for size, factor in zip(spatial, factors)]
        return Value(_resize(graph, data, sizes, "bilinear"), perm)
    scales = [1.0] * x.rank  # nearest by whole factors: each value repeated
    for axis, factor in zip(_spatial_axes(layer, x.rank), factors):
        scales[x.position(axis)] = float(factor)
    y = graph.op("Resize", [x.name, "", graph.const(scales, "scales")], mode="nearest",
                 coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    return x.relabel(y)
