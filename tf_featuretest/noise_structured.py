"""Structured, blur and geometric corruptions, and the wrapper every corruption in :mod:`noise` shares.

Each corruption is written as a pure-TF core ``core(x, s, seed) -> x'`` over an NHWC float32 batch,
a scalar float32 severity ``s`` in (0, 1] and a stateless seed pair; :func:`corruption` turns it into
the public ``fn(x, severity, *, seed=0)`` (argument checks, HWC or NHWC input, identity at severity 0,
clipping to [0, 1], the input's dtype kept). Spatial sizes are fractions of the image side, so a
severity means the same on 32-pixel digits and on 224-pixel photos.
"""
from __future__ import annotations

import math
import numbers
import zlib

import tensorflow as tf

from .errors import ConfigError


def _severity(severity, name):
    if isinstance(severity, numbers.Real) or (hasattr(severity, "ndim") and not tf.is_tensor(severity)):
        value = float(severity)
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            raise ConfigError(f"{name}: severity must be in [0, 1], got {severity!r}")
        return value, tf.constant(value, tf.float32)
    s = tf.cast(severity, tf.float32)
    if s.shape.rank not in (None, 0):
        raise ConfigError(f"{name}: severity must be a scalar, got shape {s.shape}")
    return None, tf.clip_by_value(tf.reshape(s, []), 0.0, 1.0)


def sub_seed(seed, k):
    """The ``k``-th independent stateless seed derived from a seed pair."""
    return tf.stack([seed[0], seed[1] + 7919 * (k + 1)])


def corruption(name):
    """Decorator: wrap a core ``(x [N,H,W,C] float32, s scalar, seed [2]) -> x'`` as a registered noise."""
    salt = zlib.crc32(name.encode()) & 0x3FFFFFFF

    def deco(core):
        @tf.autograph.experimental.do_not_convert
        def fn(x, severity, *, seed=0):
            x = tf.convert_to_tensor(x)
            if not x.dtype.is_floating:
                raise ConfigError(f"{name}: images must be floats in [0, 1], got dtype {x.dtype.name}")
            rank = x.shape.rank
            if rank not in (3, 4) or None in x.shape[-3:]:
                raise ConfigError(f"{name}: images must be HWC or NHWC with known H, W, C, got shape {x.shape}")
            value, s = _severity(severity, name)
            if seed is None:
                raise ConfigError(f"{name}: seed must be an integer, got None")
            seed_pair = tf.stack([tf.cast(seed, tf.int64), tf.constant(salt, tf.int64)])
            xf = tf.cast(x, tf.float32)
            if rank == 3:
                xf = xf[None]

            def apply():
                return tf.ensure_shape(tf.clip_by_value(core(xf, s, seed_pair), 0.0, 1.0), xf.shape)

            if value is not None:
                out = apply() if value > 0 else xf
            else:
                out = tf.cond(s > 0, apply, lambda: xf)
            if rank == 3:
                out = out[0]
            return tf.cast(out, x.dtype)

        # Copied by hand: functools.wraps would set __wrapped__, which autograph follows to the core.
        fn.__name__, fn.__qualname__, fn.__doc__ = core.__name__, core.__qualname__, core.__doc__
        fn.__module__ = core.__module__
        fn.noise_name = name
        return fn

    return deco


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


def _blur_matrix(length, sigma):
    """``[L, L]`` row-normalised Gaussian blur matrix with symmetric (mirror) boundary handling."""
    i = tf.range(length, dtype=tf.float32)[:, None]
    j = tf.range(length, dtype=tf.float32)[None, :]
    g = lambda d: tf.exp(-0.5 * tf.square(d / sigma))  # noqa: E731
    m = g(i - j) + g(i + 1 + j) + g(i - (2 * length - 1 - j))
    return m / tf.reduce_sum(m, axis=1, keepdims=True)


@corruption("gaussian_blur")
def gaussian_blur(x, s, seed):
    """Separable Gaussian blur with sigma ``s`` x side / 16 pixels (14 px at 224, 2 px at 32), mirrored edges."""
    del seed
    sigma = tf.maximum(s * _side(x) / 16.0, 1e-3)
    by, bx = _blur_matrix(int(x.shape[1]), sigma), _blur_matrix(int(x.shape[2]), sigma)
    return tf.einsum("ia,jb,nabc->nijc", by, bx, x)


def _shift_matrices(length, d):
    """Per-shift bilinear resampling matrices ``[..., L, L]``: output ``i`` reads input ``i - d``, edges clamped."""
    src = tf.clip_by_value(tf.range(length, dtype=tf.float32) - d[..., None], 0.0, length - 1.0)
    return tf.nn.relu(1.0 - tf.abs(tf.range(length, dtype=tf.float32) - src[..., None]))


MOTION_TAPS = 10


@corruption("motion_blur")
def motion_blur(x, s, seed):
    """One-sided motion blur along a random direction in [-45, 45] degrees (the ImageNet-C range).

    The kernel has Gaussian weights with sigma ``s`` x side / 10 pixels over an extent of 3 sigma,
    sampled at 10 bilinear taps (ImageMagick's motion blur, which ImageNet-C calls, has this shape).
    Each tap is a separable bilinear shift, computed as two small matrix products per image.
    """
    n = tf.shape(x)[0]
    sigma = tf.maximum(s * _side(x) / 10.0, 1e-3)
    angle = tf.random.stateless_uniform([n], seed, -math.pi / 4, math.pi / 4)
    t = tf.linspace(0.0, 1.0, MOTION_TAPS) * 3.0 * sigma
    wts = tf.exp(-0.5 * tf.square(t / sigma))
    wts = wts / tf.reduce_sum(wts)
    h, w, c = (int(d) for d in x.shape[1:])
    sy = _shift_matrices(h, tf.sin(angle)[:, None] * t[None])  # [N, K, H(out), H(in)]
    sx = _shift_matrices(w, tf.cos(angle)[:, None] * t[None]) * wts[None, :, None, None]
    xs = tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [n, c * h, w])  # channels stacked as rows
    xs = tf.reshape(tf.transpose(tf.reshape(xs, [n, c, h, w]), [0, 2, 1, 3]), [n, h, c * w])
    z = tf.matmul(tf.reshape(sy, [n, MOTION_TAPS * h, h]), xs)  # [N, K*H, C*W]: vertical shift per tap
    z = tf.reshape(tf.transpose(tf.reshape(z, [n, MOTION_TAPS, h, c, w]), [0, 3, 2, 1, 4]),
                   [n, c, h, MOTION_TAPS * w])
    sxt = tf.reshape(tf.transpose(sx, [0, 1, 3, 2]), [n, 1, MOTION_TAPS * w, w])
    return tf.transpose(tf.matmul(z, sxt), [0, 2, 3, 1])  # horizontal shifts, weighted sum of taps


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


STRUCTURED = {f.noise_name: f for f in (patches, black_rows, black_columns, occlusion, gaussian_blur, motion_blur,
                                        rotation, translation)}
