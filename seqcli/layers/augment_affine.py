"""Keras 3's geometric augmentation layers: RandomRotation, RandomZoom,
RandomTranslation and RandomShear. Each draws Keras's factors, turns them into Keras's
affine transform, and samples the image there (seqcli/image_sampling.py) with Keras's
interpolation and fill modes."""

from __future__ import annotations

from seqcli.args import Choice, Float, Optional, arg
from seqcli.layers.augmentation import SEED, Augmentation, Factor, uniform
from seqcli.layers.base import layer_class
from seqcli.layers.core import DATA_FORMAT
from seqcli.registry import register

FILL_MODE = Choice("reflect", "wrap", "constant", "nearest")
INTERPOLATION = Choice("nearest", "bilinear")
ROTATION = Factor(-1, 1)
ZOOM = Factor(-1, 1, check="each_open")
TRANSLATION = Factor(-1, 1, check="each")
SHEAR = Factor(0, 1, check="each", fold=True)


@layer_class
class _Affine(Augmentation):
    def matrices(self, factors, height, width):
        """Keras's transform rows [a0, a1, a2, b0, b1, b2, 0, 0], one per image."""
        raise NotImplementedError

    def apply(self, x, factors):
        from seqcli import image_sampling

        transforms = self.matrices(factors, *x.shape[1:3])
        taps = image_sampling.plan(x.shape, transforms, self.interpolation, self.fill_mode)
        return image_sampling.sample(x, taps, self.fill_value), (taps, x.shape)

    def apply_backward(self, cache, dy):
        from seqcli import image_sampling

        taps, shape = cache
        return image_sampling.sample_backward(dy, taps, shape)


def sampling(name):
    """A fresh field (a dataclass owns its fields) for an argument every layer here has."""
    return {
        "fill_mode": lambda: arg(FILL_MODE, default="reflect", doc="how points outside are "
                                 "filled"),
        "interpolation": lambda: arg(INTERPOLATION, default="bilinear"),
        "seed": lambda: arg(SEED, default=None, doc="kept for Keras; fit's --seed drives it"),
        "fill_value": lambda: arg(Float(), default=0.0, doc="the fill of fill_mode constant"),
        "data_format": lambda: arg(DATA_FORMAT, default=None),
    }[name]()


@register
@layer_class
class RandomRotation(_Affine):
    factor: object = arg(ROTATION, doc="fraction of a full turn, drawn from [lower, upper]")
    fill_mode: str = sampling("fill_mode")
    interpolation: str = sampling("interpolation")
    seed: int | None = sampling("seed")
    fill_value: float = sampling("fill_value")
    data_format: str | None = sampling("data_format")

    positional = ("factor", "fill_mode", "interpolation", "seed", "fill_value")
    summary = "Rotates each image by a random angle about its centre in training"

    def draw(self, shape, rng):
        lower, upper = ROTATION.bounds(self.factor)
        return {"angle": uniform(rng, lower * 360.0, upper * 360.0, (shape[0],))}

    def matrices(self, factors, height, width):
        import numpy as np

        from seqcli.image_sampling import affine_matrix

        angle = np.asarray(factors["angle"], np.float32).reshape(-1)
        zeros, ones = np.zeros_like(angle), np.ones_like(angle)
        return affine_matrix(angle, zeros, zeros, ones, zeros, zeros, height, width)


@register
@layer_class
class RandomZoom(_Affine):
    height_factor: object = arg(ZOOM, doc="zoom drawn from [1 + lower, 1 + upper]; "
                                "negative zooms in")
    width_factor: object = arg(Optional(ZOOM), default=None,
                               doc="null: the height's zoom, keeping the aspect ratio")
    fill_mode: str = sampling("fill_mode")
    interpolation: str = sampling("interpolation")
    seed: int | None = sampling("seed")
    fill_value: float = sampling("fill_value")
    data_format: str | None = sampling("data_format")

    positional = ("height_factor", "width_factor", "fill_mode", "interpolation", "seed",
                  "fill_value")
    summary = "Zooms each image in or out by a random factor in training"

    def draw(self, shape, rng):
        lower, upper = ZOOM.bounds(self.height_factor)
        height_zoom = uniform(rng, 1.0 + lower, 1.0 + upper, (shape[0], 1))
        if self.width_factor is None:
            return {"height_zoom": height_zoom, "width_zoom": height_zoom}
        lower, upper = ZOOM.bounds(self.width_factor)
        return {"height_zoom": height_zoom,
                "width_zoom": uniform(rng, 1.0 + lower, 1.0 + upper, (shape[0], 1))}

    def matrices(self, factors, height, width):
        import numpy as np

        f32 = np.float32
        zoom_x = np.asarray(factors["width_zoom"], f32).reshape(-1, 1)
        zoom_y = np.asarray(factors["height_zoom"], f32).reshape(-1, 1)
        x_offset = (f32(width) - f32(1)) / f32(2) * (f32(1) - zoom_x)
        y_offset = (f32(height) - f32(1)) / f32(2) * (f32(1) - zoom_y)
        zeros = np.zeros_like(zoom_x)
        return np.concatenate([zoom_x, zeros, x_offset, zeros, zoom_y, y_offset, zeros, zeros],
                              axis=1)


