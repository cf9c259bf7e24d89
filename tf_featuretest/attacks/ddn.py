"""Decoupled Direction and Norm (Rony et al., CVPR 2019): a fast minimal-L2 attack.

Each iteration takes a gradient step of size ``alpha_k`` along the normalised gradient of the
cross-entropy (towards the target, or away from the label when untargeted), then projects the
perturbation onto the L2 sphere of radius ``eps_k``, and the radius adapts: it shrinks by
``1 - gamma`` while the current iterate is adversarial and grows by ``1 + gamma`` while it is not
(never past the largest perturbation [0, 1] allows). The answer is the adversarial iterate of
smallest L2 norm seen, the original image where none was. As in the authors' reference code:

* ``delta_0 = 0`` and ``eps_0 = init_norm``;
* ``alpha_k`` follows cosine annealing from 1 to 0.01 over ``steps`` (PyTorch's
  ``CosineAnnealingLR(T_max=steps, eta_min=0.01)`` stepped before each update);
* a zero gradient is replaced by a random direction (seeded: the only randomness);
* every iterate is clipped to [0, 1]; an L2 cap ``eps`` rescales a longer final answer to ``eps``
  (a capped image may no longer be adversarial and then counts as a failure).

Quantisation of the iterates (the paper's optional step for 8-bit images) is not done.

Example:
    >>> x_adv = ddn(model, x, y, target=(y + 1) % 10, steps=100)  # doctest: +SKIP
"""
from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from .._util import cache, checks, seeds
from ..models.introspection import as_logits_model
from . import _minimal as mn

__all__ = ["ddn", "ddn_tf"]

_TINY = 1e-12
#: The last step size of the cosine schedule, as a fraction of the first (the reference's eta_min).
ALPHA_MIN = 0.01


def _norm(v):
    return tf.sqrt(tf.reduce_sum(tf.square(v), axis=[1, 2, 3]))


def ddn_tf(model, x, y, target, *, steps, gamma=0.05, init_norm=1.0, alpha=1.0, seed=None):
    """Pure-TF DDN core (a ``tf.while_loop``; usable inside ``tf.function`` and SavedModel signatures).

    Args:
        model: a callable returning logits.
        x: float32 images ``[N, H, W, C]`` in [0, 1].
        y: int ``[N]`` labels.
        target: int ``[N]`` targets; ``-1`` means untargeted for that image (any class but ``y``).
        steps: iterations (scalar).
        gamma: the factor by which the radius shrinks or grows per iteration.
        init_norm: the first radius.
        alpha: the first step size (cosine-annealed down to ``ALPHA_MIN * alpha``).
        seed: ``[2]`` int tensor for the random directions that replace zero gradients.

    Returns:
        ``(x_adv, found)``: the adversarial iterate of smallest L2 (``x`` where none) and a bool ``[N]``.
    """
    x = tf.convert_to_tensor(x, tf.float32)
    n = tf.shape(x)[0]
    use, targeted = mn.objective(target, y)
    steps = tf.cast(steps, tf.int32)
    total = tf.cast(steps, tf.float32)
    gamma = tf.cast(gamma, tf.float32)
    alpha = tf.cast(alpha, tf.float32)
    seed = tf.zeros([2], tf.int32) if seed is None else tf.cast(seed, tf.int32)
    worst = _norm(tf.maximum(x, 1.0 - x))
    sign = mn.flat(tf.where(targeted, -1.0, 1.0), x)  # descend the target's CE, ascend the label's

    def body(k, delta, radius, best_l2, best):
        kf = tf.cast(k + 1, tf.float32)
        step = alpha * (ALPHA_MIN + (1.0 - ALPHA_MIN) * 0.5 * (1.0 + tf.cos(math.pi * kf / total)))
        with tf.GradientTape() as tape:
            tape.watch(delta)
            xa = x + delta
            logits = tf.cast(model(xa, training=False), tf.float32)
            ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=use, logits=logits)
            loss = tf.reduce_sum(ce)
        grad = tape.gradient(loss, delta)
        l2 = _norm(delta)
        pred = tf.argmax(logits, -1, output_type=tf.int32)
        adv = tf.where(targeted, tf.equal(pred, use), tf.not_equal(pred, use))
        better = tf.logical_and(adv, l2 < best_l2)
        best_l2 = tf.where(better, l2, best_l2)
        best = tf.where(mn.flat(better, x), xa, best)
        gn = _norm(grad)
        rnd = tf.random.stateless_normal(tf.shape(x), seed + tf.stack([k, 0]))
        direction = tf.where(mn.flat(gn > 0, x), grad / mn.flat(tf.maximum(gn, _TINY), x),
                             rnd / mn.flat(tf.maximum(_norm(rnd), _TINY), x))
        delta = delta + sign * step * direction
        radius = tf.minimum(radius * tf.where(adv, 1.0 - gamma, 1.0 + gamma), worst)
        delta = delta * mn.flat(radius / tf.maximum(_norm(delta), _TINY), x)
        delta = tf.clip_by_value(x + delta, 0.0, 1.0) - x
        return k + 1, delta, radius, best_l2, best

    start = (tf.constant(0), tf.zeros_like(x), tf.fill([n], tf.cast(init_norm, tf.float32)),
             tf.fill([n], np.float32(np.inf)), x)
    out = tf.while_loop(lambda k, *_: k < steps, body, start)
    return out[4], tf.math.is_finite(out[3])


