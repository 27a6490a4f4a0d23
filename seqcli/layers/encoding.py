"""Category layers on numbers: Discretization (values -> bin indices) and
CategoryEncoding (indices -> one-hot, multi-hot or count vectors), as Keras 3 encodes
them. Their outputs are indices or counts: no gradient flows back through them."""

from __future__ import annotations

from seqcli.args import Bool, Choice, Float, Int, Optional, arg
from seqcli.errors import ArgError, SeqcliError
from seqcli.layers.base import Layer, format_shape, layer_class
from seqcli.registry import register

MODES = ("int", "one_hot", "multi_hot", "count")


class Boundaries:
    """Ascending bin boundaries: a list of numbers."""

    describe = "list of ascending numbers"

    def __call__(self, name, value):
        numbers = isinstance(value, (list, tuple)) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        if not numbers or any(b < a for a, b in zip(value, value[1:])):
            raise ArgError(name, f"`{name}` must be a list of numbers in ascending order. "
                           f"Received: {name}={value!r}")
        return tuple(float(v) for v in value)


def encoded_shape(input_shape, mode, depth, reduce_axis_one):
    """Keras's compute_output_shape of the one_hot/multi_hot/count encodings."""
    if mode == "one_hot":
        squeeze = len(input_shape) > 1 and input_shape[-1] == 1
        return (*(input_shape[:-1] if squeeze else input_shape), depth)
    if reduce_axis_one:  # Discretization: axis 1 is the one summed over
        return (input_shape[0], *input_shape[2:], depth)
    return (*input_shape[:-1], depth)


def encode(indices, mode, depth, dtype):
    """Keras's encode_categorical_inputs: multi_hot and count reduce axis 1."""
    import numpy as np

    if mode == "int":
        return indices.astype(dtype)
    if mode == "one_hot" and indices.ndim > 1 and indices.shape[-1] == 1:
        indices = indices[..., 0]
    one_hot = (indices[..., None] == np.arange(depth)).astype(dtype)
    if mode == "one_hot":
        return one_hot
    axis = 1 if indices.ndim > 1 else 0
    return one_hot.max(axis=axis) if mode == "multi_hot" else one_hot.sum(axis=axis)


class _Encoding(Layer):
    """No gradient: the inputs are categories (zeros go back, as for Embedding)."""

    def backward(self, params, cache, dy):
        import numpy as np

        return np.zeros(cache, dtype=dy.dtype), {}


@register
@layer_class
class Discretization(_Encoding):
    bin_boundaries: tuple | None = arg(Optional(Boundaries()), default=None,
                                       doc="bin edges: bin i holds edges[i-1] <= x < edges[i]")
    num_bins: int | None = arg(Optional(Int(0)), default=None,
                               doc="bins to learn with `seqcli adapt` (quantiles)")
    epsilon: float = arg(Float(0.0), default=0.01, doc="quantile error tolerance of adapt")
    output_mode: str = arg(Choice(*MODES), default="int")
    sparse: bool = arg(Bool(), default=False, doc="must be false (dense outputs only)")

    takes_activity_regularizer = False
    positional = ("bin_boundaries", "num_bins", "epsilon", "output_mode", "sparse")
    summary = "Buckets values into bins (index, one-hot, multi-hot or counts)"

    def check(self):
        if self.sparse:
            raise ArgError("sparse", "`sparse=True` cannot be used: seqcli's outputs are "
                           "dense arrays (Keras's JAX backend has no sparse outputs here either)")
        if self.bin_boundaries is None and self.num_bins is None:
            raise ArgError("num_bins", "You need to set either `num_bins` or `bin_boundaries`.")

    @property
    def depth(self) -> int:
        return self.num_bins if self.bin_boundaries is None else len(self.bin_boundaries) + 1

    def output_shape(self, input_shape):
        if self.output_mode == "int":
            return input_shape
        if self.output_mode != "one_hot" and len(input_shape) < 2:
            raise ValueError(f"Discretization output_mode={self.output_mode!r} needs inputs "
                             f"of rank >= 2; received {format_shape(input_shape)}")
        return encoded_shape(input_shape, self.output_mode, self.depth, reduce_axis_one=True)

    def forward_train(self, params, x, rng):
        import numpy as np

        if self.bin_boundaries is None:
            raise SeqcliError(f"layer {self.name!r} (Discretization) has num_bins but no "
                              "bin_boundaries: learn them from data with `seqcli adapt`, "
                              "or give bin_boundaries")
        indices = np.digitize(x, np.asarray(self.bin_boundaries, dtype=x.dtype))
        return encode(indices, self.output_mode, self.depth, x.dtype), x.shape


@register
@layer_class
class CategoryEncoding(_Encoding):
    num_tokens: int = arg(Int(1), doc="number of categories: inputs are 0 .. num_tokens - 1")
    output_mode: str = arg(Choice("one_hot", "multi_hot", "count", "binary"),
                           default="multi_hot", doc="binary is Keras's old name of multi_hot")
    sparse: bool = arg(Bool(), default=False, doc="must be false (dense outputs only)")

    takes_activity_regularizer = False
    positional = ("num_tokens", "output_mode", "sparse")
    summary = "Encodes integer categories as one-hot, multi-hot or count vectors"

    def check(self):
        if self.sparse:
            raise ArgError("sparse", "`sparse=True` cannot be used: seqcli's outputs are "
                           "dense arrays")

    @property
    def mode(self) -> str:
        return "multi_hot" if self.output_mode == "binary" else self.output_mode

    def output_shape(self, input_shape):
        if self.mode != "one_hot" and len(input_shape) != 2:
            # Keras sums over axis 1 but declares the last axis gone: they agree at rank 2
            raise ValueError(f"CategoryEncoding output_mode={self.mode!r} takes inputs of "
                             f"shape (batch, tokens); received {format_shape(input_shape)}")
        return encoded_shape(input_shape, self.mode, self.num_tokens, reduce_axis_one=False)

    def forward_train(self, params, x, rng):
        import numpy as np

        indices = x.astype(np.int64)
        if indices.size and (not np.array_equal(indices, x) or indices.min() < 0
                             or indices.max() >= self.num_tokens):
            raise SeqcliError(f"layer {self.name!r} (CategoryEncoding): inputs must be whole "
                              f"numbers from 0 to {self.num_tokens - 1} "
                              f"(num_tokens={self.num_tokens})")
        return encode(indices, self.mode, self.num_tokens, x.dtype), x.shape
