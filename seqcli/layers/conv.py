"""Convolution layers."""

from __future__ import annotations

from dataclasses import dataclass

from seqcli import activations
from seqcli.args import ActivationArg, Bool, Choice, InitializerArg, Int, IntTuple, arg
from seqcli.errors import ArgError
from seqcli.layers.base import Layer, WeightSpec, channels_last, format_shape, require_rank
from seqcli.layers.core import DATA_FORMAT
from seqcli.registry import register


def conv_output_size(size, window, stride, padding, dilation=1):
    """One spatial output size (None stays None), as Keras computes it."""
    if size is None:
        return None
    if padding == "same":
        return (size - 1) // stride + 1
    return (size - dilation * (window - 1) - 1) // stride + 1


@register
@dataclass(frozen=True, kw_only=True)
class Conv2D(Layer):
    filters: int = arg(Int(1), doc="number of output channels")
    kernel_size: tuple = arg(IntTuple(2), doc="window height and width")
    strides: tuple = arg(IntTuple(2), default=1)
    padding: str = arg(Choice("valid", "same"), default="valid")
    data_format: str | None = arg(DATA_FORMAT, default=None)
    dilation_rate: tuple = arg(IntTuple(2), default=1)
    groups: int = arg(Int(1), default=1)
    activation: str | None = arg(ActivationArg(), default=None)
    use_bias: bool = arg(Bool(), default=True)
    kernel_initializer: object = arg(InitializerArg(), default="glorot_uniform")
    bias_initializer: object = arg(InitializerArg(), default="zeros")

    aliases = ("Convolution2D",)
    positional = ("filters", "kernel_size", "strides", "padding", "data_format",
                  "dilation_rate", "groups", "activation", "use_bias",
                  "kernel_initializer", "bias_initializer")
    summary = "2-D convolution over images (batch, height, width, channels)"
    weights_doc = "kernel (kh, kw, in_channels / groups, filters), bias (filters,) if use_bias"

    def check(self):
        if self.filters % self.groups:
            raise ArgError("groups", "The number of filters must be evenly divisible by "
                           f"the number of groups. Received: groups={self.groups}, "
                           f"filters={self.filters}.")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ArgError("dilation_rate", "`strides > 1` not supported in conjunction with "
                           f"`dilation_rate > 1`. Received: strides={self.strides} and "
                           f"dilation_rate={self.dilation_rate}")

    def output_shape(self, input_shape):
        require_rank(self, input_shape, 4)
        spatial = self._spatial(input_shape)
        self._in_channels(input_shape)
        out = [conv_output_size(s, k, st, self.padding, d) for s, k, st, d
               in zip(spatial, self.kernel_size, self.strides, self.dilation_rate)]
        if any(o is not None and o <= 0 for o in out):
            raise ValueError(
                "Computed output size would be zero or negative. Received "
                f"`inputs shape={format_shape(input_shape)}`, `kernel_size={self.kernel_size}`, "
                f"`dilation_rate={self.dilation_rate}`, `strides={self.strides}`, "
                f"`padding={self.padding}`; the input is smaller than the kernel's reach")
        if channels_last(self.data_format):
            return (input_shape[0], *out, self.filters)
        return (input_shape[0], self.filters, *out)

    def weight_specs(self, input_shape):
        in_channels = self._in_channels(input_shape)
        kernel_shape = (*self.kernel_size, in_channels // self.groups, self.filters)
        specs = [WeightSpec("kernel", kernel_shape, self.kernel_initializer)]
        if self.use_bias:
            specs.append(WeightSpec("bias", (self.filters,), self.bias_initializer))
        return specs

    def forward(self, params, x):
        from seqcli import ops

        last = channels_last(self.data_format)
        z = self._convolve(params, x if last else ops.to_channels_last(x))
        y = activations.apply_in_place(self.activation, z)  # z is not kept at inference
        return y if last else ops.to_channels_first(y)

    def forward_train(self, params, x, rng):
        from seqcli import ops

        last = channels_last(self.data_format)
        x = x if last else ops.to_channels_last(x)
        z = self._convolve(params, x)
        y = activations.get(self.activation)(z)
        return (y if last else ops.to_channels_first(y)), (x, z, y)

    def _convolve(self, params, x):
        from seqcli import ops

        return ops.conv2d(x, params["kernel"], self.strides, self.padding, self.dilation_rate,
                          self.groups, params["bias"] if self.use_bias else None)

    def backward(self, params, cache, dy):
        from seqcli import ops

        x, z, y = cache
        last = channels_last(self.data_format)
        dz = activations.gradient(self.activation)(z, y, dy if last else ops.to_channels_last(dy))
        dx, dkernel = ops.conv2d_backward(x, params["kernel"], dz, self.strides, self.padding,
                                          self.dilation_rate, self.groups)
        grads = {"kernel": dkernel}
        if self.use_bias:
            grads["bias"] = dz.sum(axis=(0, 1, 2))
        return (dx if last else ops.to_channels_first(dx)), grads

    def _spatial(self, input_shape):
        return input_shape[1:3] if channels_last(self.data_format) else input_shape[2:4]

    def _in_channels(self, input_shape) -> int:
        channels = input_shape[3] if channels_last(self.data_format) else input_shape[1]
        if channels is None:
            raise ValueError("The channel dimension of the inputs should be defined. "
                             f"Found None. Full input shape received: {format_shape(input_shape)}")
        if channels % self.groups:
            raise ValueError("The number of input channels must be evenly divisible by the "
                             f"number of groups. Received groups={self.groups}, but the input "
                             f"has {channels} channels (full input shape is "
                             f"{format_shape(input_shape)}).")
        return channels
