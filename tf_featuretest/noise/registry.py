"""The noise registry and the contract every corruption shares.

Every registered noise is ``fn(x, severity, *, seed=0) -> x'``: ``x`` is an image (HWC) or a batch
(NHWC) of floats in [0, 1], ``severity`` a float in [0, 1] (0 is exactly the identity, 1 the
strongest level that still makes sense) or a scalar tensor, ``seed`` an int or int tensor. A
corruption is written as a pure-TF core ``core(x [N,H,W,C] float32, s scalar, seed [2]) -> x'``;
:func:`corruption` turns it into the public function (argument checks, HWC or NHWC input,
identity at severity 0, clipping to [0, 1], the input's dtype kept). :func:`noise_transform` makes
a noise a sweep transform ``fn(model, x, y, *, severity, seed)``.
"""
from __future__ import annotations

import math
import numbers
import zlib

import tensorflow as tf

from ..errors import ConfigError

#: name -> noise function, in the order the report lists them (filled by :mod:`tf_featuretest.noise`).
NOISES: dict = {}

#: The reference's (``make_imagenet_c.py``) names of corruptions registered here under another name.
ALIASES = {"gaussian_noise": "gaussian", "shot_noise": "shot", "impulse_noise": "salt_and_pepper",
           "speckle_noise": "speckle", "jpeg_compression": "jpeg"}


def canonical(name: str) -> str:
    """The registry name of ``name`` (a registry name or one of the reference's names in :data:`ALIASES`)."""
    return ALIASES.get(name, name)


def register(*fns) -> None:
    """Add corruptions made with :func:`corruption` to :data:`NOISES`, in the order given."""
    for fn in fns:
        name = getattr(fn, "noise_name", None)
        if not name:
            raise ConfigError(f"{fn!r} is not a corruption (make it with @corruption(name))")
        NOISES[name] = fn


def parse_severity(severity, name):
    if isinstance(severity, numbers.Real) or (hasattr(severity, "ndim") and not tf.is_tensor(severity)):
        value = float(severity)
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            raise ConfigError(f"{name}: severity must be in [0, 1], got {severity!r}")
        return value, tf.constant(value, tf.float32)
    s = tf.cast(severity, tf.float32)
    if s.shape.rank not in (None, 0):
        raise ConfigError(f"{name}: severity must be a scalar, got shape {s.shape}")
    return None, tf.clip_by_value(tf.reshape(s, []), 0.0, 1.0)


def name_salt(name: str) -> int:
    """The second half of a corruption's seed pair: a hash of its registry name (same seed, other draws)."""
    return zlib.crc32(name.encode()) & 0x3FFFFFFF


def apply_core(name, x, seed, run):
    """The contract around a pure-TF core: checks, HWC or NHWC input, clipping, the input's dtype kept.

    ``run(xf [N,H,W,C] float32, seed_pair [2] int64) -> x'``; used by :func:`corruption` and by
    :func:`tf_featuretest.noise.corrupt` (which have the same seeding, so equal calls give equal images).
    """
    x = tf.convert_to_tensor(x)
    if not x.dtype.is_floating:
        raise ConfigError(f"{name}: images must be floats in [0, 1], got dtype {x.dtype.name}")
    rank = x.shape.rank
    if rank not in (3, 4) or None in x.shape[-3:]:
        raise ConfigError(f"{name}: images must be HWC or NHWC with known H, W, C, got shape {x.shape}")
    if seed is None or isinstance(seed, bool) or not (isinstance(seed, numbers.Integral) or tf.is_tensor(seed)):
        raise ConfigError(f"{name}: seed must be an integer, got {seed!r}")
    seed_pair = tf.stack([tf.cast(seed, tf.int64), tf.constant(name_salt(name), tf.int64)])
    xf = tf.cast(x, tf.float32)
    if rank == 3:
        xf = xf[None]
    out = run(xf, seed_pair)
    if rank == 3:
        out = out[0]
    return tf.cast(out, x.dtype)


def corruption(name):
    """Decorator: wrap a core ``(x [N,H,W,C] float32, s scalar, seed [2]) -> x'`` as a registered noise."""

    def deco(core):
        @tf.autograph.experimental.do_not_convert
        def fn(x, severity, *, seed=0):
            value, s = parse_severity(severity, name)

            def run(xf, seed_pair):
                def apply():
                    return tf.ensure_shape(tf.clip_by_value(core(xf, s, seed_pair), 0.0, 1.0), xf.shape)

                if value is not None:
                    return apply() if value > 0 else xf
                return tf.cond(s > 0, apply, lambda: xf)

            return apply_core(name, x, seed, run)

        # Copied by hand: functools.wraps would set __wrapped__, which autograph follows to the core.
        fn.__name__, fn.__qualname__, fn.__doc__ = core.__name__, core.__qualname__, core.__doc__
        fn.__module__ = core.__module__
        fn.noise_name = name
        return fn

    return deco


def get_noise(name: str):
    """The noise registered as ``name`` (or its reference alias); :class:`ConfigError` listing the names otherwise."""
    if canonical(name) not in NOISES:
        raise ConfigError(f"unknown noise {name!r}; expected one of {', '.join(NOISES)} "
                          f"(or the reference's names {', '.join(ALIASES)})")
    return NOISES[canonical(name)]


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
    return tuple(canonical(n) for n in names)


def noise_transform(name: str):
    """An ``evaluate.sweep`` transform ``fn(model, x, y, *, severity, seed=0) -> x'`` for noise ``name``.

    The noise is compiled once per returned transform (one ``tf.function`` with severity and seed as
    tensors, so a sweep over many severities traces once per input shape).

    Example:
        >>> res = sweep(model, (x, y), noise_transform("gaussian"), "severity", [0, 0.5, 1])  # doctest: +SKIP
    """
    fn = get_noise(name)
    name = canonical(name)
    compiled = tf.function(lambda x, s, seed: fn(x, s, seed=seed), reduce_retracing=True)

    def transform(model, x, y, *, severity, seed=0):
        del model, y
        value, _ = parse_severity(severity, name)
        if value is None:
            raise ConfigError(f"{name}: a sweep severity must be a Python number, got {severity!r}")
        x = tf.convert_to_tensor(x, tf.float32)
        if value == 0.0:
            return x
        return compiled(x, tf.constant(value, tf.float32), tf.constant(int(seed), tf.int64))

    transform.__name__ = name
    transform.noise_name = name
    return transform
