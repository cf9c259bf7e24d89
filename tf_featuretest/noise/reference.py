"""``corrupt(x, name, level)``: the ImageNet-C / CIFAR-10-C corruptions at the reference's five levels.

The call follows the ``imagecorruptions`` convention (a name and a level 1..5) on float32 [0, 1]
batches, in TensorFlow: batched, stateless-seeded, usable inside ``tf.function`` and ``tf.data``.
Each corruption is the reference algorithm (see :mod:`.random`, :mod:`.blur`, :mod:`.digital`,
:mod:`.weather`, :mod:`.spatter`) with the parameters of :mod:`.presets`. The output is the
reference's before its final storage step (ImageNet-C saved JPEG quality 85, CIFAR-10-C uint8): it
stays float32, clipped to [0, 1].

Random corruptions draw from TensorFlow's stateless generators, so they equal the reference in
distribution (not pixel for pixel); the same seed gives the same images. A corruption also has a
registered continuous version (:data:`~.registry.NOISES`); for the ones in
:data:`~.presets.LEVEL_SCALED` it is :func:`level_scaled` of the level functions here, so
``NOISES[name](x, k / 5, seed=s)`` equals ``corrupt(x, name, k, preset="auto", seed=s)``.
"""
from __future__ import annotations

import functools

import tensorflow as tf

from ..errors import ConfigError
from . import blur, digital, random, spatter, weather
from .presets import BENCHMARK, EXTRA, TABLES, check_level, check_preset, choose_preset
from .registry import ALIASES, apply_core, canonical, corruption

#: Reference name -> level function ``fn(x, c, seed)``.
LEVELS = {
    "gaussian_noise": random.gaussian_noise, "shot_noise": random.shot_noise, "impulse_noise": random.impulse_noise,
    "speckle_noise": random.speckle_noise, "defocus_blur": blur.defocus_blur_level,
    "glass_blur": blur.glass_blur_level, "motion_blur": blur.motion_blur_level, "zoom_blur": blur.zoom_blur_level,
    "gaussian_blur": blur.gaussian_blur_level, "snow": weather.snow_level, "frost": weather.frost_level,
    "fog": weather.fog_level, "spatter": spatter.spatter_level, "brightness": digital.brightness_level,
    "contrast": digital.contrast_level, "saturate": digital.saturate_level,
    "elastic_transform": digital.elastic_transform_level, "pixelate": digital.pixelate_level,
    "jpeg_compression": digital.jpeg_level,
}
#: Per-preset settings the reference changes besides the table (fog's map size, frost's shrinking).
PRESET_OPTIONS = {("fog", "cifar10-c"): {"mapsize": 32}, ("frost", "cifar10-c"): {"shrink": True}}
_REFERENCE_NAME = {v: k for k, v in ALIASES.items()}


def reference_name(name: str) -> str:
    """The reference's name of a corruption given either name (``"gaussian"`` -> ``"gaussian_noise"``)."""
    return _REFERENCE_NAME.get(canonical(name), canonical(name))


def available(name: str) -> bool:
    """Whether ``name`` can run here (frost needs its pictures installed, see :mod:`.weather`)."""
    return reference_name(name) != "frost" or weather.frost_dir() is not None


def level_function(name: str, level: int, preset: str):
    """``fn(x, seed)`` applying the reference's ``level`` of ``name`` in ``preset`` (no checks, no clipping)."""
    ref = reference_name(name)
    if ref not in LEVELS:
        raise ConfigError(f"unknown corruption {name!r}; expected one of {', '.join(BENCHMARK + EXTRA)} "
                          f"(or {', '.join(ALIASES.values())})")
    if not available(ref):
        raise ConfigError(weather.FROST_MISSING)
    c = TABLES[preset][ref][check_level(level) - 1]
    return functools.partial(LEVELS[ref], c=c, **PRESET_OPTIONS.get((ref, preset), {}))


