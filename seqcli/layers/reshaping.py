"""Layers that move values around: Reshape, Permute, RepeatVector, Identity."""

from __future__ import annotations

import math

from seqcli.args import Int, ShapeArg, TargetShape, arg
from seqcli.errors import ArgError
from seqcli.layers.base import Layer, format_shape, layer_class, require_rank
from seqcli.registry import register


@register
@layer_class
class Identity(Layer):
    masking = "passes"
    summary = "Returns its input unchanged"

    def forward_train(self, params, x, rng):
        return x, None

    def backward(self, params, cache, dy):
        return dy, {}


@register
@layer_class
class Reshape(Layer):
    target_shape: tuple = arg(TargetShape(), doc="the new shape, batch excluded; one -1 inferred")

    positional = ("target_shape",)
    summary = "Reshapes each sample to target_shape (one -1 is inferred)"

    def output_shape(self, input_shape):
        rest = input_shape[1:]
        if None in rest:
            return (input_shape[0], *(None if d == -1 else d for d in self.target_shape))
        size, known = math.prod(rest), math.prod(d for d in self.target_shape if d != -1)
        if -1 not in self.target_shape:
            if size != known:
                raise ValueError("The total size of the tensor must be unchanged. Received: "
                                 f"input_shape={format_shape(rest)}, "
                                 f"target_shape={self.target_shape}")
            return (input_shape[0], *self.target_shape)
        if size % known:
            raise ValueError("The total size of the tensor must be unchanged, however, the "
                             "input size cannot by divided by the specified dimensions in "
                             f"target_shape. Received: input_shape={format_shape(rest)}, "
                             f"target_shape={self.target_shape}")
        return (input_shape[0], *(size // known if d == -1 else d for d in self.target_shape))

    def forward_train(self, params, x, rng):
        y = x.reshape(x.shape[0], *self.target_shape)
        return (x if y.shape == x.shape else y), x.shape  # as JAX: the same array, mask kept

    def backward(self, params, cache, dy):
        return dy.reshape(cache), {}


@register
@layer_class
class Permute(Layer):
    dims: tuple = arg(ShapeArg(), doc="a permutation of the axes 1..n (batch excluded)")

    positional = ("dims",)
    summary = "Permutes the non-batch axes (dims counts from 1)"

    def check(self):
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ArgError("dims", "Invalid permutation argument `dims` for Permute Layer. "
                           "The set of indices in `dims` must be consecutive and start from 1. "
                           f"Received dims={self.dims}")

    def output_shape(self, input_shape):
        require_rank(self, input_shape, len(self.dims) + 1)
        return (input_shape[0], *(input_shape[d] for d in self.dims))

    def forward_train(self, params, x, rng):
        if list(self.dims) == sorted(self.dims):  # as JAX: the same array, mask kept
            return x, None
        return x.transpose(0, *self.dims), None

    def backward(self, params, cache, dy):
        import numpy as np

        return dy.transpose(np.argsort((0, *self.dims))), {}


@register
@layer_class
class RepeatVector(Layer):
    n: int = arg(Int(1), doc="how many times to repeat")

    positional = ("n",)
    summary = "Repeats a (batch, features) input n times: (batch, n, features)"

    def output_shape(self, input_shape):
        require_rank(self, input_shape, 2)
        return (input_shape[0], self.n, input_shape[1])

    def forward_train(self, params, x, rng):
        import numpy as np

        return np.repeat(x[:, None, :], self.n, axis=1), None

    def backward(self, params, cache, dy):
        return dy.sum(axis=1), {}
