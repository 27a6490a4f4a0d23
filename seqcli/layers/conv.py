"""Convolutions, 1-D to 3-D: plain (Conv), transposed, depthwise and separable."""

from __future__ import annotations

from seqcli import activations
from seqcli.args import ActivationArg, Bool, Choice, InitializerArg, Int, IntTuple, Optional, arg
from seqcli.errors import ArgError
from seqcli.layers.base import (RANK_NAMES as NAMES, SpatialLayer, WeightSpec, format_shape,
                                layer_class, rank_family_class, require_rank)
from seqcli.layers.core import DATA_FORMAT
from seqcli.shapes import conv_output_size, conv_transpose_sizes


@layer_class
class _Convolution(SpatialLayer):
    """What every convolution shares: channels, shapes, bias and activation."""

    def check(self):
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ArgError("dilation_rate", "`strides > 1` not supported in conjunction with "
                           f"`dilation_rate > 1`. Received: strides={self.strides} and "
                           f"dilation_rate={self.dilation_rate}")

    def in_channels(self, input_shape) -> int:
        channels = self.split_shape(input_shape)[1]
        if channels is None:
            raise ValueError("The channel dimension of the inputs should be defined. "
                             f"Found None. Full input shape received: {format_shape(input_shape)}")
        return channels

    def output_shape(self, input_shape):
        require_rank(self, input_shape, self.rank + 2)
        spatial = self.split_shape(input_shape)[0]
        channels = self.out_channels(self.in_channels(input_shape))
        out = self.out_sizes(spatial)
        if any(o is not None and o <= 0 for o in out):
            raise ValueError(
                "Computed output size would be zero or negative. Received "
                f"`inputs shape={format_shape(input_shape)}`, `kernel_size={self.kernel_size}`, "
                f"`dilation_rate={self.dilation_rate}`, `strides={self.strides}`, "
                f"`padding={self.padding}`; the input is smaller than the kernel's reach")
        return self.join_shape(input_shape[0], out, channels)

    def out_sizes(self, spatial):
        return [conv_output_size(s, k, st, self.padding, d) for s, k, st, d
                in zip(spatial, self.kernel_size, self.strides, self.dilation_rate)]

    # the activation acts on the output in the layer's own layout, as in Keras (softmax
    # normalizes the last axis: the channels, or the last spatial axis if channels_first)
    def forward(self, params, x):
        z, _ = self.compute(params, self.to_last(x))
        return activations.apply_in_place(self.activation, self.from_last(z))  # z not kept

    def forward_train(self, params, x, rng):
        x = self.to_last(x)
        z, inner = self.compute(params, x)
        z = self.from_last(z)
        y = activations.get(self.activation)(z)
        return y, (x, z, y, inner)

    def backward(self, params, cache, dy, input_grad=True):
        x, z, y, inner = cache
        dz = self.to_last(activations.gradient(self.activation)(z, y, dy))
        dx, grads = self.compute_backward(params, x, inner, dz, input_grad)
        if self.use_bias:
            from seqcli import ops

            grads["bias"] = ops.column_sums(dz.reshape(-1, dz.shape[-1]))
        return (self.from_last(dx) if input_grad else None), grads

    def backward_weights(self, params, cache, dy):
        return self.backward(params, cache, dy, input_grad=False)[1]

    def bias_spec(self, size):
        return [WeightSpec("bias", (size,), self.bias_initializer)] if self.use_bias else []

    def bias(self, params):
        return params["bias"] if self.use_bias else None


