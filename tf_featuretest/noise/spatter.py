"""Spatter: the reference's water drops (levels 1-3) and mud (levels 4-5), with OpenCV's operators in TF.

``c = (mean, std, sigma, threshold, intensity, mud)``: a Gaussian layer (``mean``, ``std``) blurred by
scikit-image ``gaussian(sigma)``, values below ``threshold`` zeroed. Mud: ``m = gaussian(layer >
threshold, intensity)``, ``m < 0.8`` zeroed, the image mixed with brown (63, 42, 20) by ``m``. Water:
the layer as uint8 goes through ``255 - cv2.Canny(layer, 50, 150)``, ``cv2.distanceTransform(DIST_L2,
5)`` truncated at 20, a 3x3 box blur (to uint8), ``cv2.equalizeHist``, ``cv2.filter2D`` with the
reference's emboss kernel (to uint8) and another box blur; ``m = layer * dist`` normalised to its
maximum times ``intensity`` adds pale turquoise (175, 238, 238) ``m`` to the image.

The OpenCV steps are written from OpenCV's documented algorithms: Canny with 3x3 Sobel gradients
(replicated borders), L1 magnitude, non-maximum suppression in four directions (``tan 22.5``
sectors, OpenCV's strict/non-strict neighbour tests) and 8-connected hysteresis; the 5x5 chamfer
distance (weights 1, 1.4, 2.1969) as iterated min-plus steps (20 steps give every distance up to the
truncation at 20); histogram equalisation with OpenCV's lookup table ``round((cdf - cdf_min) 255 /
(N - cdf_min))``.
"""
from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from .._util.seeds import sub_seed
from . import kernels

WATER = (175 / 255.0, 238 / 255.0, 238 / 255.0)
MUD = (63 / 255.0, 42 / 255.0, 20 / 255.0)
EMBOSS = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], np.float32)
_TG22 = int(math.tan(math.pi / 8) * (1 << 15) + 0.5)


def _shift(a, dr, dc):
    """``a[r + dr, c + dc]`` of ``[N, H, W]`` with zeros outside."""
    h, w = int(a.shape[1]), int(a.shape[2])
    p = tf.pad(a, [[0, 0], [1, 1], [1, 1]])
    return p[:, 1 + dr:1 + dr + h, 1 + dc:1 + dc + w]


def canny(img, low=50, high=150):
    """``cv2.Canny(img, low, high)`` (aperture 3, L1 gradient) of ``[N, H, W]`` uint8 values; True at edges."""
    x = kernels.pad_image(img[..., None], 1, 1, mode="nearest")[..., 0]
    h, w = int(img.shape[1]), int(img.shape[2])

    def win(dr, dc):
        return x[:, 1 + dr:1 + dr + h, 1 + dc:1 + dc + w]

    dx = (win(-1, 1) + 2 * win(0, 1) + win(1, 1)) - (win(-1, -1) + 2 * win(0, -1) + win(1, -1))
    dy = (win(1, -1) + 2 * win(1, 0) + win(1, 1)) - (win(-1, -1) + 2 * win(-1, 0) + win(-1, 1))
    mag = tf.abs(dx) + tf.abs(dy)
    ax, ay = tf.abs(dx), tf.abs(dy) * (1 << 15)
    tg22 = ax * _TG22
    horizontal = ay < tg22
    vertical = ~horizontal & (ay > tg22 + ax * (1 << 16))
    s_neg = (dx * dy) < 0  # (xs ^ ys) < 0: opposite signs
    diag_a = tf.where(s_neg, _shift(mag, -1, 1), _shift(mag, -1, -1))  # row above, column - s
    diag_b = tf.where(s_neg, _shift(mag, 1, -1), _shift(mag, 1, 1))  # row below, column + s
    keep = tf.where(horizontal, (mag > _shift(mag, 0, -1)) & (mag >= _shift(mag, 0, 1)),
                    tf.where(vertical, (mag > _shift(mag, -1, 0)) & (mag >= _shift(mag, 1, 0)),
                             (mag > diag_a) & (mag > diag_b)))
    cand = keep & (mag > low)
    strong = cand & (mag > high)

    def grow(_, s):
        f = tf.cast(s, tf.float32)
        near = tf.nn.max_pool2d(f[..., None], 3, 1, "SAME")[..., 0] > 0
        return tf.reduce_any(near & cand & ~s), s | (near & cand)

    _, strong = tf.while_loop(lambda go, s: go, grow, (tf.constant(True), strong))
    return strong


