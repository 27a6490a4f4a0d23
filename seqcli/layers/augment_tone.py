"""Keras 3's tone augmentation layers: RandomColorDegeneration, RandomSharpness,
Solarization and RandomPosterization, random in training with Keras's formulas (which
work on a 0-255 scale of `value_range`), the identity at inference."""

from __future__ import annotations

from seqcli.args import arg
from seqcli.layers.augment_color import GRAY
from seqcli.layers.augmentation import (SEED, Augmentation, Factor, SortedValueRange,
                                        uniform)
from seqcli.layers.base import layer_class
from seqcli.layers.core import DATA_FORMAT
from seqcli.registry import register

DEGENERATION = Factor(-1, 1)
SHARPNESS = Factor(0, 1)
POSTERIZATION = Factor(1, 8)


class SolarizationFactor(Factor):
    """Solarization's factors: a number f means [0, f]; a pair, each in [0, 1]."""

    def __init__(self):
        super().__init__(0, 1, check="each")

    def bounds(self, value):
        return tuple(sorted(float(v) for v in value)) if isinstance(value, tuple) \
            else (0.0, float(value))


SOLARIZATION = SolarizationFactor()


def to_scale(x, value_range, target):
    """Keras's _transform_value_range, in the input's float type."""
    if tuple(value_range) == tuple(target):
        return x
    low, high = (x.dtype.type(v) for v in value_range)
    new_low, new_high = (x.dtype.type(v) for v in target)
    return (x - low) / (high - low) * (new_high - new_low) + new_low


def clipped(y, value_range):
    import numpy as np

    low, high = value_range
    return np.clip(y, low, high), (y >= low) & (y <= high)


def needs_rgb(layer, shape):
    channels = layer.split_shape(shape)[1]
    if channels is not None and channels != 3:
        raise ValueError("Input images must have 3 channels, but received images with "
                         f"{channels} channels.")


@register
@layer_class
class RandomColorDegeneration(Augmentation):
    factor: object = arg(DEGENERATION, doc="blend towards grey, drawn from [lower, upper]")
    value_range: tuple = arg(SortedValueRange(), default=(0, 255), doc="outputs are clipped "
                             "to it")
    data_format: str | None = arg(DATA_FORMAT, default=None)
    seed: int | None = arg(SEED, default=None, doc="kept for Keras; fit's --seed drives it")

    positional = ("factor", "value_range", "data_format", "seed")
    summary = "Blends each RGB image towards its grey version by a random factor in training"

    def output_shape(self, input_shape):
        needs_rgb(self, super().output_shape(input_shape))
        return input_shape

    def draw(self, shape, rng):
        return {"factor": uniform(rng, *DEGENERATION.bounds(self.factor), (shape[0], 1, 1, 1))}

    def apply(self, x, factors):
        import numpy as np

        factor = np.asarray(factors["factor"], dtype=x.dtype).reshape(-1, 1, 1, 1)
        grey = np.tensordot(x, np.asarray(GRAY, dtype=x.dtype), axes=(-1, -1))[..., None]
        y, inside = clipped(x + factor * (grey - x), self.value_range)
        return y, (factor, inside)

    def apply_backward(self, cache, dy):
        import numpy as np

        factor, inside = cache
        dy = dy * inside
        through_grey = (dy * factor).sum(axis=-1, keepdims=True) * np.asarray(GRAY, dy.dtype)
        return dy * (1 - factor) + through_grey


@register
@layer_class
class RandomSharpness(Augmentation):
    factor: object = arg(SHARPNESS, doc="sharpness drawn from [lower, upper] (0.5: "
                         "unchanged; less blurs, more sharpens)")
    value_range: tuple = arg(SortedValueRange(), default=(0, 255), doc="outputs are clipped "
                             "to it")
    data_format: str | None = arg(DATA_FORMAT, default=None)
    seed: int | None = arg(SEED, default=None, doc="kept for Keras; fit's --seed drives it")

    positional = ("factor", "value_range", "data_format", "seed")
    summary = "Sharpens or blurs each image by a random amount in training"

    def draw(self, shape, rng):
        return {"factor": uniform(rng, *SHARPNESS.bounds(self.factor), (shape[0],))}

    def apply(self, x, factors):
        import numpy as np

        sharpness = (np.asarray(factors["factor"], np.float32) * 2).astype(x.dtype)
        sharpness = sharpness.reshape(-1, 1, 1, 1)
        y, inside = clipped(x + (1 - sharpness) * (smooth(x) - x), self.value_range)
        return y, (sharpness, inside)

    def apply_backward(self, cache, dy):
        sharpness, inside = cache
        dy = dy * inside
        return dy * sharpness + smooth((1 - sharpness) * dy)  # the kernel is symmetric


def smooth(x):
    """Keras's sharpness kernel ([[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13) per channel,
    'same' padding with zeros."""
    import numpy as np

    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    height, width = x.shape[1:3]
    total = sum(padded[:, i:i + height, j:j + width] for i in range(3) for j in range(3))
    side, centre = x.dtype.type(1.0 / 13.0), x.dtype.type(5.0 / 13.0)
    return total * side + x * (centre - side)


