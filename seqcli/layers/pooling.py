"""Pooling layers, 1-D to 3-D: windowed max and average, and their global forms."""

from __future__ import annotations

from typing import ClassVar

from seqcli.args import REQUIRED, Bool, Choice, IntTuple, Optional, arg
from seqcli.layers.base import (RANK_NAMES as NAMES, SpatialLayer, format_shape, layer_class,
                                rank_family_class, require_rank)
from seqcli.layers.core import DATA_FORMAT


@layer_class
class Pooling(SpatialLayer):
    """Max or average over windows of the spatial axes."""

    mode: ClassVar[str] = "max"
    positional = ("pool_size", "strides", "padding", "data_format")

    @property
    def step(self) -> tuple:
        return self.strides or self.pool_size

    def output_shape(self, input_shape):
        from seqcli.shapes import conv_output_size

        require_rank(self, input_shape, self.rank + 2)
        spatial, channels = self.split_shape(input_shape)
        out = [conv_output_size(s, p, st, self.padding)
               for s, p, st in zip(spatial, self.pool_size, self.step)]
        if any(o is not None and o <= 0 for o in out):
            raise ValueError(
                "Computed output size would be zero or negative. Received "
                f"`inputs shape={format_shape(input_shape)}`, `pool_size={self.pool_size}`, "
                f"`strides={self.step}`, `padding={self.padding}`; the input is smaller "
                "than the pooling window")
        return self.join_shape(input_shape[0], out, channels)

    def forward_train(self, params, x, rng):
        from seqcli import ops

        x = self.to_last(x)
        y = ops.pool(x, self.pool_size, self.step, self.padding, self.mode)
        return self.from_last(y), (x, y)

    def backward(self, params, cache, dy):
        from seqcli import ops

        x, y = cache
        return self.from_last(ops.pool_backward(x, self.to_last(dy), self.pool_size,
                                                self.step, self.padding, self.mode, y)), {}


@layer_class
class GlobalPooling(SpatialLayer):
    """Max or average over all spatial positions, per channel."""

    mode: ClassVar[str] = "max"

    def _axes(self):
        return tuple(range(1, self.rank + 1) if self.last else range(2, self.rank + 2))

    def output_shape(self, input_shape):
        require_rank(self, input_shape, self.rank + 2)
        axes = self._axes()
        if self.keepdims:
            return tuple(1 if i in axes else d for i, d in enumerate(input_shape))
        return tuple(d for i, d in enumerate(input_shape) if i not in axes)

    def forward_train(self, params, x, rng):
        reduce = x.max if self.mode == "max" else x.mean
        return reduce(axis=self._axes(), keepdims=self.keepdims), x

    def forward_masked(self, params, x, rng, mask, training=False):
        """Keras's GlobalAveragePooling1D with a mask: the mean of the unmasked steps."""
        weights = mask.astype(x.dtype)[:, :, None] if self.last \
            else mask.astype(x.dtype)[:, None, :]
        axis = self._axes()
        count = weights.sum(axis=axis, keepdims=True)
        y = (x * weights).sum(axis=axis, keepdims=True) / count
        y = y if self.keepdims else y.squeeze(axis)
        return y, ("masked", x.shape, weights / count), None

    def backward(self, params, cache, dy):
        import numpy as np

        if isinstance(cache, tuple) and cache[0] == "masked":
            _, shape, share = cache
            return share * dy.reshape([1 if i in self._axes() else d
                                       for i, d in enumerate(shape)]), {}
        x, axes = cache, self._axes()
        shape = [1 if i in axes else d for i, d in enumerate(x.shape)]
        dy = dy.reshape(shape)
        if self.mode == "average":
            count = int(np.prod([x.shape[i] for i in axes]))
            return np.broadcast_to(dy / count, x.shape).astype(x.dtype), {}
        # like JAX's max, ties share the gradient equally
        winners = (x == x.max(axis=axes, keepdims=True)).astype(x.dtype)
        return winners * (dy / winners.sum(axis=axes, keepdims=True)), {}


def _pooling(rank: int, mode: str):
    prefix, short = ("MaxPooling", "MaxPool") if mode == "max" else ("AveragePooling", "AvgPool")
    return rank_family_class(prefix + NAMES[rank], Pooling, rank, [
        # Keras: MaxPooling defaults to 2 per axis; AveragePooling needs pool_size
        ("pool_size", tuple, arg(IntTuple(rank), default=2 if mode == "max" else REQUIRED,
                                 doc="window size per axis")),
        ("strides", Optional, arg(Optional(IntTuple(rank)), default=None,
                                  doc="defaults to pool_size")),
        ("padding", str, arg(Choice("valid", "same"), default="valid")),
        ("data_format", str, arg(DATA_FORMAT, default=None)),
    ], mode=mode, aliases=(short + NAMES[rank],),
        summary=f"{'Maximum' if mode == 'max' else 'Average'} over {NAMES[rank]} windows")


def _global_pooling(rank: int, mode: str):
    prefix, short = ("GlobalMaxPooling", "GlobalMaxPool") if mode == "max" \
        else ("GlobalAveragePooling", "GlobalAvgPool")
    return rank_family_class(prefix + NAMES[rank], GlobalPooling, rank, [
        ("data_format", str, arg(DATA_FORMAT, default=None)),
        ("keepdims", bool, arg(Bool(), default=False, doc="keep the spatial axes, size 1")),
    ], mode=mode, aliases=(short + NAMES[rank],),
        masking="uses" if (rank, mode) == (1, "average") else "drops",
        summary=f"{'Maximum' if mode == 'max' else 'Average'} over all positions "
                f"({NAMES[rank]}), per channel")


MaxPooling1D, MaxPooling2D, MaxPooling3D = (_pooling(r, "max") for r in (1, 2, 3))
AveragePooling1D, AveragePooling2D, AveragePooling3D = (_pooling(r, "average") for r in (1, 2, 3))
GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D = (
    _global_pooling(r, "max") for r in (1, 2, 3))
GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalAveragePooling3D = (
    _global_pooling(r, "average") for r in (1, 2, 3))
