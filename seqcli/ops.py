"""Numpy kernels shared by layers: activations, convolution, pooling.

Everything stays in the input's dtype (float32 for models): Python float
constants do not upcast arrays. Activations are written to be finite on large
inputs (no exp of a large positive number unless the math itself overflows).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

IM2COL_BYTES = 64 * 2**20  # patch-matrix budget per convolution chunk


# ---------------------------------------------------------------- activations

def linear(x):
    return x


def relu(x):
    return np.maximum(x, 0, dtype=x.dtype)


def relu6(x):
    return np.clip(x, 0, 6).astype(x.dtype, copy=False)


def leaky_relu(x, negative_slope=0.2):
    return np.where(x >= 0, x, x * negative_slope).astype(x.dtype, copy=False)


def sigmoid(x):
    # exp(-|x|) never overflows; pick the matching formula on each side of 0
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def tanh(x):
    return np.tanh(x)


def softplus(x):
    return np.logaddexp(x, 0).astype(x.dtype, copy=False)


def softsign(x):
    return x / (1 + np.abs(x))


def elu(x, alpha=1.0):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))).astype(x.dtype, copy=False)


def selu(x):
    alpha, scale = 1.6732632423543772, 1.0507009873554805
    return (scale * elu(x, alpha)).astype(x.dtype, copy=False)


def silu(x):
    return x * sigmoid(x)


def gelu(x):
    """Exact GELU (Keras's default, approximate=False): x * Phi(x)."""
    return (0.5 * x * (1 + erf(x / math.sqrt(2)))).astype(x.dtype, copy=False)


def erf(x):
    """erf to within ~1e-7 (Abramowitz & Stegun 7.1.26), computed in float64."""
    z = np.abs(np.asarray(x, dtype=np.float64))
    t = 1 / (1 + 0.3275911 * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741
                + t * (-1.453152027 + t * 1.061405429))))
    return np.sign(x) * (1 - poly * np.exp(-z * z))


def exponential(x):
    return np.exp(x)


def hard_sigmoid(x):
    return (relu6(x + 3) / 6).astype(x.dtype, copy=False)


def hard_silu(x):
    return x * hard_sigmoid(x)


def mish(x):
    return x * np.tanh(softplus(x))


def softmax(x, axis=-1):
    shifted = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(x, axis=-1):
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


# ---------------------------------------------------------------- padding

