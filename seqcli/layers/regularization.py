"""Regularization layers: random in training (with the fit's seed), the identity at
inference; ActivityRegularization adds a loss term instead."""

from __future__ import annotations

import math

from seqcli.args import Float, Int, Optional, ShapeArg, arg
from seqcli.layers.base import (Layer, SpatialLayer, check_noise_shape, layer_class,
                                rank_family_class, require_rank)
from seqcli.layers.core import DATA_FORMAT, RandomInTraining
from seqcli.registry import register

RATE = Float(0.0, 1.0)


@layer_class
class _SpatialDropout(RandomInTraining, SpatialLayer):
    masking = "passes"  # a Dropout in Keras, so it keeps the mask
    def active(self):
        return self.rate > 0

    def output_shape(self, input_shape):
        require_rank(self, input_shape, self.rank + 2)
        return input_shape

    def noisy(self, x, rng):
        # one draw per (sample, channel): whole feature maps are dropped
        shape = self.join_shape(x.shape[0], [1] * self.rank, self.split_shape(x.shape)[1])
        keep = 1 - self.rate
        scale = (rng.random(shape) < keep).astype(x.dtype) / x.dtype.type(keep)
        return x * scale, scale


def _spatial(rank):
    fields = [("rate", float, arg(RATE, doc="fraction of feature maps dropped"))]
    if rank > 1:
        fields.append(("data_format", str, arg(DATA_FORMAT, default=None)))
    fields.append(("seed", int, arg(Optional(Int(0)), default=None)))
    return rank_family_class(f"SpatialDropout{rank}D", _SpatialDropout, rank, fields,
                             summary=f"Drops whole {rank}-D feature maps in training")


SpatialDropout1D, SpatialDropout2D, SpatialDropout3D = (_spatial(r) for r in (1, 2, 3))


@register
@layer_class
class GaussianNoise(RandomInTraining):
    masking = "passes"
    stddev: float = arg(Float(0.0, 1.0), doc="standard deviation of the added noise")
    seed: int | None = arg(Optional(Int(0)), default=None)

    positional = ("stddev", "seed")
    summary = "Adds zero-mean Gaussian noise in training"

    def active(self):
        return self.stddev > 0

    def noisy(self, x, rng):
        return x + rng.normal(0.0, self.stddev, x.shape).astype(x.dtype), None


@register
@layer_class
class GaussianDropout(RandomInTraining):
    masking = "passes"
    rate: float = arg(RATE, doc="drop probability the noise corresponds to")
    seed: int | None = arg(Optional(Int(0)), default=None)

    positional = ("rate", "seed")
    summary = "Multiplies by Gaussian noise of mean 1 in training"

    def active(self):
        return self.rate > 0

    def noisy(self, x, rng):
        stddev = math.sqrt(self.rate / (1.0 - self.rate))
        noise = rng.normal(1.0, stddev, x.shape).astype(x.dtype)
        return x * noise, noise


@register
@layer_class
class AlphaDropout(RandomInTraining):
    masking = "passes"
    rate: float = arg(RATE, doc="fraction of inputs dropped")
    noise_shape: tuple | None = arg(Optional(ShapeArg()), default=None)
    seed: int | None = arg(Optional(Int(0)), default=None)

    positional = ("rate", "noise_shape", "seed")
    summary = "Dropout that keeps SELU's mean and variance, in training"

    def active(self):
        return self.rate > 0

    def output_shape(self, input_shape):
        check_noise_shape(self.noise_shape, input_shape)
        return input_shape

    def noisy(self, x, rng):
        alpha_p = -1.6732632423543772848170429916717 * 1.0507009873554804934193349852946
        kept = (rng.random(self.noise_shape_for(x)) >= self.rate).astype(x.dtype)
        a = ((1 - self.rate) * (1 + self.rate * alpha_p ** 2)) ** -0.5
        b = -a * alpha_p * self.rate
        y = a * (x * kept + alpha_p * (1 - kept)) + b
        return y.astype(x.dtype), (a * kept).astype(x.dtype)


@register
@layer_class
class ActivityRegularization(Layer):
    masking = "passes"
    takes_activity_regularizer = False  # it is one: Keras sets it from l1 and l2
    l1: float = arg(Float(0.0), default=0.0, doc="weight of the sum of |x|")
    l2: float = arg(Float(0.0), default=0.0, doc="weight of the sum of x squared")

    positional = ("l1", "l2")
    summary = "The identity, adding (l1 * sum|x| + l2 * sum x^2) / batch size to the loss"

    def forward_train(self, params, x, rng):
        return x, None

    def activity_regularizer(self):  # Keras's layer is exactly this activity regularizer
        return {"L1L2": {"l1": self.l1, "l2": self.l2}} if self.l1 or self.l2 else None

    def backward(self, params, cache, dy):
        return dy, {}  # the model adds the term's gradient (penalty_gradient)
