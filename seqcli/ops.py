"""Numpy kernels shared by layers: activations, convolution, pooling.

Everything stays in the input's dtype (float32 for models): Python float
constants do not upcast arrays. Activations are written to be finite on large
inputs (no exp of a large positive number unless the math itself overflows).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from seqcli.shapes import conv_transpose_sizes

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


def column_sums(flat):
    """The sums down the columns of a 2-D array, as a product with a vector of ones: on a
    tall, narrow array (a convolution's bias gradient over every position) BLAS does it
    about ten times faster than numpy's sum along axis 0, and more accurately."""
    return np.ones(len(flat), dtype=flat.dtype) @ flat


# ---------------------------------------------------------------- convolution

CONV_BLOCK_BYTES = 2 * 2**20  # a patch block small enough to stay in cache for its matmul
# the runs of samples conv_backward splits a large batch into, whatever the cores (4
# shares evenly among 2 or 4): a split per core would make the kernel gradient's
# rounding, and so the trained weights, depend on the machine. Fewer, longer runs make
# larger products: 12 runs of 3 samples made the small CNN's second convolution's
# gradient take a third longer than 4 runs of 8 (benchmarks/)
GRAD_RUNS = 4


def conv_pads(spatial, window, strides, padding, dilation):
    """(before, after) per spatial axis for "valid", "same" (TensorFlow's) or "causal"."""
    if padding == "same":
        return [same_padding(size, k, s, d)
                for size, k, s, d in zip(spatial, window, strides, dilation)]
    if padding == "causal":  # 1-D: everything before, so no step sees the future
        return [((window[0] - 1) * dilation[0], 0)]
    return [(0, 0)] * len(window)


def conv_output_sizes(spatial, window, strides, dilation):
    return [(size - (k - 1) * d - 1) // s + 1
            for size, k, s, d in zip(spatial, window, strides, dilation)]


def conv(x, kernel, strides, padding, dilation, groups=1, bias=None, relu=False):
    """Convolution over the spatial axes of channels-last x (N, *spatial, C), kernel
    (*window, C/groups, F), plus bias (F,) when given, then ReLU in place if `relu`
    (each block as soon as it is made, while in cache: a pass of its own over a large
    output costs a tenth of the product); 1-D to 3-D.

    im2col in cache-sized blocks: each block of patches is copied into a reused buffer
    and multiplied while still in cache, straight into the output. The bias rides in
    the same matrix product (a column of ones against a row of biases). The blocks are
    shared out among the cores, each thread with its own buffer and BLAS on one thread:
    the patch copy is single-threaded work that BLAS's own threads would not share.
    """
    from seqcli.threads import run_split

    window, filters = kernel.shape[:-2], kernel.shape[-1]
    x = np.ascontiguousarray(pad_spatial(x, conv_pads(x.shape[1:-1], window, strides,
                                                      padding, dilation)))
    n, c = x.shape[0], x.shape[-1]
    out_sizes = conv_output_sizes(x.shape[1:-1], window, strides, dilation)
    out = np.empty((n, *out_sizes, filters), dtype=x.dtype)
    row_bytes = int(np.prod(out_sizes[1:])) * int(np.prod(window)) * c * x.itemsize
    if out_sizes[0] * row_bytes <= CONV_BLOCK_BYTES:  # whole samples per block
        images = max(1, min(n, CONV_BLOCK_BYTES // max(out_sizes[0] * row_bytes, 1)))
        rows, tasks = images * int(np.prod(out_sizes)), [
            (x[start:start + images], out_sizes, out[start:start + images])
            for start in range(0, n, images)]
    else:  # else runs along the first spatial axis
        count = max(1, CONV_BLOCK_BYTES // row_bytes)
        rows, tasks = count * int(np.prod(out_sizes[1:])), [
            (x[i:i + 1, top * strides[0]:], (min(count, out_sizes[0] - top), *out_sizes[1:]),
             out[i:i + 1, top:top + count])
            for i in range(n) for top in range(0, out_sizes[0], count)]

    def work(part):
        block = _Block(rows, kernel, groups, bias)
        for source, sizes, target in part:
            block.multiply(patches(source, window, strides, dilation, sizes), target)
            if relu:
                np.maximum(target, 0, out=target)

    # a small convolution is not worth a thread's start
    run_split(tasks, work, parts=1 if out.nbytes + rows * row_bytes < 2**20 else None)
    return out


class _Block:
    """A reused patch buffer and the kernel as a matrix; with a bias, the buffer has
    a last column of ones and the matrix a last row of biases."""

    def __init__(self, rows, kernel, groups, bias):
        filters = kernel.shape[-1]
        self.kernel, self.groups = kernel, groups
        self.width = int(np.prod(kernel.shape[:-1])) * groups
        extra = 0 if bias is None or groups != 1 else 1
        self.buffer = np.empty((rows, self.width + extra), dtype=kernel.dtype)
        self.matrix = kernel.reshape(self.width // groups, filters)
        if extra:
            self.buffer[:, -1] = 1
            self.matrix = np.concatenate([self.matrix, bias[None, :].astype(kernel.dtype)])
        self.bias = bias if not extra else None  # still to add after the product

    def multiply(self, view, out):
        """out (b, *out_sizes, F) = patches (b, *out_sizes, *window, C) @ kernel (+ bias)."""
        size = int(np.prod(out.shape[:-1]))
        np.copyto(self.buffer[:size, :self.width].reshape(view.shape), view)
        target = out.reshape(-1, out.shape[-1])
        if self.groups == 1:
            np.matmul(self.buffer[:size], self.matrix, out=target)
        else:
            grouped_matmul(self.buffer[:size, :self.width], self.kernel, self.groups, target)
        if self.bias is not None:
            target += self.bias


def grouped_matmul(cols, kernel, groups, target):
    """target = cols @ kernel one channel group at a time (cols: (rows, *window, C))."""
    cg, filters = kernel.shape[-2], kernel.shape[-1]
    fg, taps = filters // groups, int(np.prod(kernel.shape[:-2]))
    blocks = cols.reshape(len(cols), taps, groups, cg)
    for g in range(groups):
        part = blocks[:, :, g, :].reshape(len(cols), taps * cg)
        target[:, g * fg:(g + 1) * fg] = part @ kernel[..., g * fg:(g + 1) * fg].reshape(-1, fg)


def patches(x, window, strides, dilation, out_sizes):
    """A (N, *out_sizes, *window, C) view of every receptive field (no copy)."""
    spatial_strides = x.strides[1:-1]
    shape = (x.shape[0], *out_sizes, *window, x.shape[-1])
    view_strides = (x.strides[0], *(st * s for st, s in zip(spatial_strides, strides)),
                    *(st * d for st, d in zip(spatial_strides, dilation)), x.strides[-1])
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
    "same" averages count only real (not padded) values, as Keras does. Runs of samples
    are shared out among the cores."""
    from seqcli.threads import cores, run_split

    pads = _pool_pads(x, pool_size, strides, padding)
    xp = pad_spatial(x, pads, value=-np.inf if mode == "max" else 0.0)
    out_sizes = [(size - window) // stride + 1
                 for size, window, stride in zip(xp.shape[1:-1], pool_size, strides)]
    result = np.empty((x.shape[0], *out_sizes, x.shape[-1]), dtype=x.dtype)
    pooled = _max_pool if mode == "max" else _sum_pool
    per_part = max(1, -(-len(xp) // cores()))
    starts = list(range(0, len(xp), per_part))

    def work(part):
        for start in part:
            pooled(xp[start:start + per_part], pool_size, strides,
                   result[start:start + per_part])

    run_split(starts, work, parts=1 if xp.nbytes < 2**20 else None)
    if mode == "average":
        result /= _window_counts(x, pool_size, strides, pads)
    return result


def _max_pool(xp, pool_size, strides, out):
    """Max over one spatial axis at a time (exact in any order): a 3x3 window is 2 + 2
    maxima over views instead of 8, and the first axis's views read whole rows."""
    current = xp
    for axis, (window, stride, size) in enumerate(zip(pool_size, strides, out.shape[1:-1]),
                                                 start=1):
        def offset(o):
            index = [slice(None)] * current.ndim
            index[axis] = slice(o, o + (size - 1) * stride + 1, stride)
            return current[tuple(index)]

        last = axis == out.ndim - 2
        reduced = out if last else np.empty(offset(0).shape, dtype=xp.dtype)
        np.copyto(reduced, offset(0))
        for o in range(1, window):
            np.maximum(reduced, offset(o), out=reduced)
        current = reduced


def _sum_pool(xp, pool_size, strides, out):
    """The window sums, window offset by offset (the order the rounding comes from)."""
    for number, window in enumerate(_pool_windows(xp.shape[1:-1], pool_size, strides)):
        if number == 0:
            np.copyto(out, xp[window])
        else:
            out += xp[window]


def _window_counts(x, pool_size, strides, pads):
    """How many real values each window holds (only "same" padding makes it vary)."""
    if not any(a or b for a, b in pads):
        return x.dtype.type(np.prod(pool_size))
    ones = pad_spatial(np.ones((1, *x.shape[1:-1], 1), dtype=x.dtype), pads)
    counts = None
    for window in _pool_windows(ones.shape[1:-1], pool_size, strides):
        counts = ones[window].copy() if counts is None else counts + ones[window]
    return counts


def pool_backward(x, dy, pool_size, strides, padding, mode, pooled=None):
    """dx of `pool`: max routes each gradient to its window's first maximum; average
    spreads it over the window's real values. `pooled`, the forward's output, spares
    max pooling finding the maxima again."""
    pads = _pool_pads(x, pool_size, strides, padding)
    xp = pad_spatial(x, pads, value=-np.inf if mode == "max" else 0.0)
    windows = list(_pool_windows(xp.shape[1:-1], pool_size, strides))
    dxp = np.zeros(xp.shape, xp.dtype)
    if mode == "average":
        share = dy / _window_counts(x, pool_size, strides, pads)
        for window in windows:
            dxp[window] += share
    elif tuple(strides) == tuple(pool_size):
        _max_tiles_backward(xp, dy, pool_size, dxp, pooled)
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


def _max_tiles_backward(xp, dy, pool_size, dxp, pooled=None):
    """Max pooling's gradient where the windows tile the input (strides == pool_size):
    the input seen as (n, o1, p1, o2, p2, ..., c), so each window offset is a plain
    view; offsets in scan order, each takes the gradient where it holds the maximum
    and no earlier offset did (the first maximum, as elsewhere). Runs of samples are
    shared out among the cores."""
    import itertools

    from seqcli.threads import cores, run_split

    out = dy.shape[1:-1]
    whole = (slice(None), *(slice(0, o * p) for o, p in zip(out, pool_size)), slice(None))
    split = [*(size for o, p in zip(out, pool_size) for size in (o, p)), xp.shape[-1]]
    views = [(slice(None), *(i for o in offset for i in (slice(None), o)), slice(None))
             for offset in itertools.product(*(range(p) for p in pool_size))]
    per_part = max(1, -(-len(xp) // cores()))

    def work(part):
        for start in part:
            span = slice(start, start + per_part)
            source = xp[span][whole].reshape(-1, *split)
            target = dxp[span][whole]
            # every position lies in exactly one window, so each is written below; where
            # the windows cover the whole input, straight into dxp
            direct = target.flags.c_contiguous
            routed = target.reshape(source.shape) if direct else np.empty_like(source)
            best = pooled[span] if pooled is not None else _maximum(source, views)
            free = np.ones(best.shape, dtype=bool)
            for number, view in enumerate(views):
                hit = source[view] == best
                hit &= free
                if number < len(views) - 1:
                    free ^= hit
                np.multiply(dy[span], hit, out=routed[view])
            if not direct:
                target[...] = routed.reshape(target.shape)

    run_split(list(range(0, len(xp), per_part)), work,
              parts=1 if xp.nbytes < 2**20 else None)


def _maximum(source, views):
    best = source[views[0]].copy()
    for view in views[1:]:
        np.maximum(best, source[view], out=best)
    return best


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

def conv_backward(x, kernel, dy, strides, padding, dilation, groups=1, input_grad=True):
    """Gradients (dx, dkernel) of `conv`, by col2im on the same patch views; dx is None
    without `input_grad` (a model's first layer: nothing needs the data's gradient).
    Runs of samples are shared out among the cores. Each run has its own dkernel and
    they are summed in order; the runs depend on the shapes only, never on the cores, so
    the rounding (and so `fit`'s weights) is the same on any machine."""
    from seqcli.threads import run_split, single_blas

    window = kernel.shape[:-2]
    pads = conv_pads(x.shape[1:-1], window, strides, padding, dilation)
    xp = np.ascontiguousarray(pad_spatial(x, pads))
    dxp = np.zeros(xp.shape, xp.dtype) if input_grad else None
    per_sample = int(np.prod(dy.shape[1:-1])) * int(np.prod(window)) * xp.shape[-1] * x.itemsize
    chunk = max(1, 16 * CONV_BLOCK_BYTES // max(per_sample, 1))
    if per_sample * len(xp) >= 2**20:  # enough work to share: GRAD_RUNS runs at most
        chunk = min(chunk, -(-len(xp) // GRAD_RUNS))
    starts = list(range(0, len(xp), chunk))
    partial = {}  # first sample -> that run's dkernel

    def work(part):
        for start in part:
            span = slice(start, start + chunk)
            partial[start] = np.zeros_like(kernel)
            dcols = _conv_grads(xp[span], kernel, dy[span], strides, dilation, groups,
                                partial[start], input_grad)
            if input_grad:
                col2im(dxp[span], dcols, strides, dilation)

    with single_blas():  # on one core too: BLAS's own threads would round differently
        run_split(starts, work)
    dkernel = sum(partial[key] for key in sorted(partial))
    if not input_grad:
        return None, dkernel
    return dxp[_crop_slices(pads, x.shape[1:-1])], dkernel


def _conv_grads(part, kernel, dy, strides, dilation, groups, dkernel, input_grad):
    """Adds this run of samples' kernel gradient to dkernel; returns the gradient of its
    patches (N, *out_sizes, *window, C) when the input's gradient is wanted."""
    window, filters = kernel.shape[:-2], kernel.shape[-1]
    out_sizes, c = dy.shape[1:-1], part.shape[-1]
    cg, fg, taps = c // groups, filters // groups, int(np.prod(window))
    rows = part.shape[0] * int(np.prod(out_sizes))
    cols = np.ascontiguousarray(patches(part, window, strides, dilation, out_sizes))
    cols = cols.reshape(rows, taps, groups, cg)
    grad = dy.reshape(rows, filters)
    if groups == 1:  # one product each way, no per-group copies
        dkernel += (cols.reshape(rows, -1).T @ grad).reshape(kernel.shape)
        dcols = grad @ kernel.reshape(-1, filters).T if input_grad else None
    else:
        dcols = np.empty((rows, taps, groups, cg), dtype=part.dtype) if input_grad else None
        for g in range(groups):
            part_grad = grad[:, g * fg:(g + 1) * fg]
            dkernel[..., g * fg:(g + 1) * fg] += (
                cols[:, :, g, :].reshape(rows, -1).T @ part_grad).reshape(*window, cg, fg)
            if input_grad:
                k = kernel[..., g * fg:(g + 1) * fg].reshape(taps * cg, fg)
                dcols[:, :, g, :] = (part_grad @ k.T).reshape(rows, taps, cg)
    return None if dcols is None else dcols.reshape(part.shape[0], *out_sizes, *window, c)


def col2im(target, cols, strides, dilation):
    """Add every window offset's values back onto the positions it covers:
    target (N, *spatial, C) += cols (N, *out_sizes, *window, C), the adjoint of patches."""
    import itertools

    rank = target.ndim - 2
    out_sizes, window = cols.shape[1:1 + rank], cols.shape[1 + rank:1 + 2 * rank]
    for offset in itertools.product(*(range(k) for k in window)):
        where = (slice(None), *(slice(o * d, o * d + (n - 1) * s + 1, s) for o, d, n, s
                                in zip(offset, dilation, out_sizes, strides)), slice(None))
        target[where] += cols[(slice(None),) * (1 + rank) + offset]


def _crop_slices(pads, spatial):
    return (slice(None), *(slice(a, a + size) for (a, _), size in zip(pads, spatial)),
            slice(None))


# ---------------------------------------------------------------- transposed convolution

def _transpose_layout(x, window, strides, padding, output_padding, dilation):
    """(full shape, kept window) of a transposed convolution: every input position
    spreads over a full buffer of (n - 1) * stride + reach values per axis (longer
    where Keras's padding leaves zeros past the end), and Keras keeps a window of it."""
    spatial = x.shape[1:-1]
    sizes, crops = conv_transpose_sizes(spatial, window, strides, padding, output_padding,
                                        dilation)
    full = [(n - 1) * s + (k - 1) * d + 1 + max(-right, 0) for n, s, k, d, (_, right)
            in zip(spatial, strides, window, dilation, crops)]
    keep = (slice(None), *(slice(left, left + size) for (left, _), size in zip(crops, sizes)),
            slice(None))
    return full, keep


def conv_transpose(x, kernel, strides, padding, output_padding, dilation, bias=None):
    """Transposed convolution: x (N, *spatial, C_in), kernel (*window, F, C_in), the
    adjoint of `conv` (each input position spreads x @ W over its window)."""
    window, filters = kernel.shape[:-2], kernel.shape[-2]
    full, keep = _transpose_layout(x, window, strides, padding, output_padding, dilation)
    out = np.zeros((x.shape[0], *full, filters), dtype=x.dtype)
    taps = int(np.prod(window))
    cols = x.reshape(-1, x.shape[-1]) @ kernel.reshape(taps * filters, -1).T
    col2im(out, cols.reshape(x.shape[0], *x.shape[1:-1], *window, filters), strides, dilation)
    y = np.ascontiguousarray(out[keep])
    if bias is not None:
        y += bias
    return y


def conv_transpose_backward(x, kernel, dy, strides, padding, output_padding, dilation):
    """(dx, dkernel) of conv_transpose: the gradient gathered back through each window."""
    window, filters = kernel.shape[:-2], kernel.shape[-2]
    spatial = x.shape[1:-1]
    full, keep = _transpose_layout(x, window, strides, padding, output_padding, dilation)
    dfull = np.zeros((dy.shape[0], *full, filters), dtype=dy.dtype)
    dfull[keep] = dy
    view = patches(np.ascontiguousarray(dfull), window, strides, dilation, spatial)
    taps = int(np.prod(window))
    cols = np.ascontiguousarray(view).reshape(-1, taps * filters)
    flat_x = x.reshape(-1, x.shape[-1])
    dx = (cols @ kernel.reshape(taps * filters, -1)).reshape(x.shape)
    dkernel = (cols.T @ flat_x).reshape(kernel.shape)
    return dx, dkernel


# ---------------------------------------------------------------- resizing

def _taps(size: int, out: int, method: str):
    """For each output position along one axis: source indices and weights, as
    jax.image.resize computes them without antialiasing (half-pixel centres; linear
    clamps at the edges, nearest takes the pixel under the centre)."""
    centres = (np.arange(out) + 0.5) * size / out
    if method == "nearest":
        index = np.clip(np.floor(centres).astype(np.int64), 0, size - 1)
        return [(index, np.ones(out, dtype=np.float32))]
    centres = centres - 0.5
    low = np.floor(centres).astype(np.int64)
    weight = (centres - low).astype(np.float32)
    return [(np.clip(low, 0, size - 1), 1 - weight), (np.clip(low + 1, 0, size - 1), weight)]


def resize(x, sizes, method="bilinear"):
    """Resize the spatial axes of channels-last (N, *spatial, C) data to `sizes`."""
    for axis, out in enumerate(sizes, start=1):
        shape = [1] * x.ndim
        shape[axis] = -1
        x = sum(np.take(x, index, axis=axis) * weight.reshape(shape).astype(x.dtype)
                for index, weight in _taps(x.shape[axis], out, method))
    return x


def resize_backward(dy, in_sizes, method="bilinear"):
    """The transpose of `resize`: each output's gradient back onto its source taps."""
    for axis in reversed(range(1, len(in_sizes) + 1)):
        size = in_sizes[axis - 1]
        shape = [1] * dy.ndim
        shape[axis] = -1
        moved_out = np.zeros((size, *np.moveaxis(dy, axis, 0).shape[1:]), dtype=dy.dtype)
        for index, weight in _taps(size, dy.shape[axis], method):
            np.add.at(moved_out, index,
                      np.moveaxis(dy * weight.reshape(shape).astype(dy.dtype), axis, 0))
        dy = np.moveaxis(moved_out, 0, axis)
    return dy
