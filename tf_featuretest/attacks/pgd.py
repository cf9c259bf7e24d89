"""Projected gradient descent (Madry et al., 2018) and the basic iterative method (Kurakin et al., 2017).

Each step moves ``step_size`` along the signed (L-inf) or normalised (L2) loss gradient, then
projects onto the eps-ball around the input and onto [0, 1]:
``x_{k+1} = clip(clip(x_k + a * sign(g_k), x - eps, x + eps), 0, 1)``. ``random_start=False``
gives BIM. With ``early_stop=True`` an image stops moving at the first iterate that succeeds.

The Python entry point runs a Python loop over one compiled step (about as fast as one
forward/backward pass per step on CPU); :func:`pgd_tf` is the same iteration as a
``tf.while_loop`` for SavedModel export.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from .._util import cache, seeds
from ..models.introspection import as_logits_model, num_classes
from . import _ops


def _step(model, x_adv, x0, labels, target, eps, step_size, active, norm, early_stop):
    """One PGD iterate; with ``early_stop`` only images still ``active`` and not yet successful move.

    Returns ``(x_next, still_active)``.
    """
    use, sign, _ = _ops.objective(target, labels)
    grad, logits = _ops.loss_gradient(model, x_adv, use, sign)
    moved = _ops.project(x_adv + _ops.ascent_step(grad, step_size, norm), x0, eps, norm)
    if not early_stop:
        return moved, active
    move = tf.logical_and(active, tf.logical_not(_ops.succeeded(logits, labels, target)))
    return tf.where(tf.reshape(move, [-1, 1, 1, 1]), moved, x_adv), move


def pgd_tf(model, x, y, eps, step_size, steps, target, norm="inf", random_start=False, seed=None,
           early_stop=False, start=None):
    """Pure-TensorFlow PGD core (a ``tf.while_loop``), callable inside ``tf.function`` for export.

    Args:
        model: a Keras model returning logits.
        x: float32 images ``[N, H, W, C]`` in [0, 1].
        y: int64 labels ``[N]``.
        eps, step_size: float32 scalars (or ``[N]``).
        steps: int32 scalar.
        target: int64 scalar or ``[N]``; ``-1`` means untargeted.
        norm: ``"inf"`` or ``2``.
        random_start: start from a uniform point of the eps-ball (needs ``seed``, a ``[2]`` int tensor).
        early_stop: freeze each image at its first successful iterate.
        start: the first iterate (inside the eps-ball around ``x``); overrides ``random_start``.

    Returns:
        Adversarial images in [0, 1].

    Example:
        >>> x_adv = pgd_tf(model, x, y, 0.1, 0.01, 40, tf.constant(-1, tf.int64))  # doctest: +SKIP
    """
    norm = _ops.check_norm(norm)
    eps = _ops.per_image(eps, x)
    step_size = _ops.per_image(step_size, x)
    if start is not None:
        x_adv = tf.convert_to_tensor(start, x.dtype)
    else:
        x_adv = _ops.random_start(x, eps, norm, seed) if random_start else tf.identity(x)
    n = tf.shape(x)[0]

    def body(i, xa, active):
        xa, active = _step(model, xa, x, y, target, eps, step_size, active, norm, early_stop)
        return i + 1, xa, active

    _, x_adv, _ = tf.while_loop(lambda i, xa, a: i < tf.cast(steps, tf.int32), body,
                                (tf.constant(0), x_adv, tf.ones([n], tf.bool)))
    return x_adv


def pgd(model, x, y, *, eps, step_size=None, steps=40, target=None, norm=np.inf, random_start=True,
        early_stop=False, seed=None):
    """Projected gradient descent attack, L-inf or L2, targeted or untargeted.

    Softmax-output models are detected and attacked through their logits.

    Args:
        model: a Keras classifier (logits, or a final softmax which is stripped).
        x: float32 images ``[N, H, W, C]`` in [0, 1].
        y: integer labels ``[N]``.
        eps: radius of the perturbation ball (L-inf: per pixel; L2: per image).
        step_size: step per iteration; default ``2.5 * eps / steps`` (Madry et al.).
        steps: number of iterations.
        target: None (untargeted), a class, or one class per image.
        norm: ``np.inf`` or ``2``.
        random_start: start at a uniform random point of the eps-ball; False gives BIM.
        early_stop: stop moving each image once it is misclassified (or hits the target); the loop
            ends when every image has succeeded.
        seed: seed of the random start; the same seed gives the same output.

    Returns:
        A float32 ``tf.Tensor`` of adversarial images in [0, 1].

    Example:
        >>> x_adv = pgd(model, x, y, eps=0.1, steps=20, seed=0)  # doctest: +SKIP
    """
    norm = _ops.check_norm(norm)
    eps = _ops.check_eps(eps)
    steps = _ops.check_steps(steps)
    step_size = 2.5 * eps / steps if step_size is None else _ops.check_eps(step_size, "step_size")
    lm = as_logits_model(model)
    k = num_classes(lm)
    x, y = _ops.check_inputs(x, y, k)
    n = int(x.shape[0])
    t = _ops.target_tensor(target, n, k)
    eps_t, size_t = tf.constant(eps, tf.float32), tf.constant(step_size, tf.float32)
    early_stop = bool(early_stop)
    wm = cache.weak_call(lm)
    step = cache.cached(model, ("pgd_step", norm, early_stop), lambda: tf.function(
        lambda xa, x0, yb, tb, e, a, act: _step(wm, xa, x0, yb, tb, e, a, act, norm, early_stop)))
    x_adv = _ops.random_start(x, eps_t, norm, seeds.seed_pair(seed)) if random_start else x
    active = tf.ones([n], tf.bool)
    # every step has the same signature: call the traced graph directly (saves the per-call dispatch
    # of the polymorphic function, about 1 ms, which is 1-2% of a step on the digits CNN)
    step = step.get_concrete_function(x_adv, x, y, t, eps_t, size_t, active)
    for _ in range(steps):
        x_adv, active = step(x_adv, x, y, t, eps_t, size_t, active)
        if early_stop and not bool(tf.reduce_any(active)):
            break
    return x_adv
