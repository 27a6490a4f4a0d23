"""Masking: marks the steps whose features all equal `mask_value`; later layers that use
Keras's masks (the RNNs, GlobalAveragePooling1D, Softmax...) skip them."""

from __future__ import annotations

from seqcli.args import Float, arg
from seqcli.layers.base import Layer, layer_class
from seqcli.registry import register


@register
@layer_class
class Masking(Layer):
    mask_value: float = arg(Float(), default=0.0, doc="a step whose features all equal "
                            "this is masked (and its output zeroed)")

    masking = "passes"  # Keras's supports_masking; the mask it makes replaces any other
    makes_mask = True
    positional = ("mask_value",)
    summary = "Masks the steps whose features all equal mask_value (later layers skip them)"

    def output_shape(self, input_shape):
        if len(input_shape) < 2:
            raise ValueError("Masking needs inputs of rank >= 2 (batch, ..., features); "
                             f"received input_shape={tuple(input_shape)}")
        return input_shape

    def make_mask(self, x):
        """Keras's compute_mask: True where any feature differs from mask_value."""
        import numpy as np

        return np.any(x != x.dtype.type(self.mask_value), axis=-1)

    def forward_train(self, params, x, rng):
        import numpy as np

        keep = self.make_mask(x)[..., None]
        # masked steps become +0.0, as Keras's ops.where(mask, x, 0) makes them (x * 0
        # would keep the sign of a negative mask_value's -0.0)
        return np.where(keep, x, x.dtype.type(0)), keep

    def backward(self, params, cache, dy):
        return dy * cache, {}