@register
@layer_class
class Solarization(Augmentation):
    addition_factor: object = arg(SOLARIZATION, default=0.0, doc="added on the 0-255 scale: "
                                  "drawn from [lower, upper * 255]")
    threshold_factor: object = arg(SOLARIZATION, default=0.0, doc="values above the "
                                   "threshold, drawn from [lower, upper * 255], are inverted")
    value_range: tuple = arg(SortedValueRange(), default=(0, 255))
    seed: int | None = arg(SEED, default=None, doc="kept for Keras; fit's --seed drives it")
    data_format: str | None = arg(DATA_FORMAT, default=None)

    positional = ("addition_factor", "threshold_factor", "value_range", "seed")
    summary = "Inverts the values above a random threshold (after a random addition) in training"

    def draw(self, shape, rng):
        shape = (shape[0], 1, 1, 1)
        low, high = SOLARIZATION.bounds(self.addition_factor)
        additions = uniform(rng, low, high * 255, shape)
        low, high = SOLARIZATION.bounds(self.threshold_factor)
        return {"additions": additions, "thresholds": uniform(rng, low, high * 255, shape)}

    def apply(self, x, factors):
        import numpy as np

        additions, thresholds = (np.asarray(factors[k], x.dtype).reshape(-1, 1, 1, 1)
                                 for k in ("additions", "thresholds"))
        scaled = to_scale(x, self.value_range, (0, 255))
        added, inside = clipped(scaled + additions, (0, 255))
        kept = added < thresholds
        y = to_scale(np.where(kept, added, 255 - added), (0, 255), self.value_range)
        return y, (np.where(kept, 1, -1) * inside).astype(x.dtype)

    def apply_backward(self, cache, dy):
        return dy * cache  # the two rescalings cancel


@register
@layer_class
class RandomPosterization(Augmentation):
    factor: object = arg(POSTERIZATION, doc="bits kept, drawn from [lower, upper) "
                         "(a number f: [1, f))")
    value_range: tuple = arg(SortedValueRange(), default=(0, 255))
    data_format: str | None = arg(DATA_FORMAT, default=None)
    seed: int | None = arg(SEED, default=None, doc="kept for Keras; fit's --seed drives it")

    positional = ("factor", "value_range", "data_format", "seed")
    summary = "Keeps a random number of bits of each 0-255 value in training (no gradient)"

    def draw(self, shape, rng):
        import numpy as np

        lower, upper = (int(v) for v in POSTERIZATION.bounds(self.factor))
        bits = rng.integers(lower, upper, shape[0]) if lower != upper else \
            np.full(shape[0], lower)
        return {"shift_factor": (8 - bits).astype(np.uint8)}

    def apply(self, x, factors):
        import numpy as np

        shift = np.asarray(factors["shift_factor"], np.uint8).reshape(-1, 1, 1, 1)
        scaled = to_scale(x, self.value_range, (0, 255))
        values = np.clip(np.trunc(scaled), 0, 255).astype(np.uint8)  # JAX's saturating cast
        posterized = ((values >> shift) << shift).astype(x.dtype)
        return to_scale(posterized, (0, 255), self.value_range), x.shape

    def apply_backward(self, cache, dy):
        import numpy as np

        return np.zeros(cache, dtype=dy.dtype)  # whole numbers: no gradient, as in Keras


class Bins:
    describe = "int >= 2"

    def __call__(self, name, value):
        from seqcli.args import Int

        return Int(2)(name, value)


@register
@layer_class
class Equalization(Augmentation):
    value_range: tuple = arg(SortedValueRange(), default=(0, 255))
    bins: int = arg(Bins(), default=256, doc="histogram bins")
    data_format: str | None = arg(DATA_FORMAT, default=None)

    positional = ("value_range", "bins")
    summary = ("Equalizes each channel's histogram over the batch in training (Keras's: "
               "no randomness, no gradient where it equalizes)")

    def draw(self, shape, rng):
        return {}  # nothing random: Keras equalizes every training batch

    def apply(self, x, factors):
        import numpy as np

        channels, flat = [], []
        for c in range(x.shape[-1]):
            y, unchanged = self._channel(x[..., c])
            channels.append(y)
            flat.append(unchanged)
        return np.stack(channels, axis=-1), np.array(flat)

    def _channel(self, channel):
        """Keras's _equalize_channel over all the batch's pixels of one channel: (values,
        whether it was left as it was)."""
        import numpy as np

        f32 = np.float32
        low, high = (f32(v) for v in self.value_range)
        scale = (f32(255) - f32(0)) / (high - low)
        channel = channel * scale + (f32(0) - low * scale)
        scaled = (channel.astype(f32) - f32(0)) * f32(self.bins - 1) / f32(255)
        indices = np.clip(_to_int32(scaled), 0, self.bins - 1)
        hist = np.bincount(indices.reshape(-1), minlength=self.bins).astype(np.int32)
        if np.count_nonzero(hist) <= 1:
            equalized, unchanged = channel, True
        else:
            cdf = np.cumsum(hist, dtype=np.int32)
            cdf_min = cdf[np.argmax(cdf > 0)]
            denominator = cdf[-1] - cdf_min or 1
            table = ((cdf - cdf_min) * 255).astype(f32) / f32(denominator)
            table = np.clip(np.round(table), 0, 255).astype(channel.dtype)
            position = channel / channel.dtype.type(255.0) * channel.dtype.type(self.bins - 1)
            equalized = table[_to_int32(np.clip(position, 0, self.bins - 1))]
            unchanged = False
        back = (high - low) / f32(255)
        return equalized * back + (low - f32(0) * back), unchanged

    def apply_backward(self, cache, dy):
        import numpy as np

        # an equalized channel reads a table: no gradient, as in JAX; an unchanged one
        # went through the two rescalings, which cancel
        low, high = self.value_range
        through = (255 / (high - low)) * ((high - low) / 255)
        return dy * np.where(cache, dy.dtype.type(through), dy.dtype.type(0))


def _to_int32(values):
    """JAX's float -> int32 cast: towards zero."""
    import numpy as np

    return np.trunc(values).astype(np.int64)
