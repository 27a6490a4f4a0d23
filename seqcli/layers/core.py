"""Core layers: Input, Dense, Activation, Dropout, Flatten."""

from __future__ import annotations

import math
from typing import ClassVar

from seqcli import activations
from seqcli.args import (ActivationArg, Bool, Choice, Float, InitializerArg, Int, LayerName,
                         Optional, ShapeArg, arg)
from seqcli.layers.base import Layer, WeightSpec, check_noise_shape, format_shape, layer_class
from seqcli.registry import register

DATA_FORMAT = Optional(Choice("channels_last", "channels_first"))


@register
@layer_class
class Input(Layer):
    """Not a layer: it declares the input shape and never shows in a summary."""

    shape: tuple = arg(ShapeArg(), doc="one sample's shape, batch excluded")
    batch_size: int | None = arg(Optional(Int(1)), default=None, doc="fixed batch size")
    name: str | None = arg(Optional(LayerName()), default=None, doc="the input's name")

    is_input: ClassVar[bool] = True
    takes_activity_regularizer = False
    positional = ("shape", "batch_size", "dtype", "sparse", "batch_shape", "name")
    summary = "Declares the input shape (it is not a layer and never shows in a summary)"


@register
@layer_class
class Dense(Layer):
    masking = "passes"
    weight_args = {"kernel": "kernel", "bias": "bias"}
    units: int = arg(Int(1), doc="output size")
    activation: str | None = arg(ActivationArg(), default=None, doc="applied to the output")
    use_bias: bool = arg(Bool(), default=True, doc="add a bias vector")
    kernel_initializer: object = arg(InitializerArg(), default="glorot_uniform")
    bias_initializer: object = arg(InitializerArg(), default="zeros")

    positional = ("units", "activation", "use_bias", "kernel_initializer", "bias_initializer")
    summary = "Densely connected layer: activation(x @ kernel + bias) on the last axis"
    weights_doc = "kernel (input_dim, units), bias (units,) if use_bias"

    def output_shape(self, input_shape):
        self._input_dim(input_shape)
        return (*input_shape[:-1], self.units)

    def weight_specs(self, input_shape):
        specs = [WeightSpec("kernel", (self._input_dim(input_shape), self.units),
                            self.kernel_initializer)]
        if self.use_bias:
            specs.append(WeightSpec("bias", (self.units,), self.bias_initializer))
        return specs

    def forward(self, params, x):
        z = x @ params["kernel"]
        if self.use_bias:
            z += params["bias"]
        return activations.apply_in_place(self.activation, z)  # z is not kept at inference

    def forward_train(self, params, x, rng):
        z = x @ params["kernel"]
        if self.use_bias:
            z += params["bias"]
        y = activations.get(self.activation)(z)
        return y, (x, z, y)

    def backward(self, params, cache, dy):
        x, z, y = cache
        dz = activations.gradient(self.activation)(z, y, dy)
        flat_dz = dz.reshape(-1, self.units)
        grads = {"kernel": x.reshape(-1, x.shape[-1]).T @ flat_dz}
        if self.use_bias:
            grads["bias"] = flat_dz.sum(axis=0)
        return dz @ params["kernel"].T, grads

    def _input_dim(self, input_shape) -> int:
        if len(input_shape) < 2:
            raise ValueError(f"Dense needs inputs of rank >= 2 (batch, ..., features); "
                             f"received input_shape={format_shape(input_shape)}")
        if input_shape[-1] is None:
            raise ValueError("The last dimension of the inputs to a Dense layer should be "
                             f"defined. Found None. Full input shape received: "
                             f"{format_shape(input_shape)}")
        return input_shape[-1]


@register
@layer_class
class Activation(Layer):
    masking = "passes"
    activation: str | None = arg(ActivationArg(), doc="activation name")

    positional = ("activation",)
    summary = "Applies an activation function"

    def forward_train(self, params, x, rng):
        y = activations.get(self.activation)(x)
        return y, (x, y)

    def backward(self, params, cache, dy):
        x, y = cache
        return activations.gradient(self.activation)(x, y, dy), {}