def same_padding(size: int, window: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's "same" padding: output ceil(size / stride), extra pad at the end."""
    effective = (window - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


def pad_spatial(x, pads, value=0.0):
    """Pad the spatial axes (1..n) of a channels-last array."""
    if not any(a or b for a, b in pads):
        return x
    return np.pad(x, [(0, 0), *pads, (0, 0)], constant_values=value)


# ---------------------------------------------------------------- convolution

CONV_BLOCK_BYTES = 2 * 2**20  # a patch block small enough to stay in cache for its matmul


def conv2d(x, kernel, strides, padding, dilation, groups=1, bias=None):
    """2-D convolution, channels-last: x (N, H, W, C), kernel (kh, kw, C/groups, F),
    plus bias (F,) when given.

    im2col in cache-sized blocks: each block of patches is copied into one reused
    buffer and multiplied while still in cache, straight into the output. The bias
    rides in the same matrix product (a column of ones against a row of biases).
    """
    kh, kw, _, filters = kernel.shape
    if padding == "same":
        pads = [same_padding(x.shape[1], kh, strides[0], dilation[0]),
                same_padding(x.shape[2], kw, strides[1], dilation[1])]
        x = pad_spatial(x, pads)
    x = np.ascontiguousarray(x)
    n, h, w, c = x.shape
    out_h = (h - (kh - 1) * dilation[0] - 1) // strides[0] + 1
    out_w = (w - (kw - 1) * dilation[1] - 1) // strides[1] + 1
    out = np.empty((n, out_h, out_w, filters), dtype=x.dtype)
    row_bytes = out_w * kh * kw * c * x.itemsize
    if out_h * row_bytes <= CONV_BLOCK_BYTES:  # whole images per block
        images = max(1, min(n, CONV_BLOCK_BYTES // (out_h * row_bytes)))
        block = _Block(images * out_h * out_w, kernel, groups, bias)
        for start in range(0, n, images):
            patches = _patches(x[start:start + images], (kh, kw), strides, dilation,
                               (out_h, out_w))
            block.multiply(patches, out[start:start + images])
        return out
    rows = max(1, CONV_BLOCK_BYTES // row_bytes)  # else runs of output rows of one image
    block = _Block(rows * out_w, kernel, groups, bias)
    for i in range(n):
        for top in range(0, out_h, rows):
            count = min(rows, out_h - top)
            window = x[i:i + 1, top * strides[0]:]
            patches = _patches(window, (kh, kw), strides, dilation, (count, out_w))
            block.multiply(patches, out[i:i + 1, top:top + count])
    return out


class _Block:
    """A reused patch buffer and the kernel as a matrix; with a bias, the buffer has
    a last column of ones and the matrix a last row of biases."""

    def __init__(self, rows, kernel, groups, bias):
        kh, kw, cg, filters = kernel.shape
        self.kernel, self.groups = kernel, groups
        self.width = kh * kw * cg * groups
        extra = 0 if bias is None or groups != 1 else 1
        self.buffer = np.empty((rows, self.width + extra), dtype=kernel.dtype)
        self.matrix = kernel.reshape(self.width // groups, filters)
        if extra:
            self.buffer[:, -1] = 1
            self.matrix = np.concatenate([self.matrix, bias[None, :].astype(kernel.dtype)])
        self.bias = bias if not extra else None  # still to add after the product

    def multiply(self, patches, out):
        """out (b, rows, cols, F) = patches (b, rows, cols, kh, kw, C) @ kernel (+ bias)."""
        size = patches.shape[0] * patches.shape[1] * patches.shape[2]
        np.copyto(self.buffer[:size, :self.width].reshape(patches.shape), patches)
        target = out.reshape(-1, out.shape[-1])
        if self.groups == 1:
            np.matmul(self.buffer[:size], self.matrix, out=target)
        else:
            _grouped_block(self.buffer[:size, :self.width], self.kernel, self.groups, target)
        if self.bias is not None:
            target += self.bias


def _grouped_block(cols, kernel, groups, target):
    kh, kw, cg, filters = kernel.shape
    fg = filters // groups
    blocks = cols.reshape(len(cols), kh * kw, groups, cg)
    for g in range(groups):
        part = blocks[:, :, g, :].reshape(len(cols), kh * kw * cg)
        target[:, g * fg:(g + 1) * fg] = part @ kernel[..., g * fg:(g + 1) * fg].reshape(-1, fg)


def _patches(x, window, strides, dilation, out_hw):
    """A (N, out_h, out_w, kh, kw, C) view of every receptive field (no copy)."""
    sn, sh, sw, sc = x.strides
    shape = (x.shape[0], *out_hw, *window, x.shape[3])
    view_strides = (sn, sh * strides[0], sw * strides[1], sh * dilation[0], sw * dilation[1], sc)
    return as_strided(x, shape=shape, strides=view_strides, writeable=False)


# ---------------------------------------------------------------- pooling

def _pool_windows(spatial, pool, strides):
    """Index tuples of each window offset over channels-last (N, *spatial, C) data."""
    import itertools

    out = [(size - window) // stride + 1 for size, window, stride in zip(spatial, pool, strides)]
    for offset in itertools.product(*(range(window) for window in pool)):
        yield (slice(None), *(slice(o, o + (n - 1) * s + 1, s)
                              for o, n, s in zip(offset, out, strides)), slice(None))


def _pool_pads(x, pool, strides, padding):
    if padding != "same":
        return [(0, 0)] * len(pool)
    return [same_padding(size, window, stride)
            for size, window, stride in zip(x.shape[1:-1], pool, strides)]


def pool(x, pool_size, strides, padding, mode):
    """Max or average pooling over the spatial axes of channels-last (N, *spatial, C) data.
    "same" averages count only real (not padded) values, as Keras does."""
    pads = _pool_pads(x, pool_size, strides, padding)
    fill = -np.inf if mode == "max" else 0.0
    xp = pad_spatial(x, pads, value=fill)
    result = None
    for window in _pool_windows(xp.shape[1:-1], pool_size, strides):
        if result is None:
            result = xp[window].copy()
        elif mode == "max":
            np.maximum(result, xp[window], out=result)
        else:
            result += xp[window]
    if mode == "average":
        result /= _window_counts(x, pool_size, strides, pads)
    return result


def _window_counts(x, pool_size, strides, pads):
    """How many real values each window holds (only "same" padding makes it vary)."""
    if not any(a or b for a, b in pads):
        return x.dtype.type(np.prod(pool_size))
    ones = pad_spatial(np.ones((1, *x.shape[1:-1], 1), dtype=x.dtype), pads)
    counts = None
    for window in _pool_windows(ones.shape[1:-1], pool_size, strides):
        counts = ones[window].copy() if counts is None else counts + ones[window]
    return counts


def pool_backward(x, dy, pool_size, strides, padding, mode):
    """dx of `pool`: max routes each gradient to its window's first maximum; average
    spreads it over the window's real values."""
    pads = _pool_pads(x, pool_size, strides, padding)
    xp = pad_spatial(x, pads, value=-np.inf if mode == "max" else 0.0)
    windows = list(_pool_windows(xp.shape[1:-1], pool_size, strides))
    dxp = np.zeros_like(xp)
    if mode == "average":
        share = dy / _window_counts(x, pool_size, strides, pads)
        for window in windows:
            dxp[window] += share
    else:
        best = np.full(dy.shape, -np.inf, dtype=x.dtype)
        winner = np.zeros(dy.shape, dtype=np.int32)
        for k, window in enumerate(windows):
            better = xp[window] > best  # strict: the first maximum keeps the gradient
            best = np.where(better, xp[window], best)
            winner[better] = k
        for k, window in enumerate(windows):
            dxp[window] += np.where(winner == k, dy, 0)
    crop = (slice(None), *(slice(a, a + size) for (a, _), size in zip(pads, x.shape[1:-1])),
            slice(None))
    return dxp[crop]


def to_channels_last(x):
    return np.moveaxis(x, 1, -1)  # works for any rank: (N, C, *spatial) -> (N, *spatial, C)


def to_channels_first(x):
    return np.moveaxis(x, -1, 1)


# ---------------------------------------------------------------- activation gradients
# Each takes the pre-activation z, the output y and the upstream gradient dy, and
# returns dL/dz. Kinks follow JAX's choices (relu'(0) = 0, leaky_relu'(0) = 1).

def linear_grad(z, y, dy):
    return dy


def relu_grad(z, y, dy):
    return dy * (z > 0)


def relu6_grad(z, y, dy):
    return dy * ((z > 0) & (z < 6))


def leaky_relu_grad(z, y, dy, negative_slope=0.2):
    return (dy * np.where(z >= 0, 1, negative_slope)).astype(dy.dtype, copy=False)


def sigmoid_grad(z, y, dy):
    return dy * y * (1 - y)


def tanh_grad(z, y, dy):
    return dy * (1 - y * y)


def softplus_grad(z, y, dy):
    return dy * sigmoid(z)


def softsign_grad(z, y, dy):
    return dy / (1 + np.abs(z)) ** 2


def elu_grad(z, y, dy, alpha=1.0):
    return (dy * np.where(z > 0, 1, y + alpha)).astype(dy.dtype, copy=False)


def selu_grad(z, y, dy):
    alpha, scale = 1.6732632423543772, 1.0507009873554805
    return (dy * np.where(z > 0, scale, y + scale * alpha)).astype(dy.dtype, copy=False)


def silu_grad(z, y, dy):
    s = sigmoid(z)
    return dy * (s + z * s * (1 - s))


def gelu_grad(z, y, dy):
    cdf = 0.5 * (1 + erf(z / math.sqrt(2)))
    pdf = np.exp(-0.5 * np.asarray(z, dtype=np.float64) ** 2) / math.sqrt(2 * math.pi)
    return (dy * (cdf + z * pdf)).astype(dy.dtype, copy=False)


def exponential_grad(z, y, dy):
    return dy * y


def hard_sigmoid_grad(z, y, dy):
    return dy * ((z > -3) & (z < 3)) / 6


def hard_silu_grad(z, y, dy):
    return dy * (hard_sigmoid(z) + z * ((z > -3) & (z < 3)) / 6)


def mish_grad(z, y, dy):
    t = np.tanh(softplus(z))
    return dy * (t + z * (1 - t * t) * sigmoid(z))


def softmax_grad(z, y, dy, axis=-1):
    return y * (dy - np.sum(dy * y, axis=axis, keepdims=True))


def log_softmax_grad(z, y, dy, axis=-1):
    return dy - np.exp(y) * np.sum(dy, axis=axis, keepdims=True)


# ---------------------------------------------------------------- backward kernels

def conv2d_backward(x, kernel, dy, strides, padding, dilation, groups=1):
    """Gradients (dx, dkernel) of conv2d, channels-last, by col2im on the same views."""
    kh, kw, _, filters = kernel.shape
    pads = [(0, 0), (0, 0)]
    if padding == "same":
        pads = [same_padding(x.shape[1], kh, strides[0], dilation[0]),
                same_padding(x.shape[2], kw, strides[1], dilation[1])]
    xp = pad_spatial(x, pads)
    n, _, _, c = xp.shape
    out_h, out_w = dy.shape[1:3]
    dxp = np.zeros_like(xp)
    dkernel = np.zeros_like(kernel)
    cg, fg = c // groups, filters // groups
    chunk = max(1, IM2COL_BYTES // max(out_h * out_w * kh * kw * c * x.itemsize, 1))
    for start in range(0, n, chunk):
        part = np.ascontiguousarray(xp[start:start + chunk])
        patches = _patches(part, (kh, kw), strides, dilation, (out_h, out_w))
        rows = part.shape[0] * out_h * out_w
        for g in range(groups):
            cols = patches[..., g * cg:(g + 1) * cg].reshape(rows, kh * kw * cg)
            grad = dy[start:start + chunk, ..., g * fg:(g + 1) * fg].reshape(rows, fg)
            dkernel[..., g * fg:(g + 1) * fg] += (cols.T @ grad).reshape(kh, kw, cg, fg)
            k = kernel[..., g * fg:(g + 1) * fg].reshape(kh * kw * cg, fg)
            dcols = (grad @ k.T).reshape(part.shape[0], out_h, out_w, kh, kw, cg)
            _col2im(dxp[start:start + chunk, ..., g * cg:(g + 1) * cg], dcols, strides, dilation)
    (top, _), (left, _) = pads
    return dxp[:, top:top + x.shape[1], left:left + x.shape[2], :], dkernel


def _col2im(dx, dcols, strides, dilation):
    """Add each window offset's gradient back onto the positions it read."""
    out_h, out_w, kh, kw = dcols.shape[1:5]
    for i in range(kh):
        for j in range(kw):
            top, left = i * dilation[0], j * dilation[1]
            dx[:, top:top + (out_h - 1) * strides[0] + 1:strides[0],
               left:left + (out_w - 1) * strides[1] + 1:strides[1], :] += dcols[:, :, :, i, j, :]


# ---------------------------------------------------------------- resizing

def _linear_taps(size: int, factor: int):
    """For each output position of a whole-factor upscale: two source indices and the
    second one's weight (half-pixel centres, edges clamped, as jax.image.resize)."""
    centres = (np.arange(size * factor) + 0.5) / factor - 0.5
    low = np.floor(centres).astype(np.int64)
    weight = (centres - low).astype(np.float32)
    return np.clip(low, 0, size - 1), np.clip(low + 1, 0, size - 1), weight


def resize_bilinear(x, factors):
    """Bilinear upscaling of channels-last (N, H, W, C) by whole factors."""
    for axis, factor in zip((1, 2), factors):
        low, high, weight = _linear_taps(x.shape[axis], factor)
        shape = [1] * x.ndim
        shape[axis] = -1
        weight = weight.reshape(shape).astype(x.dtype)
        x = np.take(x, low, axis=axis) * (1 - weight) + np.take(x, high, axis=axis) * weight
    return x


def resize_bilinear_backward(dy, factors):
    """The transpose of resize_bilinear: each output's gradient back to its two taps."""
    for axis, factor in zip((2, 1), factors[::-1]):
        size = dy.shape[axis] // factor
        low, high, weight = _linear_taps(size, factor)
        shape = [1] * dy.ndim
        shape[axis] = -1
        weight = weight.reshape(shape).astype(dy.dtype)
        moved = np.moveaxis(dy, axis, 0)
        out = np.zeros((size, *moved.shape[1:]), dtype=dy.dtype)
        np.add.at(out, low, np.moveaxis(dy * (1 - weight), axis, 0))
        np.add.at(out, high, np.moveaxis(dy * weight, axis, 0))
        dy = np.moveaxis(out, 0, axis)
    return dy
