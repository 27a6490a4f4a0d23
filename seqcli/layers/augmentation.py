"""The base of Keras 3's image-augmentation layers, and RandomFlip and RandomCrop (the
others: augment_affine, augment_color, augment_tone, augment_region, augment_hsv,
augment_jitter). Random in training, the identity at inference (RandomCrop crops at
inference too).

Each layer is two steps: `draw(shape, rng)` picks the random factors, as Keras's
get_random_transformation does and with its ranges (from seqcli's own seeded stream, as
Keras's cannot be reproduced), and `transform(x, factors)` applies them with Keras's
transform_images formula, with `transform_backward` its gradient. The factors are
Keras's transformation dictionary, key for key, so the formula can be checked against
Keras's own with the factors fixed (tests/fixtures/make_catalog.py)."""

from __future__ import annotations

from seqcli.args import Choice, Int, Optional, _is_number, arg
from seqcli.errors import ArgError
from seqcli.layers.base import SpatialLayer, layer_class, require_rank
from seqcli.layers.core import DATA_FORMAT
from seqcli.registry import register

SEED = Optional(Int(0))


class Factor:
    """Keras's `factor` of an image layer: a number f (the range [-f, f], cut at the lower
    bound) or a list of two numbers, within bounds; `check` is "base" (Keras's
    BaseImagePreprocessingLayer), "each" (every number in range, as RandomTranslation) or
    "each_open" (the lower bound excluded, as RandomZoom). With `fold`, the pair (-f, f)
    that Keras's get_config writes for f is read as f (RandomShear)."""

    def __init__(self, low: float, high: float, check: str = "base", fold: bool = False):
        self.low, self.high, self.mode, self.fold = low, high, check, fold
        opening = "(" if check == "each_open" else "["
        self.describe = f"number or [low, high] in {opening}{low:g}, {high:g}]"

    def __call__(self, name, value):
        pair = isinstance(value, (list, tuple))
        numbers = list(value) if pair else [value]
        if self.fold and pair and len(numbers) == 2 and all(_is_number(v) for v in numbers) \
                and numbers[0] == -numbers[1] and self.low <= numbers[1] <= self.high:
            return numbers[1]  # the (-f, f) Keras writes for f (and cannot read back)
        if not all(_is_number(v) for v in numbers) or len(numbers) != (2 if pair else 1) \
                or not self._in_range(numbers, pair):
            raise ArgError(name, self.message(name, value))
        return tuple(numbers) if pair else value

    def _in_range(self, numbers, pair) -> bool:
        if self.mode == "base" and pair:
            return not (numbers[0] > self.high or numbers[1] < self.low)
        low_ok = (lambda v: v > self.low) if self.mode == "each_open" else (lambda v: v >= self.low)
        return all(low_ok(v) and v <= self.high for v in numbers)

    def message(self, name, value) -> str:
        opening = "(" if self.mode == "each_open" else "["
        return (f"The `{name}` argument should be a number (or a list of two numbers) in "
                f"the range {opening}{self.low:g}, {self.high:g}]. Received: {name}={value!r}")

    def bounds(self, value) -> tuple:
        """(lower, upper) as Keras's _set_factor makes them."""
        if isinstance(value, tuple):
            return tuple(sorted(float(v) for v in value))
        value = abs(float(value))
        return (max(-value, self.low) if self.mode == "base" else -value), value


class ValueRange:
    """[low, high]: the range the images' values live in."""

    describe = "[low, high]"

    def __call__(self, name, value):
        if not (isinstance(value, (list, tuple)) and len(value) == 2
                and all(_is_number(v) for v in value)):
            raise ArgError(name, "The `value_range` argument should be a list of two "
                           f"numbers. Received: value_range={value!r}")
        return tuple(value)


class SortedValueRange(ValueRange):
    def __call__(self, name, value):
        return tuple(sorted(super().__call__(name, value)))


@layer_class
class Augmentation(SpatialLayer):
    """Random in training (the fit's random stream drives `draw`), the identity at
    inference and in training without randomness (rng None)."""

    takes_activity_regularizer = False

    def output_shape(self, input_shape):
        require_rank(self, input_shape, 4)
        return input_shape

    def forward(self, params, x):
        return x

    def forward_train(self, params, x, rng):
        if rng is None:
            return self.forward(params, x), None
        factors = self.draw(self.to_last(x).shape, rng)
        return self.transform(x, factors)

    def backward(self, params, cache, dy):
        return (dy if cache is None else self.transform_backward(cache, dy)), {}

    def transform(self, x, factors):
        """(Keras's transform_images(x, factors, training=True), cache), in the layer's
        data format."""
        y, cache = self.apply(self.to_last(x), factors)
        return self.from_last(y), cache

    def transform_backward(self, cache, dy):
        return self.from_last(self.apply_backward(cache, self.to_last(dy)))

    # channels-last kernels: draw(shape, rng) -> factors, apply(x, factors) -> (y, cache),
    # apply_backward(cache, dy) -> dx


