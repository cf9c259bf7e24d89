"""Carlini-Wagner L2 (Carlini & Wagner, IEEE S&P 2017): the smallest L2 change that reaches a target.

Targeted (``target=``) or untargeted (``target=None``: any class but ``y``, with the margin
``max_{i != y} Z_i - Z_y``, as in the reference implementation's untargeted mode).

The textbook algorithm, batched and compiled once per model:

* change of variables ``x' = (tanh(w) + 1) / 2`` (section V), so every iterate is a valid image;
* minimise ``||x' - x||_2^2 + c * max(max_{i != t} Z_i(x') - Z_t(x'), -kappa)`` with Adam
  (learning rate 0.01), starting every binary-search step from ``w = arctanh(2x - 1)``;
* binary search on ``c`` per image: starting at ``initial_const``; after a step that reached the
  target with margin ``kappa`` the upper bound drops to ``c`` and ``c`` halves towards the lower
  bound, after a step that did not the lower bound rises to ``c`` and ``c`` is multiplied by 10
  until an upper bound is known, then bisected;
* the answer is the reached image of smallest L2 over all steps (the original when none reached);
* early abort: every ``steps // 10`` iterations, an image whose loss did not fall below 0.9999 of
  its value at the last check stops for that binary-search step.

One deviation, for batch independence: the early abort is decided per image (the reference
implementation compares the loss summed over the batch), so an image's result does not depend on
which other images share its batch. ``eps`` caps the change: an L-inf cap shrinks the tanh box
to ``[x - eps, x + eps]`` (the attack searches inside it), an L2 cap scales a longer answer down
(Foolbox's convention for minimisation attacks; the model is asked again, so a capped image that
no longer reaches the target counts as a failure).

Example:
    >>> x_adv = cw(model, x, y, target=(y + 1) % 10, steps=200, binary_steps=6)  # doctest: +SKIP
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from .._util import cache, checks
from ..models.introspection import as_logits_model
from . import _minimal as mn

__all__ = ["cw", "cw_tf"]


def cw_tf(model, x, target, lo, hi, *, steps, binary_steps, initial_const=1e-3, learning_rate=1e-2, kappa=0.0,
          abort_early=True, y=None):
    """Pure-TF C&W L2 core (usable inside ``tf.function`` and SavedModel signatures).

    Args:
        model: a callable returning logits.
        x: float32 images ``[N, H, W, C]`` inside ``[lo, hi]``.
        target: int ``[N]`` target classes; ``-1`` means untargeted for that image (needs ``y``).
        lo, hi: the box each pixel may move in (``[0, 1]`` for the textbook attack).
        steps: Adam iterations per binary-search step (scalar).
        binary_steps: binary-search steps on the constant ``c`` (scalar).
        initial_const: the first ``c`` of every image.
        learning_rate: Adam's step size.
        kappa: the confidence margin ``Z_t - max_{i != t} Z_i`` a reached image must exceed.
        abort_early: stop an image's binary-search step when its loss stalls.
        y: int ``[N]`` true labels, used where ``target`` is ``-1``: the margin is then
            ``max_{i != y} Z_i - Z_y`` ("any class but y").

    Returns:
        ``(x_adv, reached)``: the reached image of smallest L2 (``x`` where none reached) and a bool ``[N]``.
    """
    x = tf.convert_to_tensor(x, tf.float32)
    n = tf.shape(x)[0]
    target = tf.cast(tf.reshape(target, [-1]), tf.int32)
    use, targeted = mn.objective(target, target if y is None else y)
    steps = tf.cast(steps, tf.int32)
    binary_steps = tf.cast(binary_steps, tf.int32)
    kappa = tf.cast(kappa, tf.float32)
    lr = tf.cast(learning_rate, tf.float32)
    check_every = tf.maximum(steps // 10, 1)
    w0 = mn.from_box(x, lo, hi)
    inf = tf.fill([n], np.float32(np.inf))

    def one_constant(const, best_l2, best):
        """Adam on ``w`` for one ``c`` per image: ``(reached_now, best_l2, best)``."""

        def cond(i, w, m, v, active, prev, hit, best_l2, best):
            return tf.logical_and(i < steps, tf.reduce_any(active))

        def body(i, w, m, v, active, prev, hit, best_l2, best):
            with tf.GradientTape() as tape:
                tape.watch(w)
                xa = mn.to_box(w, lo, hi)
                logits = tf.cast(model(xa, training=False), tf.float32)
                l2 = mn.sq_l2(xa, x)
                m_now = mn.signed_margin(logits, use, targeted)
                f = tf.maximum(-m_now, -kappa)
                loss = l2 + const * f
                total = tf.reduce_sum(loss)
            grad = tape.gradient(total, w)
            ok = tf.logical_and(active, m_now > kappa)
            hit = tf.logical_or(hit, ok)
            better = tf.logical_and(ok, l2 < best_l2)
            best_l2 = tf.where(better, l2, best_l2)
            best = tf.where(mn.flat(better, x), xa, best)
            w_new, m_new, v_new = mn.adam(w, grad, m, v, i + 1, lr)
            keep = mn.flat(active, x)
            w, m, v = tf.where(keep, w_new, w), tf.where(keep, m_new, m), tf.where(keep, v_new, v)
            check = tf.logical_and(abort_early, i % check_every == 0)  # i = 0 only records the loss
            stalled = tf.logical_and(check, loss > prev * 0.9999)
            active = tf.logical_and(active, tf.logical_not(stalled))
            prev = tf.where(check, loss, prev)
            return i + 1, w, m, v, active, prev, hit, best_l2, best

        zeros = tf.zeros_like(x)
        out = tf.while_loop(cond, body, [tf.constant(0), w0, zeros, zeros, tf.ones([n], tf.bool),
                                         inf, tf.zeros([n], tf.bool), best_l2, best])
        return out[6], out[7], out[8]

    def outer(b, const, lower, upper, best_l2, best):
        hit, best_l2, best = one_constant(const, best_l2, best)
        upper = tf.where(hit, tf.minimum(upper, const), upper)
        lower = tf.where(hit, lower, tf.maximum(lower, const))
        known = upper < 1e9
        const = tf.where(known, (lower + upper) / 2.0, const * 10.0)
        return b + 1, const, lower, upper, best_l2, best

    start = [tf.constant(0), tf.fill([n], tf.cast(initial_const, tf.float32)), tf.zeros([n]), tf.fill([n], 1e10),
             inf, x]
    out = tf.while_loop(lambda b, *_: b < binary_steps, outer, start)
    best_l2 = out[4]
    # lo + (hi - lo) * 1 may round one ulp past hi: keep the answer inside its box
    return tf.clip_by_value(out[5], lo, hi), tf.math.is_finite(best_l2)


def _compiled(model, initial_const, learning_rate, kappa, abort_early):
    key = ("cw", float(initial_const), float(learning_rate), float(kappa), bool(abort_early))

    def build():
        call = cache.weak_call(as_logits_model(model))

        def run(x, y, target, lo, hi, steps, binary_steps):
            return cw_tf(call, x, target, lo, hi, steps=steps, binary_steps=binary_steps, initial_const=initial_const,
                         learning_rate=learning_rate, kappa=kappa, abort_early=abort_early, y=y)[0]

        return tf.function(run, reduce_retracing=True)

    return cache.cached(model, key, build)


def cw(model, x, y, *, target=None, eps=None, norm=np.inf, steps=200, binary_steps=6, initial_const=1e-3,
       learning_rate=1e-2, kappa=0.0, abort_early=True, batch_size=256, seed=None):
    """Carlini-Wagner L2: the successful image of smallest L2 per input (see the module text).

    Args:
        model: a Keras classifier (logits, or a final softmax which is stripped).
        x: float32 images ``[N, H, W, C]`` in [0, 1].
        y: integer labels ``[N]``.
        target: the target class, or one per image; None: untargeted (any class but ``y``).
        eps: optional cap on the change (None: no cap, the textbook attack).
        norm: the norm of the cap, ``np.inf`` (a box the search stays in) or ``2`` (a longer answer
            is scaled down).
        steps: Adam iterations per binary-search step.
        binary_steps: binary-search steps on the constant ``c``.
        initial_const: the first ``c``.
        learning_rate: Adam's step size.
        kappa: confidence margin on the logits.
        abort_early: stop an image's step when its loss stalls.
        batch_size: images per compiled call.
        seed: accepted for the common attack signature; C&W is deterministic.

    Returns:
        A float32 ``tf.Tensor`` in [0, 1]; images that never succeeded are returned unchanged.

    Example:
        >>> x_adv = cw(model, x, y, target=8, steps=100, binary_steps=5)  # doctest: +SKIP
    """
    eps, norm = mn.check_cap(eps, norm)
    steps = checks.positive_int(steps, "steps", allow_integral_float=True)
    binary_steps = checks.positive_int(binary_steps, "binary_steps", allow_integral_float=True)
    initial_const = checks.number(initial_const, "initial_const", low=0.0, low_open=True)
    learning_rate = checks.number(learning_rate, "learning_rate", low=0.0, low_open=True)
    kappa = checks.non_negative(kappa, "kappa")
    checks.seed(seed, allow_none=True)
    lm, x, y, t = mn.prepare_any(model, x, y, target, name="cw")
    if int(x.shape[0]) == 0 or eps == 0:
        return tf.identity(x)
    fn = _compiled(model, initial_const, learning_rate, kappa, bool(abort_early))
    box_eps = eps if norm == "inf" else None

    def call(xb, yb, tb):
        lo, hi = mn.box(xb, box_eps)
        return fn(xb, yb, tb, lo, hi, tf.constant(steps), tf.constant(binary_steps))

    out = mn.run_batched_many(call, batch_size, x, y, t)
    if eps is not None and norm == 2:
        out = mn.cap_l2(x.numpy(), out, eps)
    return tf.constant(out)
