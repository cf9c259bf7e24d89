"""Weather: snow, frost and fog, as the reference (``make_imagenet_c.py`` / ``make_cifar_c.py``) makes them.

- ``snow``: a Gaussian layer (mean ``c[0]``, std ``c[1]``), ``clipped_zoom`` by ``c[2]``, values below
  ``c[3]`` zeroed, truncated to 8 bits, ImageMagick motion blur (radius ``c[4]``, sigma ``c[5]``, angle
  uniform in [-135, -45]) rounded to 8 bits; the image becomes ``c[6] x + (1 - c[6]) max(x, 1.5 grey +
  0.5)`` and gets the layer added twice (as is and rotated by 180 degrees).
- ``frost``: ``c[0] x + c[1] frost`` with a random crop of one of the first five of the reference's
  frost pictures (CIFAR-10-C shrinks them to 0.2 first; OpenCV's bilinear resize by 0.2 samples
  pixel ``5 i + 2`` exactly). The pictures ship with the ``imagecorruptions`` package; they are read
  from an installed copy (:func:`frost_dir`) and never downloaded. Without them ``frost`` is not
  registered and :func:`tf_featuretest.noise.corrupt` says why.
- ``fog``: the reference's diamond-square ``plasma_fractal`` (map size 256 for ImageNet-C, 32 for
  CIFAR-10-C, or the next power of two above the image) with decay ``c[1]``, added with weight
  ``c[0]``, then the image scaled by ``max / (max + c[0])``.
"""
from __future__ import annotations

import importlib.util
import math
import os

import numpy as np
import tensorflow as tf

from .._util.seeds import sub_seed
from ..errors import ConfigError
from . import kernels

FROST_FILES = ("frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg", "frost6.jpg")
#: The environment variable that names a folder holding the frost pictures (overrides the package's).
FROST_ENV = "FEATURETEST_FROST_DIR"


def snow_level(x, c, seed):
    """The reference's ``snow`` with its 7 parameters ``c``."""
    n, h, w = tf.shape(x)[0], int(x.shape[1]), int(x.shape[2])
    layer = c[0] + c[1] * tf.random.stateless_normal([n, h, w, 1], sub_seed(seed, 0))
    layer = kernels.clipped_zoom(layer, float(c[2]))
    layer = tf.where(layer < c[3], 0.0, layer)
    layer = tf.floor(tf.clip_by_value(layer, 0.0, 1.0) * 255.0) / 255.0  # PIL "L" image of uint8
    angle = tf.random.stateless_uniform([n], sub_seed(seed, 1), -135.0, -45.0, dtype=tf.float64)
    layer = kernels.magick_motion_blur(layer, kernels.magick_taps(c[4], c[5]), angle)
    layer = tf.round(layer * 255.0) / 255.0  # ImageMagick writes an 8-bit PNG
    x = c[6] * x + (1.0 - c[6]) * tf.maximum(x, kernels.rgb_to_gray(x) * 1.5 + 0.5)
    return x + layer + tf.reverse(layer, [1, 2])


def plasma_fractal(n, mapsize: int, decay: float, seed):
    """``[n, mapsize, mapsize]`` diamond-square height maps in [0, 1] (the reference's ``plasma_fractal``).

    Each stage sets the square centres to the mean of their four corners and the diamond points to
    the mean of their four neighbours (wrapping around), each plus ``wibble U(-wibble, wibble)``;
    ``wibble`` starts at 100 and is divided by ``decay`` per stage.
    """
    grid = tf.zeros([n, 1, 1], tf.float64)
    wibble, m, k = 100.0, 1, 0
    while m < mapsize:
        def noise(i, m=m, wibble=wibble, k=k):
            return wibble * tf.random.stateless_uniform([n, m, m], sub_seed(seed, 3 * k + i), -wibble, wibble,
                                                        dtype=tf.float64)

        corners = grid + tf.roll(grid, -1, 1)
        centre = (corners + tf.roll(corners, -1, 2)) / 4 + noise(0)
        top = (centre + tf.roll(centre, 1, 1) + grid + tf.roll(grid, -1, 2)) / 4 + noise(1)  # (2i, 2j+1)
        left = (centre + tf.roll(centre, 1, 2) + grid + tf.roll(grid, -1, 1)) / 4 + noise(2)  # (2i+1, 2j)
        even = tf.reshape(tf.stack([grid, top], 3), [n, m, 2 * m])
        odd = tf.reshape(tf.stack([left, centre], 3), [n, m, 2 * m])
        grid = tf.reshape(tf.stack([even, odd], 2), [n, 2 * m, 2 * m])
        wibble, m, k = wibble / decay, 2 * m, k + 1
    grid = grid - tf.reduce_min(grid, [1, 2], keepdims=True)
    return tf.cast(grid / tf.reduce_max(grid, [1, 2], keepdims=True), tf.float32)


