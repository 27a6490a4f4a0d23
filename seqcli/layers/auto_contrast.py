"""Keras 3's AutoContrast: each image stretched so that its lowest value becomes the
bottom of `value_range` and its highest the top, at inference and in training alike
(Keras applies it whatever `training` says). As Keras, the lowest and highest values are
taken over axes 1 and 2 of the input (height and width channels-last)."""

from __future__ import annotations

from seqcli.args import arg
from seqcli.layers.augmentation import SortedValueRange
from seqcli.layers.base import Layer, layer_class, require_rank
from seqcli.layers.core import DATA_FORMAT
from seqcli.registry import register


@register
@layer_class
class AutoContrast(Layer):
    value_range: tuple = arg(SortedValueRange(), default=(0, 255),
                             doc="the images' range, which the output fills")
    data_format: str | None = arg(DATA_FORMAT, default=None,
                                  doc="kept for Keras (its ranges are over axes 1 and 2)")

    takes_activity_regularizer = False
    positional = ("value_range",)
    summary = "Stretches each image's values to fill value_range (always, as Keras)"

    def output_shape(self, input_shape):
        require_rank(self, input_shape, 4)
        return input_shape

    def forward_train(self, params, x, rng):
        import numpy as np

        low_v, high_v = (x.dtype.type(v) for v in self.value_range)
        span = high_v - low_v
        rescale = (low_v, high_v) != (0, 255)
        full = x.dtype.type(255)
        scaled = (x - low_v) / span * full if rescale else x
        low = scaled.min(axis=(1, 2), keepdims=True)
        high = scaled.max(axis=(1, 2), keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = full / (high - low)
            z = scaled * scale + -low * scale
            y = np.clip(z, 0, full)
            y = y / full * span + low_v if rescale else y
        flat = np.isnan(y)  # a flat image: Keras gives it back unchanged
        cache = (scaled, low, high, scale, (z >= 0) & (z <= full), flat,
                 span / full if rescale else None)
        return np.where(flat, x, y), cache

    def backward(self, params, cache, dy):
        """Through the clip (kept at its bounds, as JAX's), and through the lowest and
        highest values (shared among ties, as JAX's reductions share them)."""
        import numpy as np

        scaled, low, high, scale, inside, flat, back = cache
        g = np.where(flat, 0, dy)
        g = g * back if back is not None else g
        g = g * inside
        width = high - low
        with np.errstate(divide="ignore", invalid="ignore"):
            d_low = ((g * (scaled - low)).sum(axis=(1, 2), keepdims=True) / width ** 2 * 255
                     - (g * scale).sum(axis=(1, 2), keepdims=True))
            d_high = -(g * (scaled - low)).sum(axis=(1, 2), keepdims=True) / width ** 2 * 255
        at_low, at_high = (scaled == low), (scaled == high)
        d_scaled = (g * scale + d_low * at_low / at_low.sum(axis=(1, 2), keepdims=True)
                    + d_high * at_high / at_high.sum(axis=(1, 2), keepdims=True))
        if back is not None:  # the rescaling to 0-255 on the way in
            d_scaled = d_scaled / back
        return np.where(flat, dy, d_scaled), {}
