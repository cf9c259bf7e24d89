"""Random and structured image corruptions on one continuous severity scale.

Every entry of :data:`NOISES` is ``fn(x, severity, *, seed=0) -> x'``: ``x`` is an image (HWC) or a
batch (NHWC) of floats in [0, 1], ``severity`` a float in [0, 1] (0 is exactly the identity, 1 the
strongest level that still makes sense) or a scalar tensor, ``seed`` an int or int tensor. They are
pure TensorFlow (stateless random ops), so they run eagerly, inside ``tf.function``, inside a
``tf.data`` ``map`` and on a GPU; the same seed gives the same output.

Random noise: ``gaussian``, ``uniform``, ``salt_and_pepper``, ``speckle``, ``shot``.
Structured (:mod:`noise_structured`): ``patches``, ``black_rows``, ``black_columns``, ``occlusion``,
``gaussian_blur``, ``motion_blur``, ``rotation``, ``translation``.
Digital: ``brightness``, ``contrast``, ``jpeg``, ``pixelate``.

ImageNet-C presets
------------------
Hendrycks & Dietterich (2019, "Benchmarking Neural Network Robustness to Common Corruptions and
Perturbations", ICLR) define five severity levels per corruption by one parameter each. Where a
corruption exists in both, :data:`IMAGENET_C_PARAMETERS` holds their five values (from the
reference ``make_imagenet_c.py``) and :data:`IMAGENET_C_SEVERITIES` the severities on this scale
that reproduce them, computed by inverting this module's parameter mapping:

================  ===========================  ==============================  ====================
noise             ImageNet-C name, parameter   this scale                      levels 1..5 -> s
================  ===========================  ==============================  ====================
gaussian          gaussian_noise, std c        std = 0.5 s                     s = c / 0.5
shot              shot_noise, photons c        photons = 1 / s^2               s = 1 / sqrt(c)
salt_and_pepper   impulse_noise, amount c      amount = 0.5 s                  s = c / 0.5
speckle           speckle_noise, std c         std = s                         s = c
gaussian_blur     gaussian_blur, sigma c px    sigma = s side / 16             s = 16 c / 224
motion_blur       motion_blur, sigma c px      sigma = s side / 10             s = 10 c / 224
brightness        brightness, +c on HSV value  +s on HSV value                 s = c
contrast          contrast, factor c           factor = 1 - s                  s = 1 - c
jpeg              jpeg_compression, quality c  quality = 100 (1 - s)^2         s = 1 - sqrt(c / 100)
pixelate          pixelate, scale c            scale = 1 - 0.9 s               s = (1 - c) / 0.9
================  ===========================  ==============================  ====================

Pixel sizes are ImageNet-C's at 224 pixels; here they scale with the image side. ``uniform``,
``patches``, ``black_rows``, ``black_columns``, ``occlusion``, ``rotation`` and ``translation`` have
no ImageNet-C counterpart and no preset.
"""
from __future__ import annotations

import math

import tensorflow as tf

from .errors import ConfigError
from .noise_structured import STRUCTURED, _severity, corruption, sub_seed


@corruption("gaussian")
def gaussian(x, s, seed):
    """Additive Gaussian noise, standard deviation ``0.5 s``."""
    return x + 0.5 * s * tf.random.stateless_normal(tf.shape(x), seed)


@corruption("uniform")
def uniform(x, s, seed):
    """Additive uniform noise on ``[-a, a]`` with ``a = 0.5 sqrt(3) s`` (same std as ``gaussian``)."""
    return x + 0.5 * math.sqrt(3.0) * s * tf.random.stateless_uniform(tf.shape(x), seed, -1.0, 1.0)


@corruption("salt_and_pepper")
def salt_and_pepper(x, s, seed):
    """Impulse noise: a fraction ``0.5 s`` of values replaced, half by 1 (salt) and half by 0 (pepper)."""
    u = tf.random.stateless_uniform(tf.shape(x), seed)
    p = 0.5 * s
    return tf.where(u < p / 2, 1.0, tf.where(u < p, 0.0, x))


@corruption("speckle")
def speckle(x, s, seed):
    """Multiplicative noise ``x + x n`` with ``n ~ N(0, s^2)``."""
    return x + x * s * tf.random.stateless_normal(tf.shape(x), seed)


