"""Fast gradient sign method (Goodfellow, Shlens and Szegedy, 2015) and its L2 variant.

``x' = clip(x + eps * sign(grad_x CE(logits(x), y)), 0, 1)`` (untargeted) or
``x' = clip(x - eps * sign(grad_x CE(logits(x), t)), 0, 1)`` (targeted at class ``t``). With
``norm=2`` the step is ``eps * g / ||g||_2`` per image (the "fast gradient method").
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from .._util import cache
from ..models.introspection import as_logits_model, num_classes
from . import _ops


def fgsm_tf(model, x, y, eps, target, norm="inf"):
    """Pure-TensorFlow FGSM core, callable inside ``tf.function`` (used for SavedModel export).

    Args:
        model: a Keras model returning logits.
        x: float32 images ``[N, H, W, C]`` in [0, 1].
        y: int64 true labels ``[N]``.
        eps: float32 scalar (or ``[N]``) step size.
        target: int64 scalar or ``[N]``; ``-1`` means untargeted for that image.
        norm: ``"inf"`` or ``2``.

    Returns:
        Adversarial images in [0, 1].

    Example:
        >>> x_adv = fgsm_tf(model, x, y, tf.constant(0.1), tf.constant(-1, tf.int64))  # doctest: +SKIP
    """
    norm = _ops.check_norm(norm)
    use, sign, _ = _ops.objective(target, y)
    grad, _ = _ops.loss_gradient(model, x, use, sign)
    return tf.clip_by_value(x + _ops.ascent_step(grad, _ops.per_image(eps, x), norm), 0.0, 1.0)


def fgsm(model, x, y, *, eps, target=None, norm=np.inf, seed=None):
    """Fast gradient sign attack: one signed-gradient step of size ``eps``.

    Softmax-output models are detected and attacked through their logits.

    Args:
        model: a Keras classifier (logits, or a final softmax which is stripped).
        x: float32 images ``[N, H, W, C]`` in [0, 1].
        y: integer labels ``[N]``.
        eps: step size (L-inf: per pixel; L2: per image).
        target: None (untargeted), a class, or one class per image.
        norm: ``np.inf`` or ``2``.
        seed: unused (FGSM is deterministic); accepted so every attack shares one signature.

    Returns:
        A float32 ``tf.Tensor`` of adversarial images in [0, 1].

    Example:
        >>> x_adv = fgsm(model, x, y, eps=0.1)  # doctest: +SKIP
    """
    norm = _ops.check_norm(norm)
    eps = _ops.check_eps(eps)
    lm = as_logits_model(model)
    k = num_classes(lm)
    x, y = _ops.check_inputs(x, y, k)
    t = _ops.target_tensor(target, int(x.shape[0]), k)
    wm = cache.weak_call(lm)
    fn = cache.cached(model, ("fgsm", norm), lambda: tf.function(
        lambda xb, yb, e, tb: fgsm_tf(wm, xb, yb, e, tb, norm)))
    return fn(x, y, tf.constant(eps, tf.float32), t)
