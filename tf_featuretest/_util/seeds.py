"""Derived seeds: one rule for turning a user's seed into the seeds of sub-steps.

Every random choice of the package takes a seed. A sub-step ``k`` of a seeded computation (a batch,
a noise's second random draw, an anchor block) gets ``derive(seed, k)``; stateless TensorFlow ops
take a ``[2]`` seed pair (:func:`seed_pair`, :func:`sub_seed`). The multiplier is a prime so that
derived seeds of different base seeds rarely collide.

Example:
    >>> derive(3, 2)
    23759
"""
from __future__ import annotations

import numbers

import numpy as np

from ..errors import ConfigError

#: The multiplier of every derived seed.
SEED_PRIME = 7919


def derive(seed: int, k: int) -> int:
    """The seed of sub-step ``k`` of a computation seeded with ``seed``: ``seed * 7919 + k``."""
    return int(seed) * SEED_PRIME + int(k)


def sub_seed(pair, k: int):
    """The ``k``-th independent stateless seed pair derived from a seed pair (a ``[2]`` int tensor)."""
    import tensorflow as tf

    return tf.stack([pair[0], pair[1] + SEED_PRIME * (k + 1)])


def seed_pair(seed):
    """A ``[2]`` int64 seed for stateless random ops from an int, or a fresh random one for None."""
    import tensorflow as tf

    if seed is None:
        seed = int(np.random.default_rng().integers(0, 2**31 - 1))
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ConfigError(f"seed must be an int or None, got {seed!r}")
    return tf.constant([int(seed) & 0x7FFFFFFF, 0x5EED], tf.int64)
