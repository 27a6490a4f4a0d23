"""Spatial reshaping, 1-D to 3-D: ZeroPadding, Cropping, UpSampling."""

from __future__ import annotations

from seqcli.args import Choice, Int, IntTuple, Margins, arg
from seqcli.layers.base import (RANK_NAMES as NAMES, SpatialLayer, layer_class, rank_family_class,
                                require_rank)
from seqcli.layers.core import DATA_FORMAT


@layer_class
class Spatial(SpatialLayer):
    """A layer that changes the spatial axes of (batch, *spatial, channels) data."""

    def output_shape(self, input_shape):
        require_rank(self, input_shape, self.rank + 2)
        spatial, channels = self.split_shape(input_shape)
        out = [None if size is None else self.new_size(axis, size)
               for axis, size in enumerate(spatial)]
        return self.join_shape(input_shape[0], out, channels)

    def forward_train(self, params, x, rng):
        return self.from_last(self.apply(self.to_last(x))), x.shape

    def backward(self, params, cache, dy):
        return self.from_last(self.apply_backward(self.to_last(dy), cache)), {}

    def pairs(self, margins) -> tuple:
        """((before, after), ...) per spatial axis; 1-D layers hold a flat pair."""
        return (margins,) if self.rank == 1 else margins

    def spatial_slices(self, margins):
        return (slice(None), *(slice(a, -b or None) for a, b in self.pairs(margins)),
                slice(None))


@layer_class
class ZeroPadding(Spatial):
    def new_size(self, axis, size):
        return size + sum(self.pairs(self.padding)[axis])

    def apply(self, x):
        import numpy as np

        return np.pad(x, [(0, 0), *self.pairs(self.padding), (0, 0)])

    def apply_backward(self, dy, shape):
        return dy[self.spatial_slices(self.padding)]


@layer_class
class Cropping(Spatial):
    def new_size(self, axis, size):
        kept = size - sum(self.pairs(self.cropping)[axis])
        if kept <= 0:
            raise ValueError(f"`cropping` parameter of `{type(self).__name__}` layer must be "
                             f"smaller than the input size: spatial axis {axis + 1} has {size} "
                             f"values and the cropping removes "
                             f"{sum(self.pairs(self.cropping)[axis])}. "
                             f"Received: cropping={self.cropping}")
        return kept

    def apply(self, x):
        if not any(map(sum, self.pairs(self.cropping))):
            return x  # as JAX: the same array, so Keras's mask stays on it
        return x[self.spatial_slices(self.cropping)]

    def apply_backward(self, dy, shape):
        import numpy as np

        return np.pad(dy, [(0, 0), *self.pairs(self.cropping), (0, 0)])


@layer_class
class UpSampling(Spatial):
    def factors(self):
        return self.size if isinstance(self.size, tuple) else (self.size,)

    def new_size(self, axis, size):
        return size * self.factors()[axis]

    def apply(self, x):
        import numpy as np

        if getattr(self, "interpolation", "nearest") == "bilinear":
            from seqcli import ops
            return ops.resize(x, [s * f for s, f in zip(x.shape[1:-1], self.factors())])
        for axis, factor in enumerate(self.factors(), start=1):
            x = np.repeat(x, factor, axis=axis)
        return x

    def apply_backward(self, dy, shape):
        if getattr(self, "interpolation", "nearest") == "bilinear":
            from seqcli import ops
            return ops.resize_backward(dy, [s // f for s, f in zip(dy.shape[1:-1],
                                                                   self.factors())])
        for axis, factor in enumerate(self.factors(), start=1):
            size = dy.shape[axis] // factor
            dy = dy.reshape(*dy.shape[:axis], size, factor, *dy.shape[axis + 1:]).sum(axis + 1)
        return dy


def _make(name, base, rank, fields, summary, positional):
    return rank_family_class(name, base, rank, fields, summary=summary, positional=positional)


def _data_format(rank):
    return [("data_format", str, arg(DATA_FORMAT, default=None))]


ZeroPadding1D, ZeroPadding2D, ZeroPadding3D = (
    _make(f"ZeroPadding{NAMES[r]}", ZeroPadding, r,
          [("padding", tuple, arg(Margins(r), default=1, doc="zeros added per axis"))]
          + _data_format(r), f"Pads the {NAMES[r]} spatial axes with zeros",
          ("padding", "data_format")) for r in (1, 2, 3))

Cropping1D = _make("Cropping1D", Cropping, 1,
                   [("cropping", tuple, arg(Margins(1), default=1, doc="values cut per side"))],
                   "Cuts values off both ends of the steps axis", ("cropping",))
Cropping2D, Cropping3D = (
    _make(f"Cropping{NAMES[r]}", Cropping, r,
          [("cropping", tuple, arg(Margins(r), default=0 if r == 2 else 1,
                                   doc="values cut per side and axis"))] + _data_format(r),
          f"Cuts values off the {NAMES[r]} spatial axes", ("cropping", "data_format"))
    for r in (2, 3))

UpSampling1D = _make("UpSampling1D", UpSampling, 1,
                     [("size", int, arg(Int(1), default=2, doc="repeats per step"))],
                     "Repeats each step `size` times", ("size",))
UpSampling2D = _make("UpSampling2D", UpSampling, 2,
                     [("size", tuple, arg(IntTuple(2), default=2, doc="factor per axis"))]
                     + _data_format(2)
                     + [("interpolation", str, arg(Choice("nearest", "bilinear"),
                                                   default="nearest"))],
                     "Enlarges images by whole factors (nearest or bilinear)",
                     ("size", "data_format", "interpolation"))
UpSampling3D = _make("UpSampling3D", UpSampling, 3,
                     [("size", tuple, arg(IntTuple(3), default=2, doc="factor per axis"))]
                     + _data_format(3), "Enlarges volumes by whole factors (nearest)",
                     ("size", "data_format"))