POISSON_EXACT_MAX = 10.0
_POISSON_TERMS = 28


def _poisson(lam, seed):
    """Poisson samples: exact inverse-CDF for means up to 10, normal approximation (rounded) above.

    ``tf.random.stateless_poisson`` is exact everywhere but costs several times a small CNN's forward
    pass on a CPU; this keeps the sampler cheap. The inverse CDF sums 28 terms, so a mean of 10 is cut
    at 27 (tail mass below 1e-5).
    """
    u = tf.random.stateless_uniform(tf.shape(lam), sub_seed(seed, 0))
    small = tf.minimum(lam, POISSON_EXACT_MAX)
    p = tf.exp(-small)
    cdf, k = p, tf.zeros_like(lam)
    for m in range(1, _POISSON_TERMS):
        k += tf.cast(u > cdf, lam.dtype)
        p = p * small / m
        cdf += p
    z = tf.random.stateless_normal(tf.shape(lam), sub_seed(seed, 1))
    big = tf.maximum(tf.round(lam + tf.sqrt(lam) * z), 0.0)
    return tf.where(lam <= POISSON_EXACT_MAX, k, big)


@corruption("shot")
def shot(x, s, seed):
    """Poisson (photon) noise with ``1 / s^2`` photons at full intensity: ``Poisson(x / s^2) s^2``."""
    photons = 1.0 / tf.square(tf.maximum(s, 1e-3))
    return _poisson(x * photons, seed) / photons


@corruption("brightness")
def brightness(x, s, seed):
    """Add ``s`` to the HSV value channel (RGB) or to the intensity (grey), as ImageNet-C does."""
    del seed
    if int(x.shape[-1]) != 3:
        return x + s
    hsv = tf.image.rgb_to_hsv(x)
    value = tf.clip_by_value(hsv[..., 2:] + s, 0.0, 1.0)
    return tf.image.hsv_to_rgb(tf.concat([hsv[..., :2], value], -1))


@corruption("contrast")
def contrast(x, s, seed):
    """Scale the distance to each image's per-channel mean by ``1 - s``."""
    del seed
    mean = tf.reduce_mean(x, axis=[1, 2], keepdims=True)
    return (x - mean) * (1.0 - s) + mean


def jpeg_quality(s):
    """JPEG quality ``round(100 (1 - s)^2)`` clipped to 1..100, as an int32 tensor."""
    return tf.cast(tf.clip_by_value(tf.round(100.0 * tf.square(1.0 - s)), 1.0, 100.0), tf.int32)


@corruption("jpeg")
def jpeg(x, s, seed):
    """JPEG round trip (``tf.image.adjust_jpeg_quality``) at quality ``100 (1 - s)^2``; any channel count."""
    del seed
    c = int(x.shape[-1])
    q = jpeg_quality(s)
    imgs = x if c in (1, 3) else tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [-1, x.shape[1], x.shape[2], 1])
    out = tf.map_fn(lambda im: tf.image.adjust_jpeg_quality(im, q), imgs,
                    fn_output_signature=tf.TensorSpec(imgs.shape[1:], tf.float32))
    if c in (1, 3):
        return out
    return tf.transpose(tf.reshape(out, [-1, c, x.shape[1], x.shape[2]]), [0, 2, 3, 1])


@corruption("pixelate")
def pixelate(x, s, seed):
    """Area-downsample to ``1 - 0.9 s`` of the size, then nearest-neighbour upsample back."""
    del seed
    h, w = int(x.shape[1]), int(x.shape[2])
    f = 1.0 - 0.9 * s
    size = tf.cast(tf.maximum(tf.round(tf.stack([h * f, w * f])), 1.0), tf.int32)
    small = tf.image.resize(x, size, method="area")
    return tf.image.resize(small, [h, w], method="nearest")


NOISES = {f.noise_name: f for f in (gaussian, uniform, salt_and_pepper, speckle, shot)}
NOISES.update(STRUCTURED)
NOISES.update({f.noise_name: f for f in (brightness, contrast, jpeg, pixelate)})

