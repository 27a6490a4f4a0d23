"""Normalization: BatchNormalization, LayerNormalization, GroupNormalization,
UnitNormalization, with Keras's formulas (biased variance, epsilon inside the root)."""

from __future__ import annotations

from seqcli.args import Axes, Bool, Float, InitializerArg, Int, arg
from seqcli.errors import ArgError
from seqcli.layers.base import Layer, WeightSpec, format_shape, layer_class
from seqcli.registry import register
from seqcli.shapes import feature_axes, feature_axis


def _normalize(x, axes, gamma, beta, epsilon, weights=None):
    """(y, cache) for y = (x - mean) / sqrt(var + eps) * gamma + beta over `axes`; with
    0/1 `weights` (a Keras mask), the statistics are those of the weighted entries, as
    Keras's masked moments: sums over (count + 1e-7)."""
    import numpy as np

    if weights is None:
        mean = x.mean(axis=axes, keepdims=True)
        variance = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
        count = None
    else:
        count = weights.sum(axis=axes, keepdims=True) + x.dtype.type(1e-7)
        mean = (x * weights).sum(axis=axes, keepdims=True) / count
        variance = (weights * (x - mean) ** 2).sum(axis=axes, keepdims=True) / count
    inv = 1 / np.sqrt(variance + x.dtype.type(epsilon))
    xhat = (x - mean) * inv
    y = xhat * gamma if gamma is not None else xhat
    return (y + beta if beta is not None else y), (xhat, inv, mean, variance, weights, count)


def _normalize_backward(dy, cache, axes, gamma):
    """dx of _normalize, with the statistics computed from x itself."""
    xhat, inv, _, _, weights, count = cache
    dxhat = dy * gamma if gamma is not None else dy
    if weights is None:
        return inv * (dxhat - dxhat.mean(axis=axes, keepdims=True)
                      - xhat * (dxhat * xhat).mean(axis=axes, keepdims=True))
    # through the weighted mean and variance: dvar = dL/dvar, dmean = dL/dmean
    centered = xhat / inv
    dvar = -0.5 * inv ** 2 * (dxhat * xhat).sum(axis=axes, keepdims=True)
    dmean = -inv * dxhat.sum(axis=axes, keepdims=True) \
        - 2 * dvar * (weights * centered).sum(axis=axes, keepdims=True) / count
    return dxhat * inv + weights * (dmean + 2 * dvar * centered) / count


@layer_class
class _Normalization(Layer):
    weight_args = {"gamma": "gamma", "beta": "beta"}

    @property
    def has_gamma(self) -> bool:
        return self.scale

    @property
    def has_beta(self) -> bool:
        return self.center

    def _broadcast(self, input_shape):
        """The shape gamma and beta broadcast as: 1 except on the normalized-per axes."""
        raise NotImplementedError

    def _param_shape(self, input_shape):
        return tuple(d for d in self._broadcast(input_shape) if d != 1) or (1,)

    def _weights(self, params, input_shape):
        shape = self._broadcast(input_shape)
        gamma = params["gamma"].reshape(shape) if self.has_gamma else None
        beta = params["beta"].reshape(shape) if self.has_beta else None
        return gamma, beta

    def _grads(self, dy, xhat, params, input_shape):
        shape = self._broadcast(input_shape)
        axes = tuple(i for i, size in enumerate(shape) if size == 1)
        grads = {}
        if self.has_gamma:
            grads["gamma"] = (dy * xhat).sum(axis=axes).reshape(params["gamma"].shape)
        if self.has_beta:
            grads["beta"] = dy.sum(axis=axes).reshape(params["beta"].shape)
        return grads

    def _specs(self, input_shape, extra=()):
        shape = self._param_shape(input_shape)
        specs = []
        if self.has_gamma:
            specs.append(WeightSpec("gamma", shape, self.gamma_initializer))
        if self.has_beta:
            specs.append(WeightSpec("beta", shape, self.beta_initializer))
        return specs + list(extra)


