"""Keras 3's RandomHue and RandomSaturation: the image through Keras's HSV conversion
(seqcli/hsv.py, which carries each pixel's Jacobian for the gradient), its hue shifted
or its saturation scaled by a random factor in training; the identity at inference."""

from __future__ import annotations

from seqcli.args import arg
from seqcli.layers.augment_tone import needs_rgb
from seqcli.layers.augmentation import (SEED, Augmentation, Factor, SortedValueRange,
                                        ValueRange, uniform)
from seqcli.layers.base import layer_class
from seqcli.layers.core import DATA_FORMAT
from seqcli.registry import register

HUE = Factor(0, 1)
SATURATION = Factor(-1, 1)
EPSILON = 1e-7  # Keras's backend.epsilon()


@layer_class
class _HSV(Augmentation):
    def output_shape(self, input_shape):
        needs_rgb(self, super().output_shape(input_shape))
        return input_shape

    def apply(self, x, factors):
        from seqcli import hsv

        y, jacobians = hsv.stack(self.adjust(hsv.planes(x), factors))
        return y, jacobians

    def apply_backward(self, cache, dy):
        from seqcli import hsv

        return hsv.pull_back(cache, dy)


@register
@layer_class
class RandomHue(_HSV):
    factor: object = arg(HUE, doc="hue shift in half turns, drawn from [lower, upper], "
                         "its sign flipped at random")
    value_range: tuple = arg(ValueRange(), default=(0, 255))
    data_format: str | None = arg(DATA_FORMAT, default=None)
    seed: int | None = arg(SEED, default=None, doc="kept for Keras; fit's --seed drives it")

    positional = ("factor", "value_range", "data_format", "seed")
    summary = "Shifts the hue of each RGB image by a random amount in training"

    def draw(self, shape, rng):
        import numpy as np

        sign = np.where(uniform(rng, 0.0, 1.0, (shape[0],)) > 0.5, np.float32(-1),
                        np.float32(1))
        return {"factor": sign * uniform(rng, *HUE.bounds(self.factor), (shape[0],)) * 0.5}

    def adjust(self, rgb, factors):
        import numpy as np

        from seqcli import hsv

        dtype = rgb[0].v.dtype
        shift = np.asarray(factors["factor"], dtype).reshape(-1, 1, 1)
        low, high = (dtype.type(v) for v in self.value_range)
        rescale = (low, high) != (0, 1)  # Keras's _transform_value_range to [0, 1] and back
        rgb = [(p - low) / (high - low) if rescale else p for p in rgb]
        hue, saturation, value = hsv.rgb_to_hsv(*rgb)
        hue = hue + shift
        hue = hsv.where(hue.v > 1.0, hue - 1.0, hue)
        hue = hsv.where(hue.v < 0.0, hue + 1.0, hue)
        rgb = [hsv.clip(p, 0.0, 1.0) for p in hsv.hsv_to_rgb(hue, saturation, value)]
        return [p * (high - low) + low if rescale else p for p in rgb]


@register
@layer_class
class RandomSaturation(_HSV):
    factor: object = arg(SATURATION, doc="drawn from [lower, upper] as f, the saturation is "
                         "multiplied by f / (1 - f)")
    value_range: tuple = arg(SortedValueRange(), default=(0, 255),
                             doc="the scaled saturation is clipped to it (as Keras does)")
    data_format: str | None = arg(DATA_FORMAT, default=None)
    seed: int | None = arg(SEED, default=None, doc="kept for Keras; fit's --seed drives it")

    positional = ("factor", "value_range", "data_format", "seed")
    summary = "Scales the saturation of each RGB image by a random factor in training"

    def draw(self, shape, rng):
        import numpy as np

        factor = uniform(rng, *SATURATION.bounds(self.factor), (shape[0],))
        return {"factor": factor / (np.float32(1) - factor + np.float32(EPSILON))}

    def adjust(self, rgb, factors):
        import numpy as np

        from seqcli import hsv

        factor = np.asarray(factors["factor"], rgb[0].v.dtype).reshape(-1, 1, 1)
        hue, saturation, value = hsv.rgb_to_hsv(*rgb)
        saturation = hsv.clip(saturation * factor, *self.value_range)
        return hsv.hsv_to_rgb(hue, saturation, value)
