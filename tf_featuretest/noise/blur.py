"""Blurs: Gaussian, motion (ImageMagick's), defocus, glass and zoom blur.

The level functions ``fn(x, c, seed)`` take the reference's parameter ``c`` (``make_imagenet_c.py`` /
``make_cifar_c.py``; the tables are in :mod:`.presets`) and reproduce its algorithm:

- ``gaussian_blur``: scikit-image ``gaussian(x, sigma=c)`` (nearest borders, truncated at 4 sigma);
- ``motion_blur``: ImageMagick ``-motion-blur`` with radius ``c[0]``, sigma ``c[1]``, angle uniform in
  [-45, 45] degrees (:func:`.kernels.magick_motion_blur`);
- ``defocus_blur``: OpenCV ``filter2D`` with the reference's anti-aliased disk of radius ``c[0]``
  (``GaussianBlur`` of the aliased disk with sigma ``c[1]``), reflect-101 borders;
- ``glass_blur``: blur (sigma ``c[0]``), truncate to 8 bits, ``c[2]`` passes of local pixel moves of up
  to ``c[1]`` pixels, blur again. The reference's ``x[h, w], x[h', w'] = x[h', w'], x[h, w]`` assigns
  through NumPy views, so each step *copies* pixel ``(h', w')`` onto ``(h, w)`` (it does not swap);
  that is what is reproduced. The steps run in the reference's order; steps that cannot touch each
  other's pixels run at once (a wavefront of ``(d + 1) rows + columns`` levels), which gives the same
  result as the sequential loop;
- ``zoom_blur``: the mean of the image and its ``clipped_zoom`` by each factor of ``c``.
"""
from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from .._util.seeds import sub_seed
from . import kernels
from .registry import corruption


def _side(x):
    return min(int(x.shape[1]), int(x.shape[2]))


def gaussian_blur_level(x, c, seed):
    """The reference's ``gaussian_blur``: ``skimage.filters.gaussian(x, sigma=c)``."""
    del seed
    return kernels.gaussian_blur_image(x, float(c))


def _gaussian_matrix_tf(length, sigma, rmax):
    """:func:`.kernels.gaussian_matrix` (nearest borders, truncate 4) for a tensor ``sigma`` up to ``rmax / 4``."""
    k = tf.range(-rmax, rmax + 1, dtype=tf.float32)
    radius = tf.floor(4.0 * sigma + 0.5)
    w = tf.exp(-0.5 * tf.square(k / sigma)) * tf.cast(tf.abs(k) <= radius, tf.float32)
    w = w / tf.reduce_sum(w)
    cols = kernels.index_map(tf.range(length)[:, None] + tf.range(-rmax, rmax + 1)[None, :], length, "nearest")
    return tf.einsum("k,ikj->ij", w, tf.one_hot(cols, length))


@corruption("gaussian_blur")
def gaussian_blur(x, s, seed):
    """Gaussian blur with sigma ``s`` x side / 16 pixels (14 px at 224, 2 px at 32), as scikit-image's ``gaussian``."""
    del seed
    sigma = tf.maximum(s * _side(x) / 16.0, 1e-3)
    rmax = int(4.0 * _side(x) / 16.0 + 0.5) + 1
    by = _gaussian_matrix_tf(int(x.shape[1]), sigma, rmax)
    bx = _gaussian_matrix_tf(int(x.shape[2]), sigma, rmax)
    return kernels.separable(x, by, bx)


def _angles(x, seed, low, high):
    return tf.random.stateless_uniform([tf.shape(x)[0]], seed, low, high, dtype=tf.float64)


def motion_blur_level(x, c, seed):
    """The reference's ``motion_blur``: ImageMagick motion blur, radius ``c[0]``, sigma ``c[1]``, angle in [-45, 45]."""
    return kernels.magick_motion_blur(x, kernels.magick_taps(*c), _angles(x, seed, -45.0, 45.0))


@corruption("motion_blur")
def motion_blur(x, s, seed):
    """ImageMagick-style motion blur with sigma ``s`` x side / 10 pixels and radius 1.5 sigma, angle in [-45, 45].

    The kernel is ImageMagick's (one-sided half Gaussian over ``2 ceil(radius) + 1`` whole-pixel taps
    along the direction), so a severity reproduces ``-motion-blur 1.5s x s``.
    """
    side = _side(x)
    sigma = tf.maximum(s * side / 10.0, 1e-3)
    taps = 2 * math.ceil(1.5 * side / 10.0) + 1
    i = tf.range(taps, dtype=tf.float32)
    width = 2.0 * tf.math.ceil(1.5 * sigma) + 1.0
    w = tf.exp(-tf.square(i) / (2.0 * tf.square(sigma))) * tf.cast(i < width, tf.float32)
    return kernels.magick_motion_blur(x, w / tf.reduce_sum(w), _angles(x, seed, -45.0, 45.0))


