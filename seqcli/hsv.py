"""Keras 3's rgb_to_hsv and hsv_to_rgb (its JAX backend's, after dm_pix), in numpy, with
each pixel's Jacobian carried along (forward mode: every plane holds its value and its
derivatives with respect to the pixel's three input channels), for RandomHue's and
RandomSaturation's gradients. Channels last."""

from __future__ import annotations

import numpy as np


class Plane:
    """One channel plane `v` (N, H, W) and `d` (N, H, W, 3): dv / d(input r, g, b)."""

    def __init__(self, v, d):
        self.v, self.d = v, d

    @staticmethod
    def constant(v, like):
        v = np.broadcast_to(np.asarray(v, like.v.dtype), like.v.shape)
        return Plane(v, np.zeros_like(like.d))

    def _other(self, other):
        return other if isinstance(other, Plane) else Plane.constant(other, self)

    def __add__(self, other):
        other = self._other(other)
        return Plane(self.v + other.v, self.d + other.d)

    __radd__ = __add__

    def __sub__(self, other):
        other = self._other(other)
        return Plane(self.v - other.v, self.d - other.d)

    def __rsub__(self, other):
        return self._other(other) - self

    def __mul__(self, other):
        other = self._other(other)
        return Plane(self.v * other.v, self.d * other.v[..., None] + other.d * self.v[..., None])

    __rmul__ = __mul__

    def __truediv__(self, other):
        other = self._other(other)
        v = self.v / other.v
        return Plane(v, (self.d - other.d * v[..., None]) / other.v[..., None])

    def __rtruediv__(self, other):
        return self._other(other) / self


def where(condition, a: Plane, b: Plane) -> Plane:
    return Plane(np.where(condition, a.v, b.v), np.where(condition[..., None], a.d, b.d))


def maximum(a: Plane, b: Plane) -> Plane:
    return where(a.v >= b.v, a, b)


def minimum(a: Plane, b: Plane) -> Plane:
    return where(a.v <= b.v, a, b)


def absolute(a: Plane) -> Plane:
    return where(a.v >= 0, a, Plane(-a.v, -a.d))


def clip(a: Plane, low, high) -> Plane:
    inside = (a.v >= low) & (a.v <= high)
    return Plane(np.clip(a.v, low, high), a.d * inside[..., None])


def planes(x):
    """The r, g, b planes of channels-last x, each with its identity derivative."""
    eye = np.eye(3, dtype=x.dtype)
    return [Plane(x[..., c], np.broadcast_to(eye[c], (*x.shape[:-1], 3)).copy())
            for c in range(3)]


def rgb_to_hsv(red: Plane, green: Plane, blue: Plane):
    eps = np.finfo(red.v.dtype).eps
    red, green, blue = (where(np.abs(p.v) < eps, Plane.constant(0.0, p), p)
                        for p in (red, green, blue))
    value = maximum(maximum(red, green), blue)
    range_ = value - minimum(minimum(red, green), blue)
    safe_value = where(value.v > 0, value, Plane.constant(1.0, value))
    safe_range = where(range_.v > 0, range_, Plane.constant(1.0, range_))
    saturation = where(value.v > 0, range_ / safe_value, Plane.constant(0.0, value))
    norm = 1.0 / (6.0 * safe_range)
    hue = where(value.v == green.v, norm * (blue - red) + 2.0 / 6.0,
                norm * (red - green) + 4.0 / 6.0)
    hue = where(value.v == red.v, norm * (green - blue), hue)
    hue = where(range_.v > 0, hue, Plane.constant(0.0, hue)) + (hue.v < 0.0).astype(hue.v.dtype)
    return hue, saturation, value


def hsv_to_rgb(hue: Plane, saturation: Plane, value: Plane):
    dh = Plane(np.mod(hue.v, 1.0), hue.d) * 6.0
    dr = clip(absolute(dh - 3.0) - 1.0, 0.0, 1.0)
    dg = clip(2.0 - absolute(dh - 2.0), 0.0, 1.0)
    db = clip(2.0 - absolute(dh - 4.0), 0.0, 1.0)
    one_minus_s = 1.0 - saturation
    return [value * (one_minus_s + saturation * d) for d in (dr, dg, db)]


def stack(planes_):
    """(channels-last values, Jacobians (N, H, W, 3 out, 3 in))."""
    return (np.stack([p.v for p in planes_], axis=-1),
            np.stack([p.d for p in planes_], axis=-2))


def pull_back(jacobians, dy):
    """dL/dx from dL/dy through each pixel's Jacobian."""
    return np.einsum("...o,...oi->...i", dy, jacobians)
