"""Keras 3's colour augmentation layers: RandomContrast, RandomBrightness, RandomInvert,
RandomGrayscale: random in training with Keras's formulas, the identity at inference."""

from __future__ import annotations

from seqcli.args import Float, arg
from seqcli.layers.augmentation import (SEED, Augmentation, Factor, SortedValueRange,
                                        ValueRange, uniform)
from seqcli.layers.base import layer_class
from seqcli.layers.core import DATA_FORMAT
from seqcli.registry import register

CONTRAST = Factor(0, 1)
BRIGHTNESS = Factor(-1, 1)
INVERT = Factor(0, 1)


@register
@layer_class
class RandomContrast(Augmentation):
    factor: object = arg(CONTRAST, doc="contrast factor drawn from [1 - lower, 1 + upper]")
    value_range: tuple = arg(ValueRange(), default=(0, 255), doc="outputs are clipped to it")
    seed: int | None = arg(SEED, default=None, doc="kept for Keras; fit's --seed drives it")
    data_format: str | None = arg(DATA_FORMAT, default=None)

    positional = ("factor", "value_range", "seed")
    summary = "Scales each image's distance from its mean by a random factor in training"

    def draw(self, shape, rng):
        lower, upper = CONTRAST.bounds(self.factor)
        return {"contrast_factor": uniform(rng, 1.0 - lower, 1.0 + upper, (shape[0], 1, 1, 1))}

    def apply(self, x, factors):
        import numpy as np

        factor = np.asarray(factors["contrast_factor"], dtype=x.dtype).reshape(-1, 1, 1, 1)
        mean = x.mean(axis=1, keepdims=True).mean(axis=2, keepdims=True)
        y = (x - mean) * factor + mean
        low, high = self.value_range
        inside = (y >= low) & (y <= high)
        return np.clip(y, low, high), (factor, inside)

    def apply_backward(self, cache, dy):
        factor, inside = cache
        dy = dy * inside
        pixels = dy.shape[1] * dy.shape[2]
        return dy * factor + (dy * (1 - factor)).sum(axis=(1, 2), keepdims=True) / pixels


@register
@layer_class
class RandomBrightness(Augmentation):
    factor: object = arg(BRIGHTNESS, doc="fraction of the value range added, drawn "
                         "from [lower, upper]")
    value_range: tuple = arg(SortedValueRange(), default=(0, 255),
                             doc="outputs are clipped to it")
    seed: int | None = arg(SEED, default=None, doc="kept for Keras; fit's --seed drives it")
    data_format: str | None = arg(DATA_FORMAT, default=None)

    positional = ("factor", "value_range", "seed")
    summary = "Adds a random brightness offset to each image in training"

    def draw(self, shape, rng):
        lower, upper = BRIGHTNESS.bounds(self.factor)
        delta = uniform(rng, lower, upper, (shape[0], 1, 1, 1))
        return {"rgb_delta": delta * (self.value_range[1] - self.value_range[0])}

    def apply(self, x, factors):
        import numpy as np

        y = x + np.asarray(factors["rgb_delta"], dtype=x.dtype).reshape(-1, 1, 1, 1)
        low, high = self.value_range
        return np.clip(y, low, high), (y >= low) & (y <= high)

    def apply_backward(self, cache, dy):
        return dy * cache


@register
@layer_class
class RandomInvert(Augmentation):
    factor: object = arg(INVERT, default=1.0, doc="chance of inverting, drawn per image "
                         "from [lower, upper]")
    value_range: tuple = arg(ValueRange(), default=(0, 255), doc="an inverted x is high - x")
    seed: int | None = arg(SEED, default=None, doc="kept for Keras; fit's --seed drives it")
    data_format: str | None = arg(DATA_FORMAT, default=None)

    positional = ("factor", "value_range", "seed")
    summary = "Inverts some images (high - x) at random in training"

    def draw(self, shape, rng):
        lower, upper = INVERT.bounds(self.factor)
        chance = uniform(rng, lower, upper, (shape[0],))
        return {"apply_inversion": uniform(rng, 0.0, 1.0, (shape[0],)) < chance}

    def apply(self, x, factors):
        import numpy as np

        inverted = np.asarray(factors["apply_inversion"]).reshape(-1, 1, 1, 1)
        return np.where(inverted, x.dtype.type(self.value_range[1]) - x, x), inverted

    def apply_backward(self, cache, dy):
        import numpy as np

        return np.where(cache, -dy, dy)


GRAY = (0.2989, 0.5870, 0.1140)  # Keras's (tf.image's) rgb_to_grayscale weights


@register
@layer_class
class RandomGrayscale(Augmentation):
    factor: float = arg(Float(0.0, 1.0), default=0.5, doc="chance of turning an image grey")
    data_format: str | None = arg(DATA_FORMAT, default=None)
    seed: int | None = arg(SEED, default=None, doc="kept for Keras; fit's --seed drives it")

    positional = ("factor", "data_format", "seed")
    summary = "Turns some images grey (every channel the luma) at random in training"

    def output_shape(self, input_shape):
        shape = super().output_shape(input_shape)
        channels = self.split_shape(shape)[1]
        if channels not in (None, 1, 3):
            raise ValueError("Invalid channel size: expected 3 (RGB) or 1 (Grayscale). "
                             f"Received input with shape: images.shape={tuple(shape)}")
        return shape

    def draw(self, shape, rng):
        return {"should_apply": (uniform(rng, 0.0, 1.0, (shape[0],)) < self.factor)
                .reshape(-1, 1, 1, 1)}

    def apply(self, x, factors):
        import numpy as np

        grey = np.asarray(factors["should_apply"]).reshape(-1, 1, 1, 1)
        if x.shape[-1] == 1:
            return x, None
        luma = np.tensordot(x, np.asarray(GRAY, dtype=x.dtype), axes=(-1, -1))[..., None]
        return np.where(grey, luma, x), grey

    def apply_backward(self, cache, dy):
        import numpy as np

        if cache is None:
            return dy
        luma = dy.sum(axis=-1, keepdims=True) * np.asarray(GRAY, dtype=dy.dtype)
        return np.where(cache, luma, dy)