@register
@layer_class
class BatchNormalization(_Normalization):
    masking = "uses"  # in training, a mask leaves the masked steps out of the statistics
    axis: int = arg(Int(None), default=-1, doc="the features axis")
    momentum: float = arg(Float(0.0, 1.0), default=0.99, doc="moving statistics decay")
    epsilon: float = arg(Float(0.0), default=1e-3)
    center: bool = arg(Bool(), default=True, doc="learn beta")
    scale: bool = arg(Bool(), default=True, doc="learn gamma")
    beta_initializer: object = arg(InitializerArg(), default="zeros")
    gamma_initializer: object = arg(InitializerArg(), default="ones")
    moving_mean_initializer: object = arg(InitializerArg(), default="zeros")
    moving_variance_initializer: object = arg(InitializerArg(), default="ones")

    aliases = ()
    positional = ("axis", "momentum", "epsilon", "center", "scale", "beta_initializer",
                  "gamma_initializer", "moving_mean_initializer", "moving_variance_initializer")
    summary = ("Normalizes with batch statistics in training and moving statistics at "
               "inference (a frozen layer always uses the moving ones)")
    weights_doc = ("gamma, beta (features,); moving_mean, moving_variance (features,), "
                   "never trainable")

    def _broadcast(self, input_shape):
        index = feature_axis(self.axis, len(input_shape), type(self).__name__)
        return tuple(d if i == index else 1 for i, d in enumerate(input_shape))

    def output_shape(self, input_shape):
        index = feature_axis(self.axis, len(input_shape), type(self).__name__)
        if input_shape[index] is None:
            raise ValueError(f"Axis {self.axis} of the input to BatchNormalization should have "
                             f"a defined size; received {format_shape(input_shape)}")
        return input_shape

    def weight_specs(self, input_shape):
        self.output_shape(input_shape)
        shape = self._param_shape(input_shape)
        return self._specs(input_shape, [
            WeightSpec("moving_mean", shape, self.moving_mean_initializer, trainable=False),
            WeightSpec("moving_variance", shape, self.moving_variance_initializer,
                       trainable=False)])

    def forward(self, params, x):
        return self._inference(params, x)[0]

    def forward_train(self, params, x, rng, weights=None):
        if not self.trainable:  # Keras: a frozen BatchNormalization runs in inference mode
            return self._inference(params, x)
        gamma, beta = self._weights(params, x.shape)
        axes = tuple(i for i, size in enumerate(self._broadcast(x.shape)) if size == 1)
        y, cache = _normalize(x, axes, gamma, beta, self.epsilon, weights)
        # the moving statistics move by Keras's rule; the training loop applies them
        momentum = x.dtype.type(self.momentum)
        moved = {name: params[name] * momentum + value.reshape(params[name].shape) * (1 - momentum)
                 for name, value in (("moving_mean", cache[2]), ("moving_variance", cache[3]))}
        return y, ("batch", cache, x.shape, moved)

    def forward_masked(self, params, x, rng, mask, training=False):
        """Keras's mask (one dimension less than x) weighs the training statistics."""
        import numpy as np

        if mask.ndim != x.ndim - 1:
            raise ValueError("The mask provided should be one dimension less than the inputs. "
                             f"Received: mask.shape={mask.shape}, inputs.shape={x.shape}")
        if not training:
            return (*self._inference(params, x), mask)
        weights = np.broadcast_to(mask[..., None], x.shape).astype(x.dtype)
        return (*self.forward_train(params, x, rng, weights), mask)

    def keeps_mask(self) -> bool:
        return True

    def updates(self, cache):
        return cache[3] if cache[0] == "batch" else {}

    def _inference(self, params, x):
        import numpy as np

        shape = self._broadcast(x.shape)
        gamma, beta = self._weights(params, x.shape)
        mean = params["moving_mean"].reshape(shape)
        inv = 1 / np.sqrt(params["moving_variance"].reshape(shape) + x.dtype.type(self.epsilon))
        xhat = (x - mean) * inv
        y = xhat * gamma if gamma is not None else xhat
        return (y + beta if beta is not None else y), ("moving", (xhat, inv), x.shape)

    def backward(self, params, cache, dy):
        mode, stats, shape = cache[:3]
        gamma, _ = self._weights(params, shape)
        axes = tuple(i for i, size in enumerate(self._broadcast(shape)) if size == 1)
        if mode == "moving":
            xhat, inv = stats
            dx = dy * inv * (gamma if gamma is not None else 1)
        else:
            xhat = stats[0]
            dx = _normalize_backward(dy, stats, axes, gamma)
        return dx, self._grads(dy, xhat, params, shape)