@register
@layer_class
class RandomTranslation(_Affine):
    height_factor: object = arg(TRANSLATION, doc="shift as a fraction of the height, "
                                "drawn from [lower, upper]")
    width_factor: object = arg(TRANSLATION, doc="shift as a fraction of the width")
    fill_mode: str = sampling("fill_mode")
    interpolation: str = sampling("interpolation")
    seed: int | None = sampling("seed")
    fill_value: float = sampling("fill_value")
    data_format: str | None = sampling("data_format")

    positional = ("height_factor", "width_factor", "fill_mode", "interpolation", "seed",
                  "fill_value")
    summary = "Shifts each image by a random offset in training"

    def draw(self, shape, rng):
        import numpy as np

        height, width = shape[1:3]
        lower, upper = TRANSLATION.bounds(self.height_factor)
        shift_y = uniform(rng, lower, upper, (shape[0], 1)) * np.float32(height)
        lower, upper = TRANSLATION.bounds(self.width_factor)
        shift_x = uniform(rng, lower, upper, (shape[0], 1)) * np.float32(width)
        return {"translations": np.concatenate([shift_x, shift_y], axis=1)}

    def matrices(self, factors, height, width):
        import numpy as np

        shifts = np.asarray(factors["translations"], np.float32).reshape(-1, 2)
        ones, zeros = np.ones_like(shifts[:, :1]), np.zeros_like(shifts[:, :1])
        return np.concatenate([ones, zeros, -shifts[:, :1], zeros, ones, -shifts[:, 1:],
                               zeros, zeros], axis=1)


@register
@layer_class
class RandomShear(_Affine):
    x_factor: object = arg(SHEAR, default=0.0, doc="horizontal shear drawn from "
                           "[lower, upper], its sign flipped at random")
    y_factor: object = arg(SHEAR, default=0.0, doc="vertical shear, likewise")
    interpolation: str = sampling("interpolation")
    fill_mode: str = sampling("fill_mode")
    fill_value: float = sampling("fill_value")
    data_format: str | None = sampling("data_format")
    seed: int | None = sampling("seed")

    positional = ("x_factor", "y_factor", "interpolation", "fill_mode", "fill_value",
                  "data_format", "seed")
    summary = "Shears each image by a random amount in training (about the top-left corner)"

    def draw(self, shape, rng):
        import numpy as np

        sign = np.where(uniform(rng, 0.0, 1.0, (shape[0], 1)) > 0.5, np.float32(-1),
                        np.float32(1))
        shear_y = uniform(rng, *SHEAR.bounds(self.y_factor), (shape[0], 1))
        shear_x = uniform(rng, *SHEAR.bounds(self.x_factor), (shape[0], 1))
        return {"shear_factor": np.concatenate([shear_x, shear_y], axis=1) * sign}

    def matrices(self, factors, height, width):
        import numpy as np

        shear = np.asarray(factors["shear_factor"], np.float32).reshape(-1, 2)
        ones, zeros = np.ones_like(shear[:, 0]), np.zeros_like(shear[:, 0])
        return np.stack([ones, shear[:, 0], zeros, shear[:, 1], ones, zeros, zeros, zeros],
                        axis=1)


PERSPECTIVE = Factor(0, 1)


class Scale:
    describe = "number in [0, 1]"

    def __call__(self, name, value):
        from seqcli.args import _is_number
        from seqcli.errors import ArgError

        if not (_is_number(value) and 0 <= value <= 1):
            raise ArgError(name, "The `scale` argument should be a number in the range "
                           f"[0,1]. Received: scale={value!r}")
        return value


@register
@layer_class
class RandomPerspective(Augmentation):
    factor: object = arg(PERSPECTIVE, default=1.0, doc="chance of a perspective change, "
                         "drawn per image from [lower, upper]")
    scale: float = arg(Scale(), default=1.0, doc="how far the corners move: up to "
                       "scale / 2 of their coordinates")
    interpolation: str = sampling("interpolation")
    fill_value: float = sampling("fill_value")
    seed: int | None = sampling("seed")
    data_format: str | None = sampling("data_format")

    positional = ("factor", "scale", "interpolation", "fill_value", "seed")
    summary = "Moves each image's corners at random (a perspective change) in training"

    def draw(self, shape, rng):
        import numpy as np

        n, height, width = shape[:3]
        chance = uniform(rng, *PERSPECTIVE.bounds(self.factor), (n,))
        apply = uniform(rng, 0.0, 1.0, (n,)) < chance
        moves = uniform(rng, -0.5 * self.scale, 0.5 * self.scale, (n, 4, 2))
        corners = np.array([[0.0, 0.0], [width - 1, 0.0], [0.0, height - 1],
                            [width - 1, height - 1]], np.float32)
        start = np.repeat(corners[None], n, axis=0)
        return {"apply_perspective": apply, "start_points": start,
                "end_points": start + start * moves}

    def apply(self, x, factors):
        import numpy as np

        from seqcli import image_sampling

        transforms = image_sampling.homography(factors["start_points"], factors["end_points"])
        rows, cols = image_sampling.projective_coordinates(transforms, *x.shape[1:3])
        taps = image_sampling.plan_at(x.shape, rows, cols, self.interpolation, "constant")
        moved = image_sampling.sample(x, taps, self.fill_value)
        apply = np.asarray(factors["apply_perspective"], bool).reshape(-1, 1, 1, 1)
        return np.where(apply, moved, x), (taps, x.shape, apply)

    def apply_backward(self, cache, dy):
        import numpy as np

        from seqcli import image_sampling

        taps, shape, apply = cache
        return np.where(apply, image_sampling.sample_backward(dy, taps, shape), dy)