def fog_level(x, c, seed, *, mapsize=256):
    """The reference's ``fog``: ``(x + c[0] plasma) max / (max + c[0])``."""
    h, w = int(x.shape[1]), int(x.shape[2])
    size = max(mapsize, 2 ** math.ceil(math.log2(max(h, w))))
    plasma = plasma_fractal(tf.shape(x)[0], size, float(c[1]), seed)[:, :h, :w, None]
    top = tf.reduce_max(x, axis=[1, 2, 3], keepdims=True)
    return (x + c[0] * plasma) * top / (top + c[0])


def frost_dir():
    """The folder with the frost pictures: ``$FEATURETEST_FROST_DIR``, else an installed ``imagecorruptions``'s.

    The package is located without importing it (its import fails on NumPy 2); None when neither exists.
    """
    env = os.environ.get(FROST_ENV)
    if env:
        return env if os.path.isdir(env) else None
    try:
        spec = importlib.util.find_spec("imagecorruptions")
    except (ImportError, ValueError):
        spec = None
    for root in (spec.submodule_search_locations or []) if spec else []:
        path = os.path.join(root, "frost")
        if all(os.path.isfile(os.path.join(path, f)) for f in FROST_FILES[:5]):
            return path
    return None


FROST_MISSING = ("frost needs the reference's frost pictures, which are not installed: `pip install "
                 "imagecorruptions` (only its frost folder is read) or set FEATURETEST_FROST_DIR; they are "
                 "never downloaded")

_TEXTURES = {}


def frost_textures(directory=None, *, shrink=False):
    """``(pictures [5, H, W, 3] float32 0..255 zero-padded, sizes [5, 2] int array)``: the first five frost pictures."""
    directory = directory or frost_dir()
    if directory is None:
        raise ConfigError(FROST_MISSING)
    key = (directory, shrink)
    if key not in _TEXTURES:
        pics = []
        for f in FROST_FILES[:5]:
            img = tf.io.decode_image(tf.io.read_file(os.path.join(directory, f)), channels=3, expand_animations=False)
            if shrink:  # cv2.resize(fx=fy=0.2, INTER_LINEAR) reads source pixel 5 i + 2 exactly
                hh, ww = round(int(img.shape[0]) * 0.2), round(int(img.shape[1]) * 0.2)
                rows = tf.minimum(tf.range(hh) * 5 + 2, int(img.shape[0]) - 1)
                cols = tf.minimum(tf.range(ww) * 5 + 2, int(img.shape[1]) - 1)
                img = tf.gather(tf.gather(img, rows, axis=0), cols, axis=1)
            pics.append(tf.cast(img, tf.float32))
        hmax, wmax = max(int(p.shape[0]) for p in pics), max(int(p.shape[1]) for p in pics)
        stack = tf.stack([tf.pad(p, [[0, hmax - int(p.shape[0])], [0, wmax - int(p.shape[1])], [0, 0]]) for p in pics])
        sizes = np.array([[int(p.shape[0]), int(p.shape[1])] for p in pics], np.int32)
        _TEXTURES[key] = (stack, sizes)
    return _TEXTURES[key]


def apply_frost(x, c, seed, pictures, sizes):
    """``clip(c[0] x + c[1] crop / 255)`` with a random picture (of the five) and crop per image."""
    n, h, w = tf.shape(x)[0], int(x.shape[1]), int(x.shape[2])
    sizes = np.asarray(sizes, np.int32)
    if sizes[:, 0].min() <= h or sizes[:, 1].min() <= w:
        raise ConfigError(f"frost: images of {h}x{w} pixels do not fit in the frost pictures {sizes.tolist()}")
    u = tf.random.stateless_uniform([n, 3], seed, dtype=tf.float64)
    idx = tf.minimum(tf.cast(u[:, 0] * 5, tf.int32), 4)
    size = tf.gather(tf.constant(sizes), idx)
    r0 = tf.cast(u[:, 1] * tf.cast(size[:, 0] - h, tf.float64), tf.int32)  # randint(0, fh - h)
    c0 = tf.cast(u[:, 2] * tf.cast(size[:, 1] - w, tf.float64), tf.int32)
    rows = r0[:, None, None] + tf.range(h)[None, :, None] + tf.zeros([1, 1, w], tf.int32)
    cols = c0[:, None, None] + tf.range(w)[None, None, :] + tf.zeros([1, h, 1], tf.int32)
    which = tf.broadcast_to(idx[:, None, None], tf.shape(rows))
    crop = tf.gather_nd(pictures, tf.stack([which, rows, cols], -1)) / 255.0
    if int(x.shape[-1]) != 3:
        crop = tf.reduce_mean(crop, -1, keepdims=True)
    return c[0] * x + c[1] * crop


def frost_level(x, c, seed, *, shrink=False):
    """The reference's ``frost`` (the pictures read once from :func:`frost_dir`)."""
    pictures, sizes = frost_textures(shrink=shrink)
    return apply_frost(x, c, seed, pictures, sizes)
