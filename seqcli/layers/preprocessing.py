"""Preprocessing layers that fit in a stack: Rescaling, Normalization, CenterCrop,
Resizing (nearest and bilinear, as Keras's JAX backend resizes)."""

from __future__ import annotations

from seqcli.args import Axes, Bool, Choice, Int, Optional, arg
from seqcli.errors import ArgError
from seqcli.layers.base import (Layer, WeightSpec, channels_last, format_shape, layer_class,
                                require_rank)
from seqcli.layers.core import DATA_FORMAT
from seqcli.registry import register

EPSILON = 1e-7


class Numbers:
    """A number, or a (nested) list of numbers to broadcast against the input."""

    describe = "number | list of numbers"

    def __call__(self, name, value):
        if _numeric(value):
            return value if not isinstance(value, list) else tuple(_tuples(value))
        raise ArgError(name, f"`{name}` must be a number or a list of numbers. "
                       f"Received: {name}={value!r}")


def _numeric(value) -> bool:
    if isinstance(value, (list, tuple)):
        return bool(value) and all(_numeric(v) for v in value)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _tuples(value):
    return [tuple(_tuples(v)) if isinstance(v, (list, tuple)) else v for v in value]


@register
@layer_class
class Rescaling(Layer):
    masking = "passes"
    scale: object = arg(Numbers(), doc="multiplier (a number, or one per channel)")
    offset: object = arg(Numbers(), default=0.0, doc="added after scaling")

    positional = ("scale", "offset")
    summary = "x * scale + offset (for instance 1/255 to bring pixels into [0, 1])"

    def forward_train(self, params, x, rng):
        import numpy as np

        scale = np.asarray(self.scale, dtype=x.dtype)
        return x * scale + np.asarray(self.offset, dtype=x.dtype), None

    def backward(self, params, cache, dy):
        import numpy as np

        return dy * np.asarray(self.scale, dtype=dy.dtype), {}


@register
@layer_class
class Normalization(Layer):
    masking = "passes"
    axis: object = arg(Optional(Axes()), default=-1, doc="axes with their own mean and "
                       "variance (null: one for all)")
    mean: object = arg(Optional(Numbers()), default=None, doc="fixed mean (else a weight)")
    variance: object = arg(Optional(Numbers()), default=None, doc="fixed variance")
    invert: bool = arg(Bool(), default=False, doc="undo a normalization instead")

    positional = ("axis", "mean", "variance", "invert")
    summary = "(x - mean) / sqrt(variance), with given or stored statistics"
    weights_doc = ("mean, variance (the kept axes), count () integer; all non-trainable, "
                   "and absent when mean and variance are given")

    def check(self):
        if (self.mean is None) != (self.variance is None):
            raise ArgError("variance" if self.variance is None else "mean",
                           "When setting values for the mean and variance of the "
                           "`Normalization` layer, both must be given.")

    def _keep(self, ndim):
        axes = () if self.axis is None else (
            self.axis if isinstance(self.axis, tuple) else (self.axis,))
        for a in axes:
            if not -ndim <= a < ndim or a % ndim == 0:
                raise ValueError(f"All `axis` values must be in the range [-ndim, ndim), "
                                 f"and not the batch axis. Received inputs with ndim={ndim}, "
                                 f"while axis={self.axis}")
        return tuple(sorted(a % ndim for a in axes))

    def output_shape(self, input_shape):
        keep = self._keep(len(input_shape))
        if any(input_shape[d] is None for d in keep):
            raise ValueError(f"All `axis` values to be kept must have a known shape. Received "
                             f"axis={self.axis}, inputs.shape={format_shape(input_shape)}")
        return input_shape

    def weight_specs(self, input_shape):
        if self.mean is not None:
            return []
        shape = tuple(input_shape[d] for d in self._keep(len(input_shape)))
        return [WeightSpec("mean", shape, "zeros", trainable=False),
                WeightSpec("variance", shape, "ones", trainable=False),
                WeightSpec("count", (), "zeros", trainable=False, dtype="int64")]

    def _statistics(self, params, x):
        import numpy as np

        keep = self._keep(x.ndim)
        broadcast = [x.shape[d] if d in keep else 1 for d in range(x.ndim)]
        if self.mean is None:
            mean, variance = params["mean"], params["variance"]
        else:
            mean, variance = (np.asarray(v, dtype=x.dtype) for v in (self.mean, self.variance))
        shaped = []
        for value in (mean, variance):
            value = np.asarray(value, dtype=x.dtype)
            expanded = [1] * x.ndim
            for i in range(1, value.ndim + 1):  # Keras aligns a given value with the kept axes
                expanded[keep[-i]] = value.shape[-i]
            shaped.append(np.broadcast_to(value.reshape(expanded), broadcast))
        mean, variance = shaped
        return mean, np.maximum(np.sqrt(variance), x.dtype.type(EPSILON))

    def forward_train(self, params, x, rng):
        mean, spread = self._statistics(params, x)
        return (mean + x * spread if self.invert else (x - mean) / spread), spread

    def backward(self, params, cache, dy):
        spread = cache
        return (dy * spread if self.invert else dy / spread), {}


