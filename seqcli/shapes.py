"""Shape arithmetic shared by layers (for summaries) and kernels; no numpy here."""

from __future__ import annotations


def conv_output_size(size, window, stride, padding, dilation=1):
    """One spatial output size of a convolution or pooling (None stays None), as Keras."""
    if size is None:
        return None
    if padding in ("same", "causal"):
        return (size - 1) // stride + 1
    return (size - dilation * (window - 1) - 1) // stride + 1


def conv_transpose_sizes(spatial, window, strides, padding, output_padding, dilation):
    """Keras's output sizes and the crops of the full result, per spatial axis."""
    sizes, crops = [], []
    for i, size in enumerate(spatial):
        k = (window[i] - 1) * dilation[i] + 1
        s = strides[i]
        extra = None if output_padding is None else output_padding[i]
        if padding == "valid":
            extra = max(k, s) - k if extra is None else extra
            left, right = k - 1, k - 1 + extra
        else:
            total = s + k - 2 if extra is None else k + k % 2 - 2 + extra
            left = min(total // 2 + total % 2, k - 1)
            right = total - left
        sizes.append((size - 1) * s + k + left + right - 2 * (k - 1))
        crops.append(((k - 1) - left, (k - 1) - right))
    return sizes, crops


def feature_axis(axis, rank, layer_name):
    """Where `axis` (negative counts from the end) lands in an input of `rank`; the
    batch axis is refused, as Keras's normalization and Softmax layers refuse it."""
    index = axis % rank if -rank <= axis < rank else None
    if index in (None, 0):
        raise ValueError(f"Invalid axis {axis} for {layer_name} on an input of rank "
                         f"{rank} (the batch axis cannot be used)")
    return index


def feature_axes(axis, rank, layer_name):
    """`feature_axis` for an `axis` argument that may be one axis or a tuple of them."""
    axes = axis if isinstance(axis, tuple) else (axis,)
    return tuple(feature_axis(a, rank, layer_name) for a in axes)
