"""Keras 3's RandomErasing (a random box filled) and RandomGaussianBlur, random in
training with Keras's formulas, the identity at inference."""

from __future__ import annotations

from seqcli.args import Choice, Float, _is_int, _is_number, arg
from seqcli.errors import ArgError
from seqcli.layers.augmentation import SEED, Augmentation, Factor, ValueRange, uniform
from seqcli.layers.base import layer_class
from seqcli.layers.core import DATA_FORMAT
from seqcli.registry import register

CHANCE = Factor(0, 1)  # a number f: [0, f]


class FillValue:
    """RandomErasing's fill: null (Gaussian noise times the range's top) or a number.
    (Keras documents three numbers too, which its JAX backend cannot use: refused.)"""

    describe = "null | number"

    def __call__(self, name, value):
        if value is None or _is_number(value):
            return value
        raise ArgError(name, "The `fill_value` argument should be a number (Keras 3 on JAX "
                       f"fails on a list of three). Received: fill_value={value!r}")


class KernelSize:
    """An odd whole number, or two (width, height)."""

    describe = "odd int | [odd int, odd int]"

    def __call__(self, name, value):
        pair = isinstance(value, (list, tuple))
        numbers = list(value) if pair else [value]
        if pair and len(numbers) != 2:
            raise ArgError(name, f"The `{name}` argument should be a number (or a list of two "
                           f"numbers) Received: {name}={value!r}")
        if not all(_is_int(v) and v > 0 and v % 2 == 1 for v in numbers):
            raise ArgError(name, f"{name} must be an odd number. Received: {name}={value!r}")
        return tuple(numbers) if pair else value


@register
@layer_class
class RandomErasing(Augmentation):
    factor: object = arg(CHANCE, default=1.0, doc="chance of erasing, drawn per image from "
                         "[lower, upper]")
    scale: object = arg(CHANCE, default=(0.02, 0.33), doc="the box's share of each side, "
                        "squared: drawn from [lower, upper]")
    fill_value: object = arg(FillValue(), default=None, doc="null: Gaussian noise times the "
                             "range's top; clipped to value_range")
    value_range: tuple = arg(ValueRange(), default=(0, 255))
    seed: int | None = arg(SEED, default=None, doc="kept for Keras; fit's --seed drives it")
    data_format: str | None = arg(DATA_FORMAT, default=None)

    positional = ("factor", "scale", "fill_value", "value_range", "seed")
    summary = "Fills a random box of some images (noise or a value) in training"

    def draw(self, shape, rng):
        import numpy as np

        n, height, width, channels = shape
        share = np.sqrt(uniform(rng, *CHANCE.bounds(self.scale), (n, 2)))
        x0, x1 = _span(rng, n, width, share[:, 0])
        y0, y1 = _span(rng, n, height, share[:, 1])
        rows = np.arange(height, dtype=np.float32)[None, :, None, None]
        cols = np.arange(width, dtype=np.float32)[None, None, :, None]
        box = (cols >= x0) & (cols < x1) & (rows >= y0) & (rows < y1)
        chance = uniform(rng, *CHANCE.bounds(self.factor), (n,))
        apply = uniform(rng, 0.0, 1.0, (n,)) < chance
        masks, fill = np.repeat(box, channels, axis=3), self._fill(shape, rng)
        return {"apply_erasing": apply, "batch_masks": self.from_last(masks),
                "fill_value": self.from_last(fill)}  # Keras's: in the layer's data format

    def _fill(self, shape, rng):
        import numpy as np

        if self.fill_value is None:
            fill = rng.standard_normal(shape).astype(np.float32) * np.float32(self.value_range[1])
        else:
            fill = np.full(shape, self.fill_value, np.float32)
        return np.clip(fill, *self.value_range)

    def apply(self, x, factors):
        import numpy as np

        erased = np.asarray(factors["batch_masks"], bool) & \
            np.asarray(factors["apply_erasing"], bool).reshape(-1, 1, 1, 1)
        fill = np.asarray(factors["fill_value"]).astype(x.dtype)
        return np.where(erased, fill, x), erased

    def apply_backward(self, cache, dy):
        return dy * ~cache

    def transform(self, x, factors):
        """The masks and fill come in the layer's data format, as Keras's."""
        factors = {k: self.to_last(v) if k != "apply_erasing" else v for k, v in factors.items()}
        return super().transform(x, factors)


def _span(rng, n, length, share):
    """Keras's _compute_crop_bounds: a start and end along one side."""
    import numpy as np

    size = (share * np.float32(length)).astype(np.float32)
    start = uniform(rng, 0.0, 1.0, (n,)) * (np.float32(length) - size)
    return (start[:, None, None, None], (start + size)[:, None, None, None])