@layer_class
class Conv(_Convolution):
    weight_args = {"kernel": "kernel", "bias": "bias"}

    def check(self):
        super().check()
        if self.filters % self.groups:
            raise ArgError("groups", "The number of filters must be evenly divisible by "
                           f"the number of groups. Received: groups={self.groups}, "
                           f"filters={self.filters}.")

    def in_channels(self, input_shape):
        channels = super().in_channels(input_shape)
        if channels % self.groups:
            raise ValueError("The number of input channels must be evenly divisible by the "
                             f"number of groups. Received groups={self.groups}, but the input "
                             f"has {channels} channels (full input shape is "
                             f"{format_shape(input_shape)}).")
        return channels

    def out_channels(self, in_channels):
        return self.filters

    def weight_specs(self, input_shape):
        channels = self.in_channels(input_shape)
        kernel = (*self.kernel_size, channels // self.groups, self.filters)
        return [WeightSpec("kernel", kernel, self.kernel_initializer), *self.bias_spec(self.filters)]

    def forward(self, params, x):
        if self.activation != "relu" or not self.last:
            return super().forward(params, x)
        from seqcli import ops

        # at inference ReLU may overwrite the product, block by block inside the conv
        return ops.conv(x, params["kernel"], self.strides, self.padding, self.dilation_rate,
                        self.groups, self.bias(params), relu=True)

    def compute(self, params, x):
        from seqcli import ops

        return ops.conv(x, params["kernel"], self.strides, self.padding, self.dilation_rate,
                        self.groups, self.bias(params)), None

    def compute_backward(self, params, x, inner, dz, input_grad=True):
        from seqcli import ops

        dx, dkernel = ops.conv_backward(x, params["kernel"], dz, self.strides, self.padding,
                                        self.dilation_rate, self.groups, input_grad)
        return dx, {"kernel": dkernel}


@layer_class
class ConvTranspose(_Convolution):
    weight_args = {"kernel": "kernel", "bias": "bias"}

    def check(self):
        super().check()
        for op, s in zip(self.output_padding or (), self.strides):
            if op >= s:
                raise ArgError("output_padding", "`output_padding` must be strictly less than "
                               f"`strides` for all dimensions. Received: output_padding="
                               f"{self.output_padding}, strides={self.strides}")

    def out_channels(self, in_channels):
        return self.filters

    def out_sizes(self, spatial):
        paddings = self.output_padding or (None,) * self.rank
        return [None if size is None else conv_transpose_sizes(
                    [size], [k], [s], self.padding, None if op is None else [op], [d])[0][0]
                for size, k, s, d, op in zip(spatial, self.kernel_size, self.strides,
                                             self.dilation_rate, paddings)]

    def weight_specs(self, input_shape):
        kernel = (*self.kernel_size, self.filters, self.in_channels(input_shape))
        return [WeightSpec("kernel", kernel, self.kernel_initializer), *self.bias_spec(self.filters)]

    def compute(self, params, x):
        from seqcli import ops

        return ops.conv_transpose(x, params["kernel"], self.strides, self.padding,
                                  self.output_padding, self.dilation_rate, self.bias(params)), None

    def compute_backward(self, params, x, inner, dz, input_grad=True):
        from seqcli import ops

        dx, dkernel = ops.conv_transpose_backward(x, params["kernel"], dz, self.strides,
                                                  self.padding, self.output_padding,
                                                  self.dilation_rate)
        return dx, {"kernel": dkernel}


@layer_class
class DepthwiseConv(_Convolution):
    weight_args = {"kernel": "depthwise", "bias": "bias"}

    def out_channels(self, in_channels):
        return in_channels * self.depth_multiplier

    def weight_specs(self, input_shape):
        channels = self.in_channels(input_shape)
        kernel = (*self.kernel_size, channels, self.depth_multiplier)
        return [WeightSpec("kernel", kernel, self.depthwise_initializer),
                *self.bias_spec(channels * self.depth_multiplier)]

    def compute(self, params, x):
        return _depthwise(x, params["kernel"], self, self.bias(params)), None

    def compute_backward(self, params, x, inner, dz, input_grad=True):
        dx, dkernel = _depthwise_backward(x, params["kernel"], dz, self)
        return dx, {"kernel": dkernel}


@layer_class
class SeparableConv(_Convolution):
    weight_args = {"depthwise_kernel": "depthwise", "pointwise_kernel": "pointwise",
                   "bias": "bias"}

    def out_channels(self, in_channels):
        return self.filters

    def weight_specs(self, input_shape):
        channels = self.in_channels(input_shape)
        middle = channels * self.depth_multiplier
        return [WeightSpec("depthwise_kernel", (*self.kernel_size, channels,
                                                self.depth_multiplier),
                           self.depthwise_initializer),
                WeightSpec("pointwise_kernel", (*(1,) * self.rank, middle, self.filters),
                           self.pointwise_initializer),
                *self.bias_spec(self.filters)]

    def compute(self, params, x):
        from seqcli import ops

        middle = _depthwise(x, params["depthwise_kernel"], self, None)
        ones = (1,) * self.rank
        z = ops.conv(middle, params["pointwise_kernel"], ones, "valid", ones, 1,
                     self.bias(params))
        return z, middle

    def compute_backward(self, params, x, middle, dz, input_grad=True):
        from seqcli import ops

        ones = (1,) * self.rank
        dmiddle, dpointwise = ops.conv_backward(middle, params["pointwise_kernel"], dz, ones,
                                                "valid", ones, 1)
        dx, ddepthwise = _depthwise_backward(x, params["depthwise_kernel"], dmiddle, self)
        return dx, {"depthwise_kernel": ddepthwise, "pointwise_kernel": dpointwise}


def _depthwise(x, kernel, layer, bias):
    """A depthwise convolution is a grouped one: one group per input channel."""
    from seqcli import ops

    channels = kernel.shape[-2]
    grouped = kernel.reshape(*kernel.shape[:-2], 1, channels * kernel.shape[-1])
    return ops.conv(x, grouped, layer.strides, layer.padding, layer.dilation_rate, channels, bias)


def _depthwise_backward(x, kernel, dz, layer):
    from seqcli import ops

    channels = kernel.shape[-2]
    grouped = kernel.reshape(*kernel.shape[:-2], 1, channels * kernel.shape[-1])
    dx, dkernel = ops.conv_backward(x, grouped, dz, layer.strides, layer.padding,
                                    layer.dilation_rate, channels)
    return dx, dkernel.reshape(kernel.shape)


# ---------------------------------------------------------------- the classes, 1-D to 3-D

def _fields(rank, *names):
    """Keras's convolution arguments by name, for this rank, in the order given."""
    padding = ("valid", "same", "causal") if rank == 1 else ("valid", "same")
    table = {
        "filters": (int, arg(Int(1), doc="number of output channels")),
        "kernel_size": (tuple, arg(IntTuple(rank), doc="window size per axis")),
        "strides": (tuple, arg(IntTuple(rank), default=1)),
        "padding": (str, arg(Choice(*padding), default="valid")),
        "padding_no_causal": (str, arg(Choice("valid", "same"), default="valid")),
        "output_padding": (tuple, arg(Optional(IntTuple(rank, allow_zero=True)), default=None,
                                      doc="extra size per axis (less than strides)")),
        "data_format": (str, arg(DATA_FORMAT, default=None)),
        "dilation_rate": (tuple, arg(IntTuple(rank), default=1)),
        "groups": (int, arg(Int(1), default=1)),
        "depth_multiplier": (int, arg(Int(1), default=1, doc="outputs per input channel")),
        "activation": (str, arg(ActivationArg(), default=None)),
        "use_bias": (bool, arg(Bool(), default=True)),
        "kernel_initializer": (object, arg(InitializerArg(), default="glorot_uniform")),
        "depthwise_initializer": (object, arg(InitializerArg(), default="glorot_uniform")),
        "pointwise_initializer": (object, arg(InitializerArg(), default="glorot_uniform")),
        "bias_initializer": (object, arg(InitializerArg(), default="zeros")),
    }
    return [("padding" if n == "padding_no_causal" else n, *table[n]) for n in names]


def _make(name, base, rank, names, summary, weights_doc, aliases=()):
    return rank_family_class(name, base, rank, _fields(rank, *names), summary=summary,
                             weights_doc=weights_doc, aliases=aliases)


CONV = ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "groups",
        "activation", "use_bias", "kernel_initializer", "bias_initializer")