def uniform(rng, low, high, shape):
    """Keras's random.uniform in float32."""
    import numpy as np

    return rng.uniform(low, high, shape).astype(np.float32)


@register
@layer_class
class RandomFlip(Augmentation):
    mode: str = arg(Choice("horizontal", "vertical", "horizontal_and_vertical"),
                    default="horizontal_and_vertical", doc="which flips")
    seed: int | None = arg(SEED, default=None, doc="kept for Keras; fit's --seed drives it")
    data_format: str | None = arg(DATA_FORMAT, default=None)

    positional = ("mode", "seed")
    summary = "Flips images left-right and/or top-bottom at random in training"

    def draw(self, shape, rng):
        return {"flips": uniform(rng, 0.0, 1.0, (shape[0], 1, 1, 1)) <= 0.5}

    def apply(self, x, factors):
        import numpy as np

        flips = np.asarray(factors["flips"]).reshape(-1, 1, 1, 1)
        if self.mode in ("horizontal", "horizontal_and_vertical"):
            x = np.where(flips, x[:, :, ::-1], x)
        if self.mode in ("vertical", "horizontal_and_vertical"):  # the same draw: Keras's
            x = np.where(flips, x[:, ::-1], x)
        return x, factors

    def apply_backward(self, cache, dy):
        return self.apply(dy, cache)[0]  # a flip is its own transpose


@register
@layer_class
class RandomCrop(Augmentation):
    height: int = arg(Int(1), doc="output height")
    width: int = arg(Int(1), doc="output width")
    seed: int | None = arg(SEED, default=None, doc="kept for Keras; fit's --seed drives it")
    data_format: str | None = arg(DATA_FORMAT, default=None)

    positional = ("height", "width", "seed")
    summary = ("Crops a random height x width window in training; at inference the "
               "centre window of the target's aspect ratio, resized")

    def output_shape(self, input_shape):
        require_rank(self, input_shape, 4)
        batch, _, channels = input_shape[0], *self.split_shape(input_shape)
        return self.join_shape(batch, (self.height, self.width), channels)

    def forward(self, params, x):
        return self._inference(x)[0]

    def forward_train(self, params, x, rng):
        if rng is None:
            return self._inference(x)
        return super().forward_train(params, x, rng)

    def backward(self, params, cache, dy):
        from seqcli.layers.preprocessing import _crop_then_resize_backward

        if cache[0] == "inference":
            return self.from_last(_crop_then_resize_backward(self.to_last(dy), cache[1])), {}
        return self.transform_backward(cache, dy), {}

    def _inference(self, x):
        """Keras's documented inference (and its compute_output_shape): the largest centre
        window of the target's aspect ratio, resized bilinearly (Keras's smart_resize)."""
        from seqcli.layers.preprocessing import _aspect_crop, _crop_then_resize

        x = self.to_last(x)
        box = _aspect_crop(x.shape[1], x.shape[2], self.height, self.width)
        y, plan = _crop_then_resize(x, box, (self.height, self.width), "bilinear")
        return self.from_last(y), ("inference", plan)

    def draw(self, shape, rng):
        height, width = shape[1:3]
        if height > self.height and width > self.width:  # one window for the whole batch
            return {"h_start": int(uniform(rng, 0, height - self.height + 1, ())),
                    "w_start": int(uniform(rng, 0, width - self.width + 1, ()))}
        crop_height = max(min(height, int(float(width * self.height) / self.width)), 1)
        crop_width = max(min(width, int(float(height * self.width) / self.height)), 1)
        return {"h_start": int(float(height - crop_height) / 2),
                "w_start": int(float(width - crop_width) / 2)}

    def apply(self, x, factors):
        """Keras's slice of height x width from the start (shorter at the edges), resized
        when the slice came out smaller."""
        from seqcli import ops

        top, left = int(factors["h_start"]), int(factors["w_start"])
        window = x[:, top:top + self.height, left:left + self.width]
        size = window.shape[1:3]
        if size != (self.height, self.width):
            window = ops.resize(window, (self.height, self.width), "bilinear")
        return window, ("train", x.shape, top, left, size)

    def apply_backward(self, cache, dy):
        import numpy as np

        from seqcli import ops

        _, shape, top, left, size = cache
        if size != (self.height, self.width):
            dy = ops.resize_backward(dy, size, "bilinear")
        dx = np.zeros(shape, dtype=dy.dtype)
        dx[:, top:top + size[0], left:left + size[1]] = dy
        return dx