@register
@layer_class
class RandomGaussianBlur(Augmentation):
    factor: object = arg(CHANCE, default=1.0, doc="chance of blurring, drawn per image "
                         "from [lower, upper]")
    kernel_size: object = arg(KernelSize(), default=3, doc="odd; two: width, height")
    sigma: object = arg(CHANCE, default=1.0, doc="the blur's spread (width, height), one "
                        "draw per batch from [lower, upper]")
    value_range: tuple = arg(ValueRange(), default=(0, 255), doc="outputs are clipped to it")
    data_format: str | None = arg(DATA_FORMAT, default=None)
    seed: int | None = arg(SEED, default=None, doc="kept for Keras; fit's --seed drives it")

    positional = ("factor", "kernel_size", "sigma", "value_range", "data_format", "seed")
    summary = "Blurs some images with a random Gaussian in training"

    def draw(self, shape, rng):
        import numpy as np

        chance = uniform(rng, *CHANCE.bounds(self.factor), (shape[0],))
        apply = uniform(rng, 0.0, 1.0, (shape[0],)) < chance
        sigma = uniform(rng, *CHANCE.bounds(self.sigma), (2,)) + np.float32(1e-6)
        return {"should_apply_blur": apply, "blur_factor": sigma}

    def kernel(self, sigma, dtype):
        sizes = self.kernel_size if isinstance(self.kernel_size, tuple) else \
            (self.kernel_size,) * 2
        return gaussian_kernel(sizes, sigma, dtype)

    def apply(self, x, factors):
        import numpy as np

        kernel = self.kernel(factors["blur_factor"], x.dtype)
        blurred = _correlate(x, kernel)
        apply = np.asarray(factors["should_apply_blur"], bool).reshape(-1, 1, 1, 1)
        y = np.where(apply, blurred, x)
        low, high = self.value_range
        return np.clip(y, low, high), (kernel, apply, (y >= low) & (y <= high))

    def apply_backward(self, cache, dy):
        import numpy as np

        kernel, apply, inside = cache
        dy = dy * inside
        return np.where(apply, _correlate(dy, kernel[::-1, ::-1]), dy)


def gaussian_kernel(sizes, sigma, dtype):
    """Keras's gaussian_blur kernel: (height, width) = outer(k_y, k_x), for sizes
    (width, height) and sigma (x, y)."""
    import numpy as np

    def one_d(size, spread):
        x = np.arange(size, dtype=dtype) - dtype.type((size - 1) / 2)
        k = np.exp(dtype.type(-0.5) * (x / spread) ** 2)
        return k / k.sum()

    sigma = np.asarray(sigma, dtype)
    return np.outer(one_d(sizes[1], sigma[1]), one_d(sizes[0], sigma[0]))


def _correlate(x, kernel):
    """Each channel correlated with `kernel`, 'same' zero padding (odd sizes)."""
    import numpy as np

    kh, kw = kernel.shape
    padded = np.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    height, width = x.shape[1:3]
    return sum(kernel[i, j] * padded[:, i:i + height, j:j + width]
               for i in range(kh) for j in range(kw))


ELASTIC_FILL = Choice("reflect", "wrap", "constant", "nearest", "mirror")


@register
@layer_class
class RandomElasticTransform(Augmentation):
    factor: object = arg(CHANCE, default=1.0, doc="chance of distorting, drawn per image "
                         "from [lower, upper]")
    scale: object = arg(CHANCE, default=1.0, doc="distortion strength, one draw per batch "
                        "from [lower, upper]")
    interpolation: str = arg(Choice("nearest", "bilinear"), default="bilinear")
    fill_mode: str = arg(ELASTIC_FILL, default="reflect")
    fill_value: float = arg(Float(), default=0.0)
    value_range: tuple = arg(ValueRange(), default=(0, 255), doc="outputs are clipped to it")
    seed: int | None = arg(SEED, default=None, doc="kept for Keras; fit's --seed drives it")
    data_format: str | None = arg(DATA_FORMAT, default=None)

    positional = ("factor", "scale", "interpolation", "fill_mode", "fill_value",
                  "value_range", "seed")
    summary = "Moves each image's pixels along a smoothed random field in training"

    def draw(self, shape, rng):
        import numpy as np

        chance = uniform(rng, *CHANCE.bounds(self.factor), (shape[0],))
        apply = uniform(rng, 0.0, 1.0, (shape[0],)) < chance
        return {"apply_transform": apply,
                "distortion_factor": uniform(rng, *CHANCE.bounds(self.scale), ()),
                # Keras draws its two displacement fields from one seed: they are equal
                "noise": rng.standard_normal(shape[:3]).astype(np.float32)}

    def apply(self, x, factors):
        import numpy as np

        from seqcli import image_sampling

        n, height, width = x.shape[:3]
        factor = np.float32(factors["distortion_factor"])
        alpha = np.float32(max(height, width)) * (np.float32(0.1) * factor)
        sigma = np.float32(min(height, width)) * (np.float32(0.05) * factor)
        size = int(6 * sigma) | 1
        kernel = gaussian_kernel((size, size), (sigma, sigma), np.dtype(np.float32))
        field = _correlate((np.asarray(factors["noise"], np.float32) * sigma)[..., None],
                           kernel)[..., 0]
        rows = np.arange(height, dtype=np.float32)[None, :, None] + alpha * field
        cols = np.arange(width, dtype=np.float32)[None, None, :] + alpha * field
        taps = image_sampling.plan_at(x.shape, rows, cols, self.interpolation, self.fill_mode)
        moved = image_sampling.sample(x, taps, self.fill_value)
        apply = np.asarray(factors["apply_transform"], bool).reshape(-1, 1, 1, 1)
        y = np.where(apply, moved, x)
        low, high = self.value_range
        return np.clip(y, low, high), (taps, x.shape, apply, (y >= low) & (y <= high))

    def apply_backward(self, cache, dy):
        import numpy as np

        from seqcli import image_sampling

        taps, shape, apply, inside = cache
        dy = dy * inside
        return np.where(apply, image_sampling.sample_backward(dy, taps, shape), dy)