TRANSPOSE = ("filters", "kernel_size", "strides", "padding_no_causal", "output_padding",
             "data_format", "dilation_rate", "activation", "use_bias", "kernel_initializer",
             "bias_initializer")
DEPTHWISE = ("kernel_size", "strides", "padding_no_causal", "depth_multiplier", "data_format",
             "dilation_rate", "activation", "use_bias", "depthwise_initializer",
             "bias_initializer")
SEPARABLE = ("filters", "kernel_size", "strides", "padding_no_causal", "data_format",
             "dilation_rate", "depth_multiplier", "activation", "use_bias",
             "depthwise_initializer", "pointwise_initializer", "bias_initializer")

Conv1D, Conv2D, Conv3D = (
    _make(f"Conv{NAMES[r]}", Conv, r, CONV,
          f"{NAMES[r]} convolution" + (" (padding valid, same or causal)" if r == 1 else ""),
          "kernel (*kernel_size, in_channels / groups, filters), bias (filters,) if use_bias",
          (f"Convolution{NAMES[r]}",)) for r in (1, 2, 3))
Conv1DTranspose, Conv2DTranspose, Conv3DTranspose = (
    _make(f"Conv{NAMES[r]}Transpose", ConvTranspose, r, TRANSPOSE,
          f"Transposed {NAMES[r]} convolution (learned upsampling)",
          "kernel (*kernel_size, filters, in_channels), bias (filters,) if use_bias",
          (f"Convolution{NAMES[r]}Transpose",)) for r in (1, 2, 3))
DepthwiseConv1D, DepthwiseConv2D = (
    _make(f"DepthwiseConv{NAMES[r]}", DepthwiseConv, r, DEPTHWISE,
          f"Depthwise {NAMES[r]} convolution: each channel convolved on its own",
          "kernel (*kernel_size, in_channels, depth_multiplier), bias (in_channels * "
          "depth_multiplier,) if use_bias") for r in (1, 2))
SeparableConv1D, SeparableConv2D = (
    _make(f"SeparableConv{NAMES[r]}", SeparableConv, r, SEPARABLE,
          f"Depthwise then pointwise {NAMES[r]} convolution",
          "depthwise_kernel (*kernel_size, in_channels, depth_multiplier), pointwise_kernel "
          "(*ones, in_channels * depth_multiplier, filters), bias (filters,) if use_bias",
          (f"SeparableConvolution{NAMES[r]}",)) for r in (1, 2))