def corrupt(x, name: str, level: int, *, preset: str = "imagenet-c", seed=0):
    """Apply the reference corruption ``name`` at ``level`` (1..5) of ``preset`` to float [0, 1] images.

    Args:
        x: an image ``[H, W, C]`` or a batch ``[N, H, W, C]`` of floats in [0, 1] (1 or 3 channels;
            grey images are treated as RGB with equal channels, as the reference converts them).
        name: one of the reference's names (``gaussian_noise``, ``shot_noise``, ``impulse_noise``,
            ``defocus_blur``, ``glass_blur``, ``motion_blur``, ``zoom_blur``, ``snow``, ``frost``, ``fog``,
            ``brightness``, ``contrast``, ``elastic_transform``, ``pixelate``, ``jpeg_compression``,
            ``speckle_noise``, ``gaussian_blur``, ``spatter``, ``saturate``) or this package's
            (``gaussian``, ``shot``, ``salt_and_pepper``, ``speckle``, ``jpeg``).
        level: the severity level, 1..5.
        preset: ``"imagenet-c"`` (224-px constants), ``"cifar10-c"`` (32-px constants) or ``"auto"``
            (CIFAR-10-C when the shorter side is at most 64 px).
        seed: an int (or int tensor); the same seed gives the same output.

    Returns:
        The corrupted images, same shape and dtype as ``x``, clipped to [0, 1].

    Example:
        >>> x = tf.random.uniform([2, 32, 32, 3])
        >>> corrupt(x, "motion_blur", 3, preset="cifar10-c").shape
        TensorShape([2, 32, 32, 3])
    """
    check_preset(preset)
    tname = canonical(name)
    shape = tf.convert_to_tensor(x).shape
    if shape.rank not in (3, 4) or None in shape[-3:]:
        raise ConfigError(f"{name}: images must be HWC or NHWC with known H, W, C, got shape {shape}")
    chosen = choose_preset(preset, shape[-3], shape[-2])
    fn = level_function(name, level, chosen)
    return apply_core(tname, x, seed, lambda xf, pair: tf.ensure_shape(
        tf.clip_by_value(fn(xf, seed=pair), 0.0, 1.0), xf.shape))


def preset_transform(name: str, preset: str = "auto"):
    """A sweep transform ``fn(model, x, y, *, level, seed=0)`` of ``corrupt`` (level 0 is the clean image).

    Example:
        >>> res = sweep(model, (x, y), preset_transform("fog"), "level", [1, 2, 3, 4, 5])  # doctest: +SKIP
    """
    check_preset(preset)
    level_function(name, 1, "imagenet-c" if preset == "auto" else preset)  # fail early on a bad name
    compiled = {}

    def transform(model, x, y, *, level, seed=0):
        del model, y
        level = int(round(float(level)))
        x = tf.convert_to_tensor(x, tf.float32)
        if level == 0:
            return x
        if level not in compiled:
            compiled[level] = tf.function(lambda t, s, level=level: corrupt(t, name, level, preset=preset, seed=s),
                                          reduce_retracing=True)
        return compiled[level](x, tf.constant(int(seed), tf.int64))

    transform.__name__ = reference_name(name)
    return transform


def level_scaled(name: str):
    """The registered continuous core of ``name``: level ``k`` at severity ``k / 5``, outputs blended between."""

    def core(x, s, seed):
        preset = choose_preset("auto", x.shape[1], x.shape[2])
        fns = [None] + [level_function(name, k, preset) for k in range(1, 6)]

        def level(k):
            return x if k == 0 else tf.clip_by_value(fns[k](x, seed=seed), 0.0, 1.0)

        static = tf.get_static_value(s)
        if static is not None:  # a known severity: only the one or two levels it needs
            pos = 5.0 * float(static)
            k = min(int(pos), 5)
            t = pos - k
            return level(k) if t <= 1e-7 else (1 - t) * level(k) + t * level(k + 1)
        pos = 5.0 * s
        k = tf.minimum(tf.cast(tf.floor(pos), tf.int32), 4)
        t = pos - tf.cast(k, tf.float32)
        return tf.switch_case(k, [lambda k=k_: (1 - t) * level(k) + t * level(k + 1) for k_ in range(5)])

    core.__name__ = name
    core.__qualname__ = name
    core.__doc__ = (f"The reference's ``{name}`` on a continuous scale: level ``k`` of the preset chosen by image "
                    f"size (:func:`~.presets.choose_preset`) at severity ``k / 5``, outputs blended linearly between.")
    return corruption(name)(core)
