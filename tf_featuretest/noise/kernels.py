"""Shared image operators of the corruptions, each matching the library call the reference makes.

Hendrycks & Dietterich's ``make_imagenet_c.py`` / ``make_cifar_c.py`` build their corruptions from
scipy, scikit-image, OpenCV, PIL and ImageMagick calls. These are the same operators in TensorFlow
(batched ``[N, H, W, C]``), written from the libraries' documented behaviour:

- :func:`gaussian_matrix`: ``scipy.ndimage.gaussian_filter1d`` (kernel radius ``int(truncate sigma +
  0.5)``, normalised over the truncated support) with scipy's boundary modes; scikit-image's
  ``filters.gaussian`` calls it with ``mode="nearest"``, ``truncate=4``.
- :func:`index_map`: scipy's modes ``nearest`` (clamp), ``reflect`` (``dcba|abcd|dcba``) and
  ``mirror`` (``dcb|abcd|cba``, OpenCV's ``BORDER_REFLECT_101``).
- :func:`sample_bilinear`: order-1 interpolation at arbitrary coordinates (``map_coordinates``,
  ``cv2.warpAffine``), neighbours outside the image mapped by :func:`index_map`.
- :func:`magick_motion_blur`: ImageMagick's ``-motion-blur radius x sigma + angle``: ``2 ceil(radius)
  + 1`` taps ``i`` with weights ``exp(-i^2 / 2 sigma^2)`` (normalised), tap ``i`` reading the pixel at
  offset ``(ceil(i cos a - 0.5), ceil(i sin a - 0.5))`` (x right, y down), edge pixels repeated.
- :func:`pil_box_matrix`: PIL's ``Image.resize(..., Image.BOX)`` coefficients (box filter of width
  ``max(scale, 1)`` evaluated at pixel centres, normalised).
- :func:`clipped_zoom`: the reference's ``clipped_zoom`` (centre crop of ``ceil(h / z)`` pixels,
  ``scipy.ndimage.zoom(order=1)`` back up, centre trim).
"""
from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

MODES = ("nearest", "reflect", "mirror", "wrap")
#: Above this many gathered values (batch x taps x pixels) loops run tap by tap instead of in one op.
VECTOR_LIMIT = 1 << 25


def index_map(idx, length: int, mode: str):
    """Indices outside ``[0, length)`` mapped inside by scipy's boundary ``mode`` (NumPy in, NumPy out)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    static = isinstance(idx, (np.ndarray, int, np.integer))
    xp_mod, xp_where, xp_clip = ((np.mod, np.where, np.clip) if static else
                                 (tf.math.floormod, tf.where, tf.clip_by_value))
    if mode == "nearest":
        return xp_clip(idx, 0, length - 1)
    if mode == "wrap":
        return xp_mod(idx, length)
    if mode == "reflect":
        m = xp_mod(idx, 2 * length)
        return xp_where(m < length, m, 2 * length - 1 - m)
    if length == 1:
        return idx * 0
    m = xp_mod(idx, 2 * length - 2)
    return xp_where(m < length, m, 2 * length - 2 - m)


def gaussian_weights(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """scipy's 1-D Gaussian kernel: offsets ``-r..r`` with ``r = int(truncate sigma + 0.5)``, summing to 1."""
    r = int(truncate * float(sigma) + 0.5)
    k = np.arange(-r, r + 1, dtype=np.float64)
    w = np.exp(-0.5 * k ** 2 / float(sigma) ** 2)
    return w / w.sum()


def filter_matrix(length: int, weights, mode: str) -> np.ndarray:
    """``[L, L]`` matrix of a centred 1-D correlation with ``weights`` (odd length) and boundary ``mode``."""
    weights = np.asarray(weights, np.float64)
    r = len(weights) // 2
    rows = np.arange(length)[:, None] + np.arange(-r, r + 1)[None, :]
    cols = index_map(rows, length, mode)
    m = np.zeros((length, length))
    np.add.at(m, (np.repeat(np.arange(length), 2 * r + 1), cols.ravel()), np.tile(weights, length))
    return m.astype(np.float32)


def gaussian_matrix(length: int, sigma: float, *, mode: str = "nearest", truncate: float = 4.0) -> np.ndarray:
    """``[L, L]`` matrix ``G`` with ``G @ v == scipy.ndimage.gaussian_filter1d(v, sigma, mode=, truncate=)``.

    ``sigma`` at or below 1e-15 gives the identity (scipy skips such an axis).
    """
    if float(sigma) <= 1e-15:
        return np.eye(length, dtype=np.float32)
    return filter_matrix(length, gaussian_weights(sigma, truncate), mode)