def _compiled(model):
    def build():
        call = cache.weak_call(as_logits_model(model))

        def run(x, y, target, steps, gamma, init_norm, seed):
            return ddn_tf(call, x, y, target, steps=steps, gamma=gamma, init_norm=init_norm, seed=seed)[0]

        return tf.function(run, reduce_retracing=True)

    return cache.cached(model, ("ddn",), build)


def ddn(model, x, y, *, target=None, steps=100, gamma=0.05, init_norm=1.0, eps=None, norm=2, batch_size=256,
        seed=None):
    """Decoupled Direction and Norm, targeted or untargeted (see the module text).

    Args:
        model: a Keras classifier (logits, or a final softmax which is stripped).
        x: float32 images ``[N, H, W, C]`` in [0, 1].
        y: integer labels ``[N]``.
        target: the target class, or one per image; None: untargeted (any class but ``y``).
        steps: iterations.
        gamma: the radius shrinks by ``1 - gamma`` or grows by ``1 + gamma`` per iteration, in (0, 1).
        init_norm: the first radius (L2), > 0.
        eps: optional L2 cap on the answer (None: no cap); a longer answer is scaled down to it.
        norm: the norm of the cap; only ``2``.
        batch_size: images per compiled call.
        seed: seed of the random directions used where a gradient is exactly zero.

    Returns:
        A float32 ``tf.Tensor`` in [0, 1]; images never made adversarial are returned unchanged.

    Example:
        >>> x_adv = ddn(model, x, y, target=8, steps=100, seed=0)  # doctest: +SKIP
    """
    eps, norm = mn.check_cap(eps, norm)
    checks.choice(norm, "norm (ddn minimises L2)", (2,))
    steps = checks.positive_int(steps, "steps", allow_integral_float=True)
    gamma = checks.number(gamma, "gamma", low=0.0, high=1.0, low_open=True, high_open=True)
    init_norm = checks.positive(init_norm, "init_norm")
    seed = checks.seed(seed, allow_none=True)
    _, x, y, t = mn.prepare_any(model, x, y, target, name="ddn")
    if int(x.shape[0]) == 0 or eps == 0:
        return tf.identity(x)
    fn = _compiled(model)
    pair = seeds.seed_pair(seed)

    def call(xb, yb, tb):
        return fn(xb, yb, tb, tf.constant(steps), tf.constant(gamma, tf.float32), tf.constant(init_norm, tf.float32),
                  pair)

    out = mn.run_batched_many(call, batch_size, x, y, t)
    if eps is not None:
        out = mn.cap_l2(x.numpy(), out, eps)
    return tf.constant(out)