def chamfer_distance(zero, steps=20):
    """OpenCV's ``distanceTransform(DIST_L2, 5)`` distances to the ``zero`` pixels, exact up to ``steps``."""
    d = tf.where(zero, 0.0, 1e6)
    moves = [(dr, dc, 1.0) for dr, dc in ((0, 1), (0, -1), (1, 0), (-1, 0))]
    moves += [(dr, dc, 1.4) for dr in (1, -1) for dc in (1, -1)]
    moves += [(dr, dc, 2.1969) for dr, dc in ((1, 2), (2, 1), (-1, 2), (-2, 1), (1, -2), (2, -1), (-1, -2), (-2, -1))]
    h, w = int(zero.shape[1]), int(zero.shape[2])

    def step(i, d):
        p = tf.pad(d, [[0, 0], [2, 2], [2, 2]], constant_values=1e6)
        return i + 1, tf.minimum(d, tf.reduce_min(tf.stack([p[:, 2 + a:2 + a + h, 2 + b:2 + b + w] + c
                                                            for a, b, c in moves]), 0))

    return tf.while_loop(lambda i, d: i < steps, step, (tf.constant(0), d))[1]


def equalize_hist(img):
    """``cv2.equalizeHist`` of ``[N, H, W]`` uint8 values (as floats)."""
    n, h, w = tf.shape(img)[0], int(img.shape[1]), int(img.shape[2])
    v = tf.cast(tf.reshape(img, [n, h * w]), tf.int32)
    hist = tf.math.bincount(v, minlength=256, maxlength=256, axis=-1, dtype=tf.float32)
    first = tf.gather(hist, tf.argmax(hist > 0, axis=1, output_type=tf.int32), batch_dims=1)[:, None]
    scale = 255.0 / tf.maximum(float(h * w) - first, 1.0)
    lut = tf.clip_by_value(tf.round((tf.cumsum(hist, axis=1) - first) * scale), 0.0, 255.0)
    out = tf.gather(lut, v, batch_dims=1)
    out = tf.where(first >= float(h * w), tf.cast(v, tf.float32), out)  # one grey level: unchanged
    return tf.reshape(out, [n, h, w])


def _box3(a):
    return kernels.correlate2d(a, np.full((3, 3), 1.0 / 9.0, np.float32), mode="mirror")


def spatter_level(x, c, seed):
    """The reference's ``spatter`` with its 6 parameters ``c``."""
    mean, std, sigma, threshold, intensity, mud = c
    n, h, w = tf.shape(x)[0], int(x.shape[1]), int(x.shape[2])
    layer = mean + std * tf.random.stateless_normal([n, h, w, 1], sub_seed(seed, 0))
    layer = kernels.gaussian_blur_image(layer, float(sigma))
    layer = tf.where(layer < threshold, 0.0, layer)
    grey = int(x.shape[-1]) != 3
    if mud:
        m = kernels.gaussian_blur_image(tf.cast(layer > threshold, tf.float32), float(intensity))
        m = tf.where(m < 0.8, 0.0, m)
        color = tf.constant(MUD, tf.float32)
        color = tf.reduce_mean(color, keepdims=True) if grey else color
        return x * (1 - m) + color * m
    l8 = tf.clip_by_value(tf.floor(layer * 255.0), 0.0, 255.0)  # astype(uint8)
    edges = canny(l8[..., 0])
    dist = tf.minimum(chamfer_distance(edges), 20.0)[..., None]
    dist = tf.floor(_box3(dist))
    dist = equalize_hist(dist[..., 0])[..., None]
    dist = tf.clip_by_value(kernels.correlate2d(dist, EMBOSS, mode="mirror"), 0.0, 255.0)
    dist = _box3(tf.round(dist))
    m = l8 * dist
    m = tf.math.divide_no_nan(m, tf.reduce_max(m, axis=[1, 2, 3], keepdims=True)) * intensity
    color = tf.constant(WATER, tf.float32)
    color = tf.reduce_mean(color, keepdims=True) if grey else color
    return x + m * color