def separable(x, rows, cols):
    """Apply ``rows [H', H]`` down the image and ``cols [W', W]`` across it: ``[N, H', W', C]``."""
    return tf.einsum("ia,jb,nabc->nijc", tf.cast(rows, x.dtype), tf.cast(cols, x.dtype), x)


def gaussian_blur_image(x, sigma: float, *, mode: str = "nearest", truncate: float = 4.0):
    """scikit-image ``filters.gaussian(x, sigma, channel_axis=-1)`` (per channel, ``mode`` borders)."""
    h, w = int(x.shape[1]), int(x.shape[2])
    return separable(x, gaussian_matrix(h, sigma, mode=mode, truncate=truncate),
                     gaussian_matrix(w, sigma, mode=mode, truncate=truncate))


def pad_image(x, top: int, left: int, *, mode: str = "mirror", bottom=None, right=None):
    """Pad ``[N, H, W, C]`` by index mapping (any pad width, unlike ``tf.pad``'s reflect modes)."""
    h, w = int(x.shape[1]), int(x.shape[2])
    bottom = top if bottom is None else bottom
    right = left if right is None else right
    ri = index_map(np.arange(-top, h + bottom), h, mode)
    ci = index_map(np.arange(-left, w + right), w, mode)
    return tf.gather(tf.gather(x, ri, axis=1), ci, axis=2)


def correlate2d(x, kernel, *, mode: str = "mirror"):
    """``cv2.filter2D`` of every channel with an odd ``[k, k]`` kernel (anchor at the centre)."""
    kernel = np.asarray(kernel, np.float32)
    r = kernel.shape[0] // 2
    c = int(x.shape[-1])
    xp = pad_image(x, r, r, mode=mode)
    k = tf.constant(np.repeat(kernel[:, :, None, None], c, axis=2))
    return tf.nn.depthwise_conv2d(xp, k, [1, 1, 1, 1], "VALID")


def sample_bilinear(x, rows, cols, mode: str):
    """Values of ``x [N, H, W, C]`` at float coordinates ``rows, cols [N, H', W']`` (pixel centres at integers)."""
    n, h, w, c = tf.shape(x)[0], int(x.shape[1]), int(x.shape[2]), int(x.shape[3])
    flat = tf.reshape(x, [n, h * w, c])
    r0, c0 = tf.floor(rows), tf.floor(cols)
    fr, fc = (rows - r0)[..., None], (cols - c0)[..., None]
    r0, c0 = tf.cast(r0, tf.int32), tf.cast(c0, tf.int32)
    ra, rb = index_map(r0, h, mode), index_map(r0 + 1, h, mode)
    ca, cb = index_map(c0, w, mode), index_map(c0 + 1, w, mode)
    shape = tf.shape(rows)

    def at(r, q):
        v = tf.gather(flat, tf.reshape(r * w + q, [n, -1]), batch_dims=1)
        return tf.reshape(v, tf.concat([shape, [c]], 0))

    top = at(ra, ca) * (1 - fc) + at(ra, cb) * fc
    bottom = at(rb, ca) * (1 - fc) + at(rb, cb) * fc
    return top * (1 - fr) + bottom * fr


def magick_taps(radius: float, sigma: float) -> np.ndarray:
    """ImageMagick's one-sided motion-blur weights: ``2 ceil(radius) + 1`` taps, ``exp(-i^2 / 2 sigma^2)``."""
    width = int(2 * math.ceil(radius) + 1)
    i = np.arange(width, dtype=np.float64)
    k = np.exp(-(i ** 2) / (2.0 * max(float(sigma), 1e-12) ** 2))
    return (k / k.sum()).astype(np.float32)


def magick_motion_blur(x, weights, angle_deg):
    """Motion blur with per-tap ``weights [K]`` (tensor or array) along ``angle_deg [N]`` (ImageMagick's rule).

    Output pixel ``(r, c)`` is ``sum_i w_i x[r + oy_i, c + ox_i]`` with ``ox_i = ceil(i cos a - 0.5)``,
    ``oy_i = ceil(i sin a - 0.5)``, coordinates clamped to the image (ImageMagick's edge virtual pixels).
    """
    h, w = int(x.shape[1]), int(x.shape[2])
    weights = tf.cast(weights, x.dtype)
    k = int(weights.shape[0])
    a = tf.cast(angle_deg, tf.float64) * (math.pi / 180.0)
    i = tf.range(k, dtype=tf.float64)[None, :]
    ox = tf.cast(tf.math.ceil(i * tf.cos(a)[:, None] - 0.5), tf.int32)  # [N, K]
    oy = tf.cast(tf.math.ceil(i * tf.sin(a)[:, None] - 0.5), tf.int32)
    rr, cc = tf.range(h)[None, :], tf.range(w)[None, :]

    def tap(t, out):  # a tap shifts the whole image: gather its rows, then its columns (clamped)
        rows = tf.clip_by_value(rr + oy[:, t, None], 0, h - 1)
        cols = tf.clip_by_value(cc + ox[:, t, None], 0, w - 1)
        shifted = tf.gather(tf.gather(x, rows, axis=1, batch_dims=1), cols, axis=2, batch_dims=1)
        return t + 1, out + weights[t] * shifted

    _, out = tf.while_loop(lambda t, out: t < k, tap, (tf.constant(0), tf.zeros_like(x)))
    return out


