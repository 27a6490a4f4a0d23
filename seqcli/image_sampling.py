"""Keras 3's affine image transform (keras.ops.image.affine_transform on JAX), in numpy:
each output pixel samples the input at a point the 8-number transform gives, by
jax.scipy.ndimage.map_coordinates' rules (nearest or bilinear; fill modes reflect, wrap,
constant, nearest), and the transpose of that sampling for the gradient.

A transform [a0, a1, a2, b0, b1, b2, c0, c1] maps output (row, col) to input
(b0*col + b1*row + b2, a0*col + a1*row + a2); c0 and c1 are zero for every Keras layer
that uses it (JAX's affine_transform ignores them)."""

from __future__ import annotations

import numpy as np

FILL_MODES = ("reflect", "wrap", "constant", "nearest")
INTERPOLATIONS = ("nearest", "bilinear")


def coordinates(transforms, height: int, width: int):
    """(rows, cols), each (N, height, width) float32, as JAX's einsum computes them."""
    t = np.asarray(transforms, dtype=np.float32).reshape(-1, 8)
    row = np.arange(height, dtype=np.float32)[None, :, None]
    col = np.arange(width, dtype=np.float32)[None, None, :]
    a0, a1, a2, b0, b1, b2 = (t[:, k, None, None] for k in range(6))
    return (row * b1 + col * b0) + b2, (row * a1 + col * a0) + a2


def _mirror(index, size):
    s = size - 1
    return np.abs((index + s) % (2 * s) - s)


def _fix(index, size, mode):
    """JAX's index fixers: where an index outside the image reads from."""
    if mode == "nearest":
        return np.clip(index, 0, size - 1)
    if mode == "wrap":
        return index % size
    if mode == "reflect":
        return (_mirror(2 * index + 1, 2 * size + 1) - 1) // 2
    if mode == "mirror":
        return _mirror(index, size) if size > 1 else np.zeros_like(index)
    return index  # constant: out-of-range taps read the fill value instead


def _nodes(coordinate, interpolation):
    """[(integer index, weight)] along one axis."""
    if interpolation == "nearest":  # lax.round: halves away from zero
        index = (np.sign(coordinate) * np.floor(np.abs(coordinate) + 0.5)).astype(np.int64)
        return [(index, np.float32(1.0))]
    lower = np.floor(coordinate)
    upper_weight = coordinate - lower
    index = lower.astype(np.int64)
    return [(index, 1 - upper_weight), (index + 1, upper_weight)]


def plan(shape, transforms, interpolation: str, fill_mode: str):
    """The taps of a transform on channels-last images of `shape` (N, H, W, C):
    [(flat pixel index, weight, valid)], each (N, H, W)."""
    rows, cols = coordinates(transforms, *shape[1:3])
    return plan_at(shape, rows, cols, interpolation, fill_mode)


def plan_at(shape, rows, cols, interpolation: str, fill_mode: str):
    """The taps that read each output pixel from input point (rows, cols)."""
    n, height, width = shape[:3]
    rows, cols = (np.broadcast_to(a, (n, height, width)) for a in (rows, cols))
    batch = np.arange(n).reshape(n, 1, 1) * (height * width)
    taps = []
    for r, r_weight in _nodes(rows, interpolation):
        for c, c_weight in _nodes(cols, interpolation):
            valid = (fill_mode != "constant") | ((r >= 0) & (r < height) & (c >= 0) & (c < width))
            flat = batch + _fix(r, height, fill_mode) * width + _fix(c, width, fill_mode)
            taps.append((np.where(valid, flat, 0), (r_weight * c_weight).astype(np.float32),
                         np.broadcast_to(valid, flat.shape)))
    return taps


def sample(x, taps, fill_value: float):
    """The transformed images: the taps' weighted sum, in JAX's order."""
    pixels = x.reshape(-1, x.shape[-1])
    fill = x.dtype.type(fill_value)
    y = None
    for flat, weight, valid in taps:
        value = np.where(valid[..., None], pixels[flat], fill)
        term = weight.astype(x.dtype)[..., None] * value
        y = term if y is None else y + term
    return y


def sample_backward(dy, taps, shape):
    """dL/dx of `sample`: each output's gradient back onto the pixels it read."""
    dx = np.zeros((shape[0] * shape[1] * shape[2], shape[3]), dtype=dy.dtype)
    for flat, weight, valid in taps:
        contribution = dy * (weight.astype(dy.dtype) * valid)[..., None]
        np.add.at(dx, flat.reshape(-1), contribution.reshape(-1, shape[3]))
    return dx.reshape(shape)


def affine_matrix(angle, translate_x, translate_y, scale, shear_x, shear_y, height, width):
    """Keras's _compute_affine_matrix (centre 0.5, 0.5; angles in degrees), float32:
    one [a0, a1, a2, b0, b1, b2, 0, 0] row per image."""
    f32 = np.float32
    radian = f32(np.pi / 180.0)
    angle, shear_x, shear_y = (np.asarray(a, f32) * radian for a in (angle, shear_x, shear_y))
    translate_x, translate_y, scale = (np.asarray(a, f32) for a in (translate_x, translate_y,
                                                                     scale))
    cx, cy = f32(0.5) * (f32(width) - 1), f32(0.5) * (f32(height) - 1)
    cos, sin = np.cos(angle), np.sin(angle)
    shear_x, shear_y = np.tan(shear_x), np.tan(shear_y)
    a0 = scale * (cos + shear_x * sin)
    a1 = scale * (-sin + shear_x * cos)
    a2 = translate_x + cx - cx * a0 - cy * a1
    b0 = scale * (shear_y * cos + sin)
    b1 = scale * (shear_y * -sin + cos)
    b2 = translate_y + cy - cx * b0 - cy * b1
    zeros = np.zeros_like(a0)
    return np.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=-1).astype(f32)


def homography(start_points, end_points):
    """Keras's compute_homography_matrix: the 8 numbers mapping output points (end) to
    input points (start), per image, solved in float64 and kept in float32."""
    start = np.asarray(start_points, np.float64)
    end = np.asarray(end_points, np.float64)
    sx, sy, ex, ey = start[..., 0], start[..., 1], end[..., 0], end[..., 1]
    zeros, ones = np.zeros_like(ex), np.ones_like(ex)
    x_rows = np.stack([ex, ey, ones, zeros, zeros, zeros, -sx * ex, -sx * ey], axis=-1)
    y_rows = np.stack([zeros, zeros, zeros, ex, ey, ones, -sy * ex, -sy * ey], axis=-1)
    matrix = np.concatenate([x_rows, y_rows], axis=1)
    target = np.concatenate([sx, sy], axis=-1)[..., None]
    return np.linalg.solve(matrix, target)[..., 0].astype(np.float32)


def projective_coordinates(transforms, height: int, width: int):
    """(rows, cols) where JAX's perspective_transform reads each output pixel."""
    t = np.asarray(transforms, np.float32).reshape(-1, 8)[:, :, None, None]
    y = np.arange(height, dtype=np.float32)[None, :, None]
    x = np.arange(width, dtype=np.float32)[None, None, :]
    denom = t[:, 6] * x + t[:, 7] * y + np.float32(1.0)
    return ((t[:, 3] * x + t[:, 4] * y + t[:, 5]) / denom,
            (t[:, 0] * x + t[:, 1] * y + t[:, 2]) / denom)
