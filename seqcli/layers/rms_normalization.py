"""RMSNormalization: x * rsqrt(mean(x ** 2) + epsilon) * scale, as Keras 3's
ops.rms_normalization (no centring, unlike LayerNormalization's rms_scaling)."""

from __future__ import annotations

from seqcli.args import Axes, Float, arg
from seqcli.layers.base import Layer, WeightSpec, format_shape, layer_class
from seqcli.registry import register


@register
@layer_class
class RMSNormalization(Layer):
    axis: object = arg(Axes(), default=-1, doc="axis or axes to normalize over")
    epsilon: float = arg(Float(0.0), default=1e-6, doc="added to the mean square")

    masking = "drops"
    positional = ("axis", "epsilon")
    summary = "Divides by the root mean square over the last axis (or axes), times a scale"
    weights_doc = "scale (the sizes of the normalized axes, in sorted axis order)"

    def _axes(self) -> list:
        return sorted(self.axis) if isinstance(self.axis, tuple) else [self.axis]

    def _scale_shape(self, input_shape) -> tuple:
        rank = len(input_shape)
        for axis in self._axes():
            if not -rank <= axis < rank:
                raise ValueError(f"Axis {axis} is out of bounds for input shape "
                                 f"{format_shape(input_shape)}. Received: axis={self.axis}")
        shape = tuple(input_shape[axis] for axis in self._axes())
        if None in shape:
            raise ValueError("RMSNormalization needs the normalized axes defined; received "
                             f"input_shape={format_shape(input_shape)}")
        # Keras multiplies by the scale with numpy's broadcasting (trailing axes first)
        trailing = input_shape[len(input_shape) - len(shape):]
        if len(shape) > rank - 1 or any(s != t for s, t in zip(shape, trailing)):
            raise ValueError(f"RMSNormalization's scale {shape} (axis={self.axis}) does not "
                             f"broadcast against the input shape {format_shape(input_shape)}: "
                             "Keras lines it up with the last axes, so normalize the last "
                             "axes (axis: -1, or [-2, -1])")
        return shape

    def output_shape(self, input_shape):
        self._scale_shape(input_shape)
        return input_shape

    def weight_specs(self, input_shape):
        return [WeightSpec("scale", self._scale_shape(input_shape), "ones")]

    def forward_train(self, params, x, rng):
        import numpy as np

        axes = tuple(self._axes())
        inv = 1 / np.sqrt(np.mean(x * x, axis=axes, keepdims=True) + x.dtype.type(self.epsilon))
        normalized = x * inv
        return normalized * params["scale"], (x, inv, normalized)

    def backward(self, params, cache, dy):
        import numpy as np

        x, inv, normalized = cache
        axes = tuple(self._axes())
        g = dy * params["scale"]
        count = x.size // inv.size
        dx = g * inv - x * inv ** 3 * np.sum(g * x, axis=axes, keepdims=True) / count
        dscale = dy * normalized
        scale_shape = params["scale"].shape
        dscale = dscale.reshape(-1, *scale_shape).sum(axis=0) if scale_shape else dscale.sum()
        return dx, {"scale": dscale}
