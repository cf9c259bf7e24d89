"""Structured corruptions: coloured patches, dead rows and columns, occlusion, rotation and translation.

Spatial sizes are fractions of the image side, so a severity means the same on 32-pixel digits and
on 224-pixel photos.
"""
from __future__ import annotations

import math

import tensorflow as tf

from .._util.seeds import sub_seed
from .registry import corruption


def _side(x):
    return min(int(x.shape[1]), int(x.shape[2]))


def _coords(x):
    h, w = int(x.shape[1]), int(x.shape[2])
    yy = tf.reshape(tf.range(h, dtype=tf.float32) + 0.5, [1, h, 1])
    xx = tf.reshape(tf.range(w, dtype=tf.float32) + 0.5, [1, 1, w])
    return yy, xx


def _box_mask(yy, xx, top, left, height, width):
    """``[N, H, W]`` bool mask of axis-aligned boxes given per-image ``[N]`` bounds (pixels)."""
    t, l_ = top[:, None, None], left[:, None, None]
    return (yy >= t) & (yy < t + height[:, None, None]) & (xx >= l_) & (xx < l_ + width[:, None, None])


MAX_PATCHES = 10


@corruption("patches")
def patches(x, s, seed):
    """Coloured rectangles: ``ceil(10 s)`` patches of side ``(0.08 + 0.22 s)`` x image side, random colours."""
    n, c = tf.shape(x)[0], int(x.shape[-1])
    h, w = float(x.shape[1]), float(x.shape[2])
    count = tf.math.ceil(s * MAX_PATCHES)
    u = tf.random.stateless_uniform([n, MAX_PATCHES, 4], sub_seed(seed, 0))
    colors = tf.random.stateless_uniform([n, MAX_PATCHES, c], sub_seed(seed, 1))
    size = _side(x) * (0.08 + 0.22 * s)
    ph, pw = size * (0.6 + 0.4 * u[..., 2]), size * (0.6 + 0.4 * u[..., 3])
    top, left = u[..., 0] * h - ph / 2, u[..., 1] * w - pw / 2
    yy, xx = _coords(x)
    out = x
    for k in range(MAX_PATCHES):
        mask = _box_mask(yy, xx, top[:, k], left[:, k], ph[:, k], pw[:, k]) & (k < count)
        out = tf.where(mask[..., None], colors[:, k, None, None, :], out)
    return out


def _black_lines(x, s, seed, axis):
    n, length = tf.shape(x)[0], int(x.shape[axis])
    k = tf.round(0.8 * s * length)
    ranks = tf.argsort(tf.argsort(tf.random.stateless_uniform([n, length], seed), axis=1), axis=1)
    keep = tf.cast(tf.cast(ranks, tf.float32) >= k, x.dtype)
    keep = keep[:, :, None, None] if axis == 1 else keep[:, None, :, None]
    return x * keep


@corruption("black_rows")
def black_rows(x, s, seed):
    """Dead sensor rows: ``round(0.8 s H)`` randomly chosen rows per image set to black."""
    return _black_lines(x, s, seed, 1)


@corruption("black_columns")
def black_columns(x, s, seed):
    """Dead sensor columns: ``round(0.8 s W)`` randomly chosen columns per image set to black."""
    return _black_lines(x, s, seed, 2)


@corruption("occlusion")
def occlusion(x, s, seed):
    """One grey (0.5) square of side ``0.8 s`` x image side, placed uniformly inside the image (cutout)."""
    n = tf.shape(x)[0]
    h, w = float(x.shape[1]), float(x.shape[2])
    size = 0.8 * s * _side(x)
    u = tf.random.stateless_uniform([n, 2], seed)
    sizes = tf.fill([n], size)
    mask = _box_mask(*_coords(x), u[:, 0] * (h - size), u[:, 1] * (w - size), sizes, sizes)
    return tf.where(mask[..., None], 0.5, x)


def _warp(x, transforms):
    """Resample ``x`` through per-image projective ``transforms [N, 8]`` (output -> input), black fill."""
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=x, transforms=tf.cast(transforms, tf.float32), output_shape=tf.shape(x)[1:3],
        fill_value=tf.constant(0.0), interpolation="BILINEAR", fill_mode="CONSTANT")


def _shift_transforms(dx, dy):
    one, zero = tf.ones_like(dx), tf.zeros_like(dx)
    return tf.stack([one, zero, -dx, zero, one, -dy, zero, zero], axis=1)


@corruption("rotation")
def rotation(x, s, seed):
    """Rotation about the centre by ``180 s`` degrees, random direction per image, black fill."""
    n = tf.shape(x)[0]
    h, w = float(x.shape[1]), float(x.shape[2])
    sign = tf.where(tf.random.stateless_uniform([n], seed) < 0.5, -1.0, 1.0)
    theta = sign * s * math.pi
    cos, sin = tf.cos(theta), tf.sin(theta)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    zero = tf.zeros_like(cos)
    transforms = tf.stack([cos, sin, cx - cos * cx - sin * cy, -sin, cos, cy + sin * cx - cos * cy, zero, zero], 1)
    return _warp(x, transforms)


@corruption("translation")
def translation(x, s, seed):
    """Shift by ``s`` x half the image size in a uniformly random direction per image, black fill."""
    n = tf.shape(x)[0]
    phi = tf.random.stateless_uniform([n], seed, 0.0, 2 * math.pi)
    dx = s * 0.5 * float(x.shape[2]) * tf.cos(phi)
    dy = s * 0.5 * float(x.shape[1]) * tf.sin(phi)
    return _warp(x, _shift_transforms(dx, dy))
