"""Activation layers with arguments: ReLU, LeakyReLU, PReLU, ELU, Softmax."""

from __future__ import annotations

from seqcli.args import Axes, Float, InitializerArg, Optional, ShapeArg, arg
from seqcli.errors import ArgError
from seqcli.layers.base import Layer, WeightSpec, layer_class
from seqcli.registry import register
from seqcli.shapes import feature_axes


@register
@layer_class
class ReLU(Layer):
    masking = "passes"
    max_value: float | None = arg(Optional(Float(0.0)), default=None, doc="upper clip")
    negative_slope: float = arg(Float(0.0), default=0.0, doc="slope below the threshold")
    threshold: float = arg(Float(0.0), default=0.0, doc="values below it are damped")

    positional = ("max_value", "negative_slope", "threshold")
    summary = "Rectified linear unit with optional max value, slope and threshold"

    def forward_train(self, params, x, rng):
        import numpy as np

        y = np.where(x > self.threshold, x, 0).astype(x.dtype)
        if self.max_value is not None:
            y = np.clip(y, 0, self.max_value).astype(x.dtype)
        if self.negative_slope:
            y = y - x.dtype.type(self.negative_slope) * np.maximum(self.threshold - x, 0)
        return y, x

    def backward(self, params, cache, dy):
        x = cache
        passed = x > self.threshold
        if self.max_value is not None:
            passed &= x < self.max_value
        grad = dy * passed
        if self.negative_slope:
            grad = grad + dy * (x < self.threshold) * dy.dtype.type(self.negative_slope)
        return grad, {}


@register
@layer_class
class LeakyReLU(Layer):
    masking = "passes"
    negative_slope: float = arg(Float(0.0), default=0.3, doc="slope for negative inputs")

    positional = ("negative_slope",)
    summary = "Leaky ReLU: x, or negative_slope * x below zero"

    def forward_train(self, params, x, rng):
        from seqcli import ops

        return ops.leaky_relu(x, self.negative_slope), x

    def backward(self, params, cache, dy):
        from seqcli import ops

        return ops.leaky_relu_grad(cache, None, dy, self.negative_slope), {}


@register
@layer_class
class PReLU(Layer):
    weight_args = {"alpha": "alpha"}

    masking = "passes"
    alpha_initializer: object = arg(InitializerArg(), default="zeros")
    shared_axes: tuple | None = arg(Optional(ShapeArg()), default=None,
                                    doc="axes (1-based) sharing one alpha")

    positional = ("alpha_initializer", "alpha_regularizer", "alpha_constraint", "shared_axes")
    summary = "Parametric ReLU: x, or a learned alpha * x below zero"
    weights_doc = "alpha (input shape without the batch, 1 on shared axes)"

    def _alpha_shape(self, input_shape):
        shape = list(input_shape[1:])
        for axis in self.shared_axes or ():
            if axis >= len(input_shape):
                raise ValueError(f"shared_axes {self.shared_axes} do not fit an input of "
                                 f"rank {len(input_shape)}")
            shape[axis - 1] = 1
        if None in shape:
            raise ValueError("PReLU needs every non-shared input dimension defined; received "
                             f"input_shape={tuple(input_shape)}")
        return tuple(shape)

    def weight_specs(self, input_shape):
        return [WeightSpec("alpha", self._alpha_shape(input_shape), self.alpha_initializer)]

    def forward_train(self, params, x, rng):
        import numpy as np

        alpha = params["alpha"]
        return np.maximum(x, 0) + alpha * np.minimum(x, 0), x

    def backward(self, params, cache, dy):
        import numpy as np

        x, alpha = cache, params["alpha"]
        dx = dy * np.where(x > 0, 1, 0).astype(dy.dtype) + dy * alpha * (x < 0)
        dalpha = dy * np.minimum(x, 0)
        axes = tuple(i for i, size in enumerate(alpha.shape, start=1) if size == 1
                     and x.shape[i] != 1)
        dalpha = dalpha.sum(axis=(0, *axes), keepdims=True)[0]
        return dx, {"alpha": dalpha.reshape(alpha.shape)}


@register
@layer_class
class ELU(Layer):
    masking = "passes"
    alpha: float = arg(Float(), default=1.0, doc="scale of the negative part")

    positional = ("alpha",)
    summary = "Exponential linear unit: x, or alpha * (exp(x) - 1) below zero"

    def forward_train(self, params, x, rng):
        from seqcli import ops

        y = ops.elu(x, self.alpha)
        return y, (x, y)

    def backward(self, params, cache, dy):
        from seqcli import ops

        x, y = cache
        return ops.elu_grad(x, y, dy, self.alpha), {}


@register
@layer_class
class Softmax(Layer):
    masking = "uses"  # masked positions give 0, and the rest share the whole 1
    axis: object = arg(Axes(), default=-1, doc="axis or axes to normalize over")

    positional = ("axis",)
    summary = "Softmax over an axis (or several)"

    def check(self):
        axes = self.axis if isinstance(self.axis, tuple) else (self.axis,)
        if 0 in axes:
            raise ArgError("axis", "Softmax cannot normalize over the batch axis (0). "
                           f"Received: axis={self.axis}")

    def output_shape(self, input_shape):
        feature_axes(self.axis, len(input_shape), "Softmax")
        return input_shape

    def forward_train(self, params, x, rng):
        from seqcli import ops

        y = ops.softmax(x, axis=self.axis)
        return y, y

    def forward_masked(self, params, x, rng, mask, training=False):
        """Keras's Softmax with a mask broadcast to x: masked logits are -1e9, and the
        masked outputs 0 (a zero output passes no gradient: `backward` as unmasked)."""
        import numpy as np

        from seqcli import ops

        if mask.ndim > x.ndim or any(m not in (1, i) for m, i in
                                     zip(mask.shape[::-1], x.shape[::-1])):
            raise ValueError("The `mask` must be broadcastable to `inputs`. Each mask "
                             "dimension must be 1 or match the corresponding input dimension. "
                             f"Received: inputs.shape={x.shape}, mask.shape={mask.shape}")
        keep = np.broadcast_to(mask, x.shape)
        y = ops.softmax(np.where(keep, x, x.dtype.type(-1e9)), axis=self.axis)
        y = np.where(keep, y, 0).astype(x.dtype)
        return y, y, mask

    def keeps_mask(self) -> bool:
        return True

    def backward(self, params, cache, dy):
        from seqcli import ops

        return ops.softmax_grad(None, cache, dy, axis=self.axis), {}
