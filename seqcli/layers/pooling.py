"""Pooling layers."""

from __future__ import annotations

from dataclasses import dataclass

from seqcli.args import Bool, Choice, IntTuple, Optional, arg
from seqcli.layers.base import Layer, channels_last, format_shape, require_rank
from seqcli.layers.conv import conv_output_size
from seqcli.layers.core import DATA_FORMAT
from seqcli.registry import register


@register
@dataclass(frozen=True, kw_only=True)
class MaxPooling2D(Layer):
    pool_size: tuple = arg(IntTuple(2), default=2, doc="window height and width")
    strides: tuple | None = arg(Optional(IntTuple(2)), default=None,
                                doc="defaults to pool_size")
    padding: str = arg(Choice("valid", "same"), default="valid")
    data_format: str | None = arg(DATA_FORMAT, default=None)

    aliases = ("MaxPool2D",)
    positional = ("pool_size", "strides", "padding", "data_format")
    summary = "Maximum over 2-D windows"

    @property
    def step(self) -> tuple:
        return self.strides or self.pool_size

    def output_shape(self, input_shape):
        require_rank(self, input_shape, 4)
        last = channels_last(self.data_format)
        spatial = input_shape[1:3] if last else input_shape[2:4]
        out = [conv_output_size(s, p, st, self.padding)
               for s, p, st in zip(spatial, self.pool_size, self.step)]
        if any(o is not None and o <= 0 for o in out):
            raise ValueError(
                "Computed output size would be zero or negative. Received "
                f"`inputs shape={format_shape(input_shape)}`, `pool_size={self.pool_size}`, "
                f"`strides={self.step}`, `padding={self.padding}`; the input is smaller "
                "than the pooling window")
        if last:
            return (input_shape[0], *out, input_shape[3])
        return (input_shape[0], input_shape[1], *out)

    def forward_train(self, params, x, rng):
        from seqcli import ops

        last = channels_last(self.data_format)
        x = x if last else ops.to_channels_last(x)
        y = ops.max_pool2d(x, self.pool_size, self.step, self.padding)
        return (y if last else ops.to_channels_first(y)), x

    def backward(self, params, cache, dy):
        from seqcli import ops

        last = channels_last(self.data_format)
        dx = ops.max_pool2d_backward(cache, dy if last else ops.to_channels_last(dy),
                                     self.pool_size, self.step, self.padding)
        return (dx if last else ops.to_channels_first(dx)), {}


@register
@dataclass(frozen=True, kw_only=True)
class GlobalMaxPooling2D(Layer):
    data_format: str | None = arg(DATA_FORMAT, default=None)
    keepdims: bool = arg(Bool(), default=False, doc="keep the spatial axes with size 1")

    aliases = ("GlobalMaxPool2D",)
    positional = ("data_format", "keepdims")
    summary = "Maximum over the whole image, per channel"

    def output_shape(self, input_shape):
        require_rank(self, input_shape, 4)
        last = channels_last(self.data_format)
        channels = input_shape[3] if last else input_shape[1]
        if not self.keepdims:
            return (input_shape[0], channels)
        return (input_shape[0], 1, 1, channels) if last else (input_shape[0], channels, 1, 1)

    def _axes(self):
        return (1, 2) if channels_last(self.data_format) else (2, 3)

    def forward_train(self, params, x, rng):
        return x.max(axis=self._axes(), keepdims=self.keepdims), x

    def backward(self, params, cache, dy):
        x = cache
        peak = x.max(axis=self._axes(), keepdims=True)
        if not self.keepdims:
            dy = dy.reshape(peak.shape)
        # like JAX's max, ties share the gradient equally
        winners = (x == peak).astype(x.dtype)
        return winners * (dy / winners.sum(axis=self._axes(), keepdims=True)), {}