@register
@layer_class
class LayerNormalization(_Normalization):
    masking = "passes"
    axis: object = arg(Axes(), default=-1, doc="axis or axes to normalize over")
    epsilon: float = arg(Float(0.0), default=1e-3)
    center: bool = arg(Bool(), default=True)
    scale: bool = arg(Bool(), default=True)
    rms_scaling: bool = arg(Bool(), default=False, doc="deprecated in Keras: x / sqrt(var)")
    beta_initializer: object = arg(InitializerArg(), default="zeros")
    gamma_initializer: object = arg(InitializerArg(), default="ones")

    positional = ("axis", "epsilon", "center", "scale", "rms_scaling", "beta_initializer",
                  "gamma_initializer")
    summary = "Normalizes each sample over its last axis (or the given axes)"
    weights_doc = "gamma, beta (the sizes of the normalized axes)"

    def _axes(self, ndim):
        return tuple(sorted(feature_axes(self.axis, ndim, type(self).__name__)))

    def _broadcast(self, input_shape):
        axes = self._axes(len(input_shape))
        return tuple(d if i in axes else 1 for i, d in enumerate(input_shape))

    def _param_shape(self, input_shape):
        return tuple(input_shape[i] for i in self._axes(len(input_shape)))

    def output_shape(self, input_shape):
        if any(input_shape[i] is None for i in self._axes(len(input_shape))):
            raise ValueError("LayerNormalization needs the normalized axes defined; received "
                             f"input_shape={format_shape(input_shape)}")
        return input_shape

    @property
    def has_gamma(self) -> bool:  # Keras: gamma with scale or rms_scaling, beta never with it
        return self.scale or self.rms_scaling

    @property
    def has_beta(self) -> bool:
        return self.center and not self.rms_scaling

    def weight_specs(self, input_shape):
        self.output_shape(input_shape)
        return self._specs(input_shape)

    def forward_train(self, params, x, rng):
        import numpy as np

        axes = self._axes(x.ndim)
        gamma, beta = self._weights(params, x.shape)
        if self.rms_scaling:  # Keras's (deprecated) rms_scaling: x / sqrt(var + eps) * gamma
            variance = x.var(axis=axes, keepdims=True)
            inv = 1 / np.sqrt(variance + x.dtype.type(self.epsilon))
            y = x * inv
            return (y * gamma if gamma is not None else y), ("rms", x, inv)
        y, cache = _normalize(x, axes, gamma, beta, self.epsilon)
        return y, ("moments", cache, x.shape)

    def backward(self, params, cache, dy):
        if cache[0] == "rms":
            return self._rms_backward(params, cache, dy)
        _, stats, shape = cache
        axes = self._axes(len(shape))
        gamma, _ = self._weights(params, shape)
        return _normalize_backward(dy, stats, axes, gamma), self._grads(dy, stats[0], params,
                                                                         shape)

    def _rms_backward(self, params, cache, dy):
        _, x, inv = cache
        axes = self._axes(x.ndim)
        gamma, _ = self._weights(params, x.shape)
        g = dy * gamma if gamma is not None else dy
        centred = x - x.mean(axis=axes, keepdims=True)
        count = x.size // inv.size
        dx = g * inv - centred * inv ** 3 * (g * x).sum(axis=axes, keepdims=True) / count
        return dx, self._grads(dy, x * inv, params, x.shape)


