"""Blurs: separable Gaussian blur and one-sided motion blur."""
from __future__ import annotations

import math

import tensorflow as tf

from .registry import corruption


def _side(x):
    return min(int(x.shape[1]), int(x.shape[2]))


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