#: ImageNet-C's five parameter values per corruption (make_imagenet_c.py), keyed by this module's name.
IMAGENET_C_PARAMETERS = {
    "gaussian": (0.08, 0.12, 0.18, 0.26, 0.38),
    "shot": (60, 25, 12, 5, 3),
    "salt_and_pepper": (0.03, 0.06, 0.09, 0.17, 0.27),
    "speckle": (0.15, 0.2, 0.35, 0.45, 0.6),
    "gaussian_blur": (1, 2, 3, 4, 6),
    "motion_blur": (3, 5, 8, 12, 15),
    "brightness": (0.1, 0.2, 0.3, 0.4, 0.5),
    "contrast": (0.4, 0.3, 0.2, 0.1, 0.05),
    "jpeg": (25, 18, 15, 10, 7),
    "pixelate": (0.6, 0.5, 0.4, 0.3, 0.25),
}

_TO_SEVERITY = {
    "gaussian": lambda c: c / 0.5,
    "shot": lambda c: 1.0 / math.sqrt(c),
    "salt_and_pepper": lambda c: c / 0.5,
    "speckle": lambda c: c,
    "gaussian_blur": lambda c: 16.0 * c / 224.0,
    "motion_blur": lambda c: 10.0 * c / 224.0,
    "brightness": lambda c: c,
    "contrast": lambda c: 1.0 - c,
    "jpeg": lambda c: 1.0 - math.sqrt(c / 100.0),
    "pixelate": lambda c: (1.0 - c) / 0.9,
}

#: Severity on this module's scale of each ImageNet-C level 1..5.
IMAGENET_C_SEVERITIES = {name: tuple(round(_TO_SEVERITY[name](c), 4) for c in params)
                         for name, params in IMAGENET_C_PARAMETERS.items()}


def get_noise(name: str):
    """The noise function registered as ``name``; :class:`ConfigError` listing the names otherwise."""
    if name not in NOISES:
        raise ConfigError(f"unknown noise {name!r}; expected one of {', '.join(NOISES)}")
    return NOISES[name]


def parse_noises(names) -> tuple:
    """Noise names from ``None`` (all), a comma-separated string or a list, checked against :data:`NOISES`."""
    if names is None:
        return tuple(NOISES)
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    names = tuple(names)
    if not names:
        raise ConfigError("no noise names given")
    for n in names:
        get_noise(n)
    return names


def imagenet_c_severity(name: str, level: int) -> float:
    """The severity on the continuous scale matching ImageNet-C ``level`` (1..5) of noise ``name``.

    Example:
        >>> imagenet_c_severity("gaussian", 5)
        0.76
    """
    get_noise(name)
    if name not in IMAGENET_C_SEVERITIES:
        raise ConfigError(f"noise {name!r} has no ImageNet-C counterpart; presets exist for "
                          f"{', '.join(IMAGENET_C_SEVERITIES)}")
    if level not in (1, 2, 3, 4, 5):
        raise ConfigError(f"ImageNet-C level must be 1..5, got {level!r}")
    return IMAGENET_C_SEVERITIES[name][level - 1]


def noise_transform(name: str):
    """An ``evaluate.sweep`` transform ``fn(model, x, y, *, severity, seed=0) -> x'`` for noise ``name``.

    The noise is compiled once per returned transform (one ``tf.function`` with severity and seed as
    tensors, so a sweep over many severities traces once per input shape).

    Example:
        >>> res = sweep(model, (x, y), noise_transform("gaussian"), "severity", [0, 0.5, 1])  # doctest: +SKIP
    """
    fn = get_noise(name)
    compiled = tf.function(lambda x, s, seed: fn(x, s, seed=seed), reduce_retracing=True)

    def transform(model, x, y, *, severity, seed=0):
        del model, y
        value, _ = _severity(severity, name)
        if value is None:
            raise ConfigError(f"{name}: a sweep severity must be a Python number, got {severity!r}")
        x = tf.convert_to_tensor(x, tf.float32)
        if value == 0.0:
            return x
        return compiled(x, tf.constant(value, tf.float32), tf.constant(int(seed), tf.int64))

    transform.__name__ = name
    transform.noise_name = name
    return transform


__all__ = ["NOISES", "IMAGENET_C_PARAMETERS", "IMAGENET_C_SEVERITIES", "get_noise", "parse_noises",
           "imagenet_c_severity", "noise_transform", "jpeg_quality"]