@register
@layer_class
class GroupNormalization(_Normalization):
    masking = "passes"
    groups: int = arg(Int(-1), default=32, doc="channel groups (-1: one per channel)")
    axis: int = arg(Int(None), default=-1, doc="the channels axis")
    epsilon: float = arg(Float(0.0), default=1e-3)
    center: bool = arg(Bool(), default=True)
    scale: bool = arg(Bool(), default=True)
    beta_initializer: object = arg(InitializerArg(), default="zeros")
    gamma_initializer: object = arg(InitializerArg(), default="ones")

    positional = ("groups", "axis", "epsilon", "center", "scale", "beta_initializer",
                  "gamma_initializer")
    summary = "Normalizes each sample over groups of channels"
    weights_doc = "gamma, beta (channels,)"

    def check(self):
        if self.groups == 0:
            raise ArgError("groups", "`groups` must be a positive integer or -1. "
                           f"Received: groups={self.groups}")

    def _groups(self, channels):
        return channels if self.groups == -1 else self.groups

    def _broadcast(self, input_shape):
        index = feature_axis(self.axis, len(input_shape), type(self).__name__)
        return tuple(d if i == index else 1 for i, d in enumerate(input_shape))

    def output_shape(self, input_shape):
        index = feature_axis(self.axis, len(input_shape), type(self).__name__)
        channels = input_shape[index]
        if channels is None:
            raise ValueError(f"Axis {self.axis} of the input should have a defined size; "
                             f"received {format_shape(input_shape)}")
        groups = self._groups(channels)
        if groups > channels:
            raise ValueError(f"Number of groups ({groups}) cannot be more than the number of "
                             f"channels ({channels}).")
        if channels % groups:
            raise ValueError(f"Number of groups ({groups}) must be a multiple of the number "
                             f"of channels ({channels}).")
        return input_shape

    def weight_specs(self, input_shape):
        self.output_shape(input_shape)
        return self._specs(input_shape)

    def _grouped(self, x):
        index = feature_axis(self.axis, x.ndim, type(self).__name__)
        groups = self._groups(x.shape[index])
        shape = (*x.shape[:index], groups, x.shape[index] // groups, *x.shape[index + 1:])
        axes = tuple(i for i in range(1, len(shape)) if i != index)
        return x.reshape(shape), axes

    def forward_train(self, params, x, rng):
        grouped, axes = self._grouped(x)
        y, cache = _normalize(grouped, axes, None, None, self.epsilon)
        y = y.reshape(x.shape)
        gamma, beta = self._weights(params, x.shape)
        if gamma is not None:
            y = y * gamma
        if beta is not None:
            y = y + beta
        return y, (cache, x.shape)

    def backward(self, params, cache, dy):
        stats, shape = cache
        gamma, _ = self._weights(params, shape)
        xhat = stats[0].reshape(shape)
        grads = self._grads(dy, xhat, params, shape)
        dxhat = dy * gamma if gamma is not None else dy
        grouped, axes = self._grouped(dxhat)
        return _normalize_backward(grouped, stats, axes, None).reshape(shape), grads


@register
@layer_class
class UnitNormalization(Layer):
    masking = "passes"
    axis: object = arg(Axes(), default=-1, doc="axis or axes to normalize over")

    positional = ("axis",)
    summary = "Scales each sample to unit L2 norm over the axis"

    def _axes(self, ndim):
        return feature_axes(self.axis, ndim, type(self).__name__)

    def output_shape(self, input_shape):
        self._axes(len(input_shape))
        return input_shape

    def forward_train(self, params, x, rng):
        import numpy as np

        axes = self._axes(x.ndim)
        square_sum = (x * x).sum(axis=axes, keepdims=True)
        with np.errstate(divide="ignore"):
            inv = np.minimum(1 / np.sqrt(square_sum), x.dtype.type(1e12))  # Keras's cap
        return x * inv, (x, inv, square_sum)

    def backward(self, params, cache, dy):
        x, inv, square_sum = cache
        axes = self._axes(x.ndim)
        capped = inv >= 1e12  # where the norm is under 1e-12 the scale is a constant
        dot = (dy * x).sum(axis=axes, keepdims=True)
        dx = dy * inv - x * inv ** 3 * dot * ~capped
        return dx, {}