@layer_class
class _Image(Layer):
    """Layers on images: (batch, height, width, channels), or channels first."""

    @property
    def last(self) -> bool:
        return channels_last(self.data_format)

    def output_shape(self, input_shape):
        require_rank(self, input_shape, 4)
        channels = input_shape[3] if self.last else input_shape[1]
        return (input_shape[0], self.height, self.width, channels) if self.last else \
            (input_shape[0], channels, self.height, self.width)

    def forward_train(self, params, x, rng):
        from seqcli import ops

        y, plan = self.transform(x if self.last else ops.to_channels_last(x))
        return (y if self.last else ops.to_channels_first(y)), plan

    def backward(self, params, cache, dy):
        from seqcli import ops

        dx = self.transform_backward(dy if self.last else ops.to_channels_last(dy), cache)
        return (dx if self.last else ops.to_channels_first(dx)), {}


def _aspect_crop(height, width, target_height, target_width):
    """Keras's crop_to_aspect_ratio box: (top, left, height, width)."""
    crop_height = max(min(height, int(float(width * target_height) / target_width)), 1)
    crop_width = max(min(width, int(float(height * target_width) / target_height)), 1)
    return (int(float(height - crop_height) / 2), int(float(width - crop_width) / 2),
            crop_height, crop_width)


def _crop_then_resize(x, box, size, method):
    """(output, plan): crop to `box`, then resize; `plan` lets the gradient go back."""
    from seqcli import ops

    top, left, height, width = box
    cropped = x[:, top:top + height, left:left + width, :]
    return ops.resize(cropped, size, method), (x.shape, box, method)


def _crop_then_resize_backward(dy, plan):
    import numpy as np

    from seqcli import ops

    shape, (top, left, height, width), method = plan
    dx = np.zeros(shape, dtype=dy.dtype)
    dx[:, top:top + height, left:left + width, :] = ops.resize_backward(dy, (height, width),
                                                                         method)
    return dx


@register
@layer_class
class CenterCrop(_Image):
    height: int = arg(Int(1), doc="output height")
    width: int = arg(Int(1), doc="output width")
    data_format: str | None = arg(DATA_FORMAT, default=None)

    positional = ("height", "width", "data_format")
    summary = ("Crops the centre of each image to height x width (a smaller image is first "
               "resized, as Keras does)")

    def transform(self, x):
        height, width = x.shape[1:3]
        if height >= self.height and width >= self.width:
            top, left = (height - self.height) // 2, (width - self.width) // 2
            box = (top, left, self.height, self.width)
            return x[:, top:top + self.height, left:left + self.width, :], (x.shape, box, None)
        box = _aspect_crop(height, width, self.height, self.width)  # Keras's smart_resize
        return _crop_then_resize(x, box, (self.height, self.width), "bilinear")

    def transform_backward(self, dy, plan):
        import numpy as np

        shape, (top, left, height, width), method = plan
        if method is None:
            dx = np.zeros(shape, dtype=dy.dtype)
            dx[:, top:top + height, left:left + width, :] = dy
            return dx
        return _crop_then_resize_backward(dy, plan)


@register
@layer_class
class Resizing(_Image):
    height: int = arg(Int(1), doc="output height")
    width: int = arg(Int(1), doc="output width")
    interpolation: str = arg(Choice("bilinear", "nearest"), default="bilinear")
    crop_to_aspect_ratio: bool = arg(Bool(), default=False,
                                     doc="crop the centre to the target's aspect ratio first")
    pad_to_aspect_ratio: bool = arg(Bool(), default=False, doc="not supported yet")
    antialias: bool = arg(Bool(), default=False, doc="not supported yet")
    data_format: str | None = arg(DATA_FORMAT, default=None)

    positional = ("height", "width", "interpolation", "crop_to_aspect_ratio",
                  "pad_to_aspect_ratio")
    summary = "Resizes images to height x width (bilinear or nearest)"

    def check(self):
        for name in ("pad_to_aspect_ratio", "antialias"):
            if getattr(self, name):
                raise ArgError(name, f"{name}=true is not supported yet; leave it false")

    def transform(self, x):
        height, width = x.shape[1:3]
        box = _aspect_crop(height, width, self.height, self.width) \
            if self.crop_to_aspect_ratio else (0, 0, height, width)
        return _crop_then_resize(x, box, (self.height, self.width), self.interpolation)

    def transform_backward(self, dy, plan):
        return _crop_then_resize_backward(dy, plan)