@layer_class
class RandomInTraining(Layer):
    """Random in training (the fit's random stream drives it), the identity at inference,
    and when training runs without randomness (rng None) or the layer is inactive."""

    def forward(self, params, x):
        return x

    def forward_train(self, params, x, rng):
        if rng is None or not self.active():
            return x, None
        return self.noisy(x, rng)  # (output, the factor x was multiplied by, or None)

    def backward(self, params, cache, dy):
        return (dy if cache is None else dy * cache), {}

    def noise_shape_for(self, x) -> tuple:
        """Keras's noise_shape, None entries taking the input's sizes."""
        if self.noise_shape is None:
            return x.shape
        return tuple(x.shape[i] if size is None else size
                     for i, size in enumerate(self.noise_shape))


@register
@layer_class
class Dropout(RandomInTraining):
    masking = "passes"
    rate: float = arg(Float(0.0, 1.0), doc="fraction of inputs dropped in training")
    noise_shape: list | None = arg(Optional(ShapeArg()), default=None)
    seed: int | None = arg(Optional(Int(0)), default=None)

    positional = ("rate", "noise_shape", "seed")
    summary = "Randomly zeroes inputs during training; the identity at inference"

    def output_shape(self, input_shape):
        check_noise_shape(self.noise_shape, input_shape)
        return input_shape

    def active(self):
        return self.rate > 0

    def noisy(self, x, rng):
        # Keras: keep each value with probability 1 - rate and scale it by 1 / (1 - rate)
        keep = 1 - self.rate
        scale = (rng.random(self.noise_shape_for(x)) < keep).astype(x.dtype) / x.dtype.type(keep)
        return x * scale, scale


@register
@layer_class
class Flatten(Layer):
    data_format: str | None = arg(DATA_FORMAT, default=None)

    positional = ("data_format",)
    summary = "Flattens every axis but the batch axis"

    def output_shape(self, input_shape):
        rest = input_shape[1:]
        size = None if None in rest else math.prod(rest)
        return (input_shape[0], size)

    def forward_train(self, params, x, rng):
        shape = x.shape
        if self._moves_channels(x.ndim):
            # Keras flattens in channels-last order whatever the data format
            import numpy as np
            x = np.moveaxis(x, 1, -1)
        return x.reshape(x.shape[0], -1), shape

    def backward(self, params, cache, dy):
        shape = cache
        if not self._moves_channels(len(shape)):
            return dy.reshape(shape), {}
        import numpy as np
        moved = (shape[0], *shape[2:], shape[1])
        return np.moveaxis(dy.reshape(moved), -1, 1), {}

    def _moves_channels(self, ndim: int) -> bool:
        return self.data_format == "channels_first" and ndim > 2


@register
@layer_class
class Embedding(Layer):
    weight_args = {"embeddings": "embeddings"}
    input_dim: int = arg(Int(1), doc="vocabulary size: indices are 0 .. input_dim - 1")
    output_dim: int = arg(Int(1), doc="size of each embedding vector")
    embeddings_initializer: object = arg(InitializerArg(), default="uniform")
    mask_zero: bool = arg(Bool(), default=False, doc="index 0 is padding: later layers "
                          "that support masks skip it (RNNs, GlobalAveragePooling1D)")

    positional = ("input_dim", "output_dim", "embeddings_initializer", "embeddings_regularizer",
                  "embeddings_constraint", "mask_zero")

    @property
    def makes_mask(self) -> bool:  # index 0 is padding: Keras's mask starts here
        return self.mask_zero
    summary = "Turns integer indices into dense vectors (a learned lookup table)"
    weights_doc = "embeddings (input_dim, output_dim)"

    def output_shape(self, input_shape):
        return (*input_shape, self.output_dim)

    def weight_specs(self, input_shape):
        return [WeightSpec("embeddings", (self.input_dim, self.output_dim),
                           self.embeddings_initializer)]

    def forward_train(self, params, x, rng):
        indices = self._indices(x)
        return params["embeddings"][indices], (x.shape, indices)

    def backward(self, params, cache, dy):
        import numpy as np

        shape, indices = cache
        grad = np.zeros_like(params["embeddings"])
        np.add.at(grad, indices.reshape(-1), dy.reshape(-1, self.output_dim))
        return np.zeros(shape, dtype=dy.dtype), {"embeddings": grad}  # indices have no gradient

    def _indices(self, x):
        import numpy as np

        from seqcli.errors import SeqcliError

        indices = x.astype(np.int64)
        if indices.size and (not np.array_equal(indices, x) or indices.min() < 0
                             or indices.max() >= self.input_dim):
            raise SeqcliError(f"layer {self.name!r} (Embedding): inputs must be whole numbers "
                              f"from 0 to {self.input_dim - 1} (input_dim={self.input_dim})")
        return indices
