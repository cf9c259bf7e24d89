"""Random noise: additive Gaussian and uniform, impulse (salt and pepper), speckle and shot (Poisson)."""
from __future__ import annotations

import math

import tensorflow as tf

from .._util.seeds import sub_seed
from .registry import corruption


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