def pil_box_matrix(in_size, out_size):
    """``[out, in]`` coefficients of PIL's ``resize(..., Image.BOX)`` along one axis (Pillow's Resample.c).

    Output ``o`` has centre ``c = (o + 0.5) scale`` (``scale = in / out``) and support ``0.5 max(scale, 1)``;
    input pixel ``j`` in ``[int(c - support + 0.5), int(c + support + 0.5))`` gets weight 1 where
    ``-0.5 < (j - c + 0.5) / max(scale, 1) <= 0.5``, normalised. Sizes may be ints or int tensors.
    """
    n_in = tf.cast(in_size, tf.float64)
    n_out = tf.cast(out_size, tf.float64)
    scale = n_in / n_out
    fs = tf.maximum(scale, 1.0)
    support = 0.5 * fs
    center = (tf.range(n_out, dtype=tf.float64) + 0.5)[:, None] * scale
    j = tf.range(n_in, dtype=tf.float64)[None, :]
    lo = tf.maximum(tf.floor(center - support + 0.5), 0.0)  # int() of a non-negative value
    hi = tf.minimum(tf.floor(center + support + 0.5), n_in)
    t = (j - center + 0.5) / fs
    w = tf.cast((t > -0.5) & (t <= 0.5) & (j >= lo) & (j < hi), tf.float64)
    total = tf.reduce_sum(w, 1, keepdims=True)
    return tf.cast(tf.math.divide_no_nan(w, total), tf.float32)


def zoom_taps(length: int, z: float):
    """``(i0, i1, frac)`` per output index of the reference's ``clipped_zoom`` along an axis of ``length``.

    The centre ``ceil(length / z)`` pixels are zoomed by ``z`` with ``scipy.ndimage.zoom(order=1)``
    (output ``o`` reads input ``o (ch - 1) / (out - 1)``, ``out = round(ch z)``), then trimmed to the centre.
    """
    ch = int(np.ceil(length / z))
    top = (length - ch) // 2
    out = int(round(ch * z))
    trim = (out - length) // 2
    o = np.arange(trim, trim + length, dtype=np.float64)
    pos = o * ((ch - 1) / (out - 1)) if out > 1 else np.zeros_like(o)
    i0 = np.minimum(np.floor(pos), ch - 1).astype(np.int32)
    frac = (pos - i0).astype(np.float32)
    i1 = np.minimum(i0 + 1, ch - 1)
    return top + i0, top + i1, frac


def clipped_zoom(x, z: float):
    """The reference's ``clipped_zoom(x, z)`` of ``[N, H, W, C]`` (rows and columns zoomed alike)."""
    return zoom_sum(x, [z])


def zoom_sum(x, factors):
    """``sum_z clipped_zoom(x, z)`` over ``factors``: two stacked matrix products (rows, then columns)."""
    h, w = int(x.shape[1]), int(x.shape[2])

    def mats(length):
        m = np.zeros((len(factors), length, length), np.float32)
        for k, z in enumerate(factors):
            a, b, f = zoom_taps(length, float(z))
            np.add.at(m[k], (np.arange(length), a), 1 - f)
            np.add.at(m[k], (np.arange(length), b), f)
        return tf.constant(m)

    rows, cols = mats(h), mats(w)
    if x.shape[0] is not None and int(x.shape[0]) * len(factors) * h * w * int(x.shape[3]) <= VECTOR_LIMIT:
        return tf.einsum("zjb,znibc->nijc", cols, tf.einsum("zia,nabc->znibc", rows, x))

    def step(i, out):
        return i + 1, out + separable(x, rows[i], cols[i])

    _, out = tf.while_loop(lambda i, out: i < len(factors), step, (tf.constant(0), tf.zeros_like(x)))
    return out


def rgb_to_gray(x):
    """OpenCV's ``COLOR_RGB2GRAY`` (0.299 R + 0.587 G + 0.114 B); a grey image is returned as is."""
    if int(x.shape[-1]) == 1:
        return x
    return tf.reduce_sum(x[..., :3] * tf.constant([0.299, 0.587, 0.114], x.dtype), -1, keepdims=True)
