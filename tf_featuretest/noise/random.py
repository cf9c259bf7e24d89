"""Random noise: additive Gaussian and uniform, impulse (salt and pepper), speckle and shot (Poisson).

Each reference corruption has a level function ``fn(x, c, seed)`` taking the reference's own
parameter ``c`` (``make_imagenet_c.py`` / ``make_cifar_c.py``, see :mod:`.presets`); the registered
noise maps the continuous severity ``s`` onto that parameter and calls the same function.
"""
from __future__ import annotations

import math

import tensorflow as tf

from .registry import corruption


def gaussian_noise(x, c, seed):
    """The reference's ``gaussian_noise``: ``x + N(0, c^2)`` per value."""
    return x + c * tf.random.stateless_normal(tf.shape(x), seed)


def shot_noise(x, c, seed):
    """The reference's ``shot_noise``: ``Poisson(c x) / c`` (exact Poisson, ``tf.random.stateless_poisson``)."""
    c = tf.cast(c, tf.float32)
    return tf.random.stateless_poisson(tf.shape(x), seed, x * c, dtype=tf.float32) / c


def impulse_noise(x, c, seed):
    """The reference's ``impulse_noise`` (scikit-image ``random_noise(mode="s&p", amount=c)``).

    A fraction ``c`` of the values is replaced, half of them by 1 (salt) and half by 0 (pepper).
    """
    u = tf.random.stateless_uniform(tf.shape(x), seed)
    return tf.where(u < c / 2, 1.0, tf.where(u < c, 0.0, x))


def speckle_noise(x, c, seed):
    """The reference's ``speckle_noise``: ``x + x N(0, c^2)``."""
    return x + x * c * tf.random.stateless_normal(tf.shape(x), seed)


@corruption("gaussian")
def gaussian(x, s, seed):
    """Additive Gaussian noise, standard deviation ``0.5 s``."""
    return gaussian_noise(x, 0.5 * s, seed)


@corruption("uniform")
def uniform(x, s, seed):
    """Additive uniform noise on ``[-a, a]`` with ``a = 0.5 sqrt(3) s`` (same std as ``gaussian``)."""
    return x + 0.5 * math.sqrt(3.0) * s * tf.random.stateless_uniform(tf.shape(x), seed, -1.0, 1.0)


@corruption("salt_and_pepper")
def salt_and_pepper(x, s, seed):
    """Impulse noise: a fraction ``0.5 s`` of values replaced, half by 1 (salt) and half by 0 (pepper)."""
    return impulse_noise(x, 0.5 * s, seed)


@corruption("speckle")
def speckle(x, s, seed):
    """Multiplicative noise ``x + x n`` with ``n ~ N(0, s^2)``."""
    return speckle_noise(x, s, seed)


@corruption("shot")
def shot(x, s, seed):
    """Poisson (photon) noise with ``1 / s^2`` photons at full intensity: ``Poisson(x / s^2) s^2`` (exact)."""
    return shot_noise(x, 1.0 / tf.square(tf.maximum(s, 1e-3)), seed)