def disk_kernel(radius: float, alias_blur: float) -> np.ndarray:
    """The reference's ``disk``: an aliased disk (grid +-8, or +-radius above 8) smoothed by OpenCV's GaussianBlur."""
    half = 8 if radius <= 8 else int(radius)
    ksize = 3 if radius <= 8 else 5
    grid = np.arange(-half, half + 1)
    xx, yy = np.meshgrid(grid, grid)
    disk = ((xx ** 2 + yy ** 2) <= radius ** 2).astype(np.float64)
    disk /= disk.sum()
    t = np.arange(ksize) - (ksize - 1) / 2
    g = np.exp(-t ** 2 / (2 * alias_blur ** 2))
    m = kernels.filter_matrix(len(grid), g / g.sum(), "mirror").astype(np.float64)
    return (m @ disk @ m.T).astype(np.float32)


def trim_kernel(kernel: np.ndarray) -> np.ndarray:
    """The centred square part of an odd kernel outside which every weight is 0 (same filter, fewer taps)."""
    r = kernel.shape[0] // 2
    nz = np.argwhere(kernel != 0)
    keep = int(np.abs(nz - r).max()) if len(nz) else 0
    return kernel[r - keep:r + keep + 1, r - keep:r + keep + 1]


def defocus_blur_level(x, c, seed):
    """The reference's ``defocus_blur``: ``cv2.filter2D`` with :func:`disk_kernel` ``(c[0], c[1])``."""
    del seed
    return kernels.correlate2d(x, trim_kernel(disk_kernel(*c)), mode="mirror")


def glass_schedule(h: int, w: int, d: int):
    """``(levels [L, M], writes [S + 1])`` of the reference's glass-blur steps (step ``S`` is a no-op pad).

    Step ``(i, j)`` writes pixel ``(h - d - i, w - d - j)``; its level is ``(d + 1) i + j``. Steps of one
    level touch disjoint pixels, and every step comes after the steps it depends on.
    """
    nh, nw = max(h - 2 * d, 0), max(w - 2 * d, 0)
    ii, jj = np.meshgrid(np.arange(nh), np.arange(nw), indexing="ij")
    level = ((d + 1) * ii + jj).ravel()
    steps = np.arange(nh * nw)
    nlev = int(level.max()) + 1 if steps.size else 0
    counts = np.bincount(level, minlength=nlev) if steps.size else np.zeros(0, int)
    table = np.full((nlev, int(counts.max()) if nlev else 0), nh * nw, np.int32)
    fill = np.zeros(nlev, int)
    for s, lv in zip(steps, level):
        table[lv, fill[lv]] = s
        fill[lv] += 1
    writes = np.append(((h - d - ii) * w + (w - d - jj)).ravel(), h * w).astype(np.int32)
    return table, writes


def glass_blur_level(x, c, seed):
    """The reference's ``glass_blur``: blur, 8-bit truncation, ``c[2]`` passes of pixel copies, blur."""
    sigma, d, iterations = float(c[0]), int(c[1]), int(c[2])
    n, h, w, ch = tf.shape(x)[0], int(x.shape[1]), int(x.shape[2]), int(x.shape[3])
    y = tf.floor(kernels.gaussian_blur_image(x, sigma) * 255.0) / 255.0
    table, writes = glass_schedule(h, w, d)
    if table.size:
        flat = tf.concat([tf.reshape(y, [n, h * w, ch]), tf.zeros([n, 1, ch])], 1)
        table_t, writes_t = tf.constant(table), tf.constant(writes)
        batch = tf.range(n)[:, None]
        for it in range(iterations):
            off = tf.random.stateless_uniform([n, len(writes) - 1, 2], sub_seed(seed, it), -d, d, dtype=tf.int32)
            reads = writes_t[None, :-1] + off[..., 0] * w + off[..., 1]  # dy rows, dx columns
            reads = tf.concat([reads, tf.fill([n, 1], h * w)], 1)

            def body(lv, img, reads=reads):
                ids = table_t[lv]
                vals = tf.gather(img, tf.gather(reads, ids, axis=1), batch_dims=1)
                at = tf.stack([tf.broadcast_to(batch, [n, len(table[0])]),
                               tf.broadcast_to(tf.gather(writes_t, ids)[None], [n, len(table[0])])], -1)
                return lv + 1, tf.tensor_scatter_nd_update(img, at, vals)

            _, flat = tf.while_loop(lambda lv, img: lv < len(table), body, (tf.constant(0), flat))
        y = tf.reshape(flat[:, :h * w], [n, h, w, ch])
    return kernels.gaussian_blur_image(y, sigma)


def zoom_blur_level(x, c, seed):
    """The reference's ``zoom_blur``: ``(x + sum_z clipped_zoom(x, z)) / (len(c) + 1)``."""
    del seed
    return (x + kernels.zoom_sum(x, c)) / (len(c) + 1)
