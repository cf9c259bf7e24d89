"""Pieces shared by the minimal-perturbation attacks (C&W, DDN, the perceptual look-alike).

Pure TensorFlow, usable inside ``tf.function`` and SavedModel signatures:

* the box ``[lo, hi]`` an image may move in: ``[0, 1]``, intersected with ``[x - eps, x + eps]``
  when an L-inf cap is given;
* the tanh change of variables ``x' = lo + (hi - lo) * (tanh(w) + 1) / 2`` (Carlini & Wagner,
  2017, section V), which keeps every iterate inside the box without clipping;
* Adam (Kingma & Ba, 2015) as a plain update on tensors, so a whole attack is one graph;
* the targeted logit margin (and its untargeted mirror), and the margin a wanted softmax confidence needs;
* the Python driver: argument checks (bad images, labels or targets raise a one-line
  :class:`~tf_featuretest.errors.DataError` naming the value), batching, and an L2 cap applied to
  the final perturbation.

Package-private: used only inside :mod:`tf_featuretest.attacks`.
"""
from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from .._util import checks
from ..errors import DataError
from ..models.introspection import as_logits_model, num_classes
from . import _ops

#: ``arctanh`` of an image at the edge of its box would be infinite: points are shrunk by this factor first.
SHRINK = 1.0 - 1e-6
#: Logit penalty that removes the target from "the best other class".
_BIG = 1e9


def box(x, eps):
    """``(lo, hi)``: ``[0, 1]``, or ``[max(x - eps, 0), min(x + eps, 1)]`` for an L-inf cap ``eps``."""
    if eps is None:
        return tf.zeros_like(x), tf.ones_like(x)
    eps = tf.cast(eps, x.dtype)
    return tf.maximum(x - eps, 0.0), tf.minimum(x + eps, 1.0)


def to_box(w, lo, hi):
    """The image a tanh-space variable ``w`` stands for (always inside ``[lo, hi]``)."""
    return lo + (hi - lo) * (tf.tanh(w) + 1.0) * 0.5


def from_box(x, lo, hi):
    """The tanh-space variable of an image ``x`` in ``[lo, hi]`` (0 where the box is a single point)."""
    span = hi - lo
    unit = tf.math.divide_no_nan(x - lo, span) * 2.0 - 1.0
    return tf.where(span > 0, tf.atanh(tf.clip_by_value(unit, -1.0, 1.0) * SHRINK), tf.zeros_like(x))


def adam(w, grad, m, v, t, lr, beta1=0.9, beta2=0.999, epsilon=1e-8):
    """One Adam step on ``w`` (``t`` counts from 1): ``(w, m, v)``; all may be per-image tensors."""
    m = beta1 * m + (1.0 - beta1) * grad
    v = beta2 * v + (1.0 - beta2) * tf.square(grad)
    t = tf.cast(t, w.dtype)
    m_hat = m / (1.0 - tf.pow(beta1, t))
    v_hat = v / (1.0 - tf.pow(beta2, t))
    return w - lr * m_hat / (tf.sqrt(v_hat) + epsilon), m, v


def margin(logits, target):
    """``Z_t - max_{i != t} Z_i`` per image (positive: the target wins the arg-max)."""
    onehot = tf.one_hot(target, tf.shape(logits)[-1], dtype=logits.dtype)
    real = tf.reduce_sum(onehot * logits, -1)
    other = tf.reduce_max(logits - onehot * _BIG, -1)
    return real - other


def signed_margin(logits, use, targeted):
    """Per image: ``margin(logits, use)`` where ``targeted``, else ``max_{i != use} Z_i - Z_use``.

    Positive means success either way: the target wins (targeted) or the label ``use`` lost the
    arg-max (untargeted, "any class but y").
    """
    m = margin(logits, use)
    return tf.where(targeted, m, -m)


def objective(target, y):
    """``(use, targeted)``: the class each image's margin is taken on (the target, or ``y`` where the
    target is ``-1``) and whether it is targeted."""
    target = tf.cast(tf.reshape(target, [-1]), tf.int32)
    y = tf.cast(tf.reshape(y, [-1]), tf.int32)
    targeted = target >= 0
    return tf.where(targeted, target, y), targeted


def soft_margin(logits, target):
    """``Z_t - logsumexp_{i != t} Z_i``: at least ``log(p / (1 - p))`` exactly when softmax gives the target ``p``."""
    onehot = tf.one_hot(target, tf.shape(logits)[-1], dtype=logits.dtype)
    real = tf.reduce_sum(onehot * logits, -1)
    return real - tf.reduce_logsumexp(logits - onehot * _BIG, -1)


def confidence_margin(confidence) -> float:
    """The soft margin at which the softmax probability of the target equals ``confidence``."""
    return float(math.log(confidence / (1.0 - confidence)))


def sq_l2(a, b):
    """Per-image squared L2 distance, shape ``[N]``."""
    return tf.reduce_sum(tf.square(a - b), axis=[1, 2, 3])


def flat(mask, x):
    """Broadcast a per-image ``[N]`` mask against NHWC ``x``."""
    return tf.reshape(mask, [-1, 1, 1, 1]) if x.shape.rank == 4 else mask


# --------------------------------------------------------------------------- the Python side


def check_cap(eps, norm):
    """``(eps or None, norm)``: ``None`` means no cap; a cap is a finite non-negative number."""
    norm = _ops.check_norm(norm)
    if eps is None:
        return None, norm
    return _ops.check_eps(eps), norm


def check_images(x, y, k, *, name):
    """``(x, y)`` as float32 NHWC / int64 ``[N]``; a one-line :class:`DataError` naming what is wrong.

    Images must be a finite 4-D batch in [0, 1] (the tanh box and the L2 geometry assume it); labels
    one per image, in ``[0, k)``.
    """
    try:
        xn = np.asarray(x.numpy() if hasattr(x, "numpy") else x, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name}: images must be a float array, got {type(x).__name__} ({exc})") from None
    if xn.ndim != 4:
        raise DataError(f"{name}: images must be a 4-D batch (N, H, W, C), got shape {xn.shape}")
    bad = ~np.isfinite(xn)
    if bad.any():
        first = int(np.argwhere(bad.reshape(len(xn), -1).any(1))[0, 0])
        raise DataError(f"{name}: images must be finite, got {int(bad.sum())} NaN/inf values (first in image {first})")
    if xn.size and (xn.min() < 0.0 or xn.max() > 1.0):
        raise DataError(f"{name}: images must be in [0, 1], got values in [{xn.min():g}, {xn.max():g}]")
    yn = np.asarray(y.numpy() if hasattr(y, "numpy") else y)
    if yn.dtype.kind not in "iu" and not (yn.dtype.kind == "f" and np.all(np.isfinite(yn)) and np.all(yn == np.round(yn))):
        raise DataError(f"{name}: labels must be integers, got {yn.dtype} values {yn.reshape(-1)[:5].tolist()}")
    yn = yn.astype(np.int64).reshape(-1)
    if yn.size != len(xn):
        raise DataError(f"{name}: got {len(xn)} images but {yn.size} labels")
    if yn.size and (yn.min() < 0 or yn.max() >= k):
        raise DataError(f"{name}: labels must be in [0, {k}), got values in [{yn.min()}, {yn.max()}]")
    return tf.constant(xn), tf.constant(yn)


def check_target(target, n, k, *, name):
    """int64 ``[N]`` targets (``-1``: untargeted where ``target`` is None); :class:`DataError` when bad."""
    if target is None:
        return tf.fill([n], tf.constant(-1, tf.int64))
    t = np.asarray(target.numpy() if hasattr(target, "numpy") else target)
    if t.dtype.kind not in "iu" and not (t.dtype.kind == "f" and np.all(np.isfinite(t)) and np.all(t == np.round(t))):
        raise DataError(f"{name}: target must be a class or one class per image, got {target!r}")
    t = t.astype(np.int64).reshape(-1)
    if t.size == 1:
        t = np.full([n], t[0], np.int64)
    if t.size != n:
        raise DataError(f"{name}: target must be one class or one per image ({n}), got {t.size} values")
    if t.size and (t.min() < 0 or t.max() >= k):
        bad = t[(t < 0) | (t >= k)]
        raise DataError(f"{name}: target classes must be in [0, {k}), got {bad[0]}")
    return tf.constant(t)


def prepare_any(model, x, y, target, *, name):
    """Checked ``(logits_model, x, y, target)``; ``target=None`` gives ``-1`` (untargeted) per image."""
    lm = as_logits_model(model)
    k = num_classes(lm)
    x, y = check_images(x, y, k, name=name)
    return lm, x, y, check_target(target, int(x.shape[0]), k, name=name)


def prepare(model, x, y, target, *, name):
    """Checked ``(logits_model, x, y, target)`` as float32 / int64 tensors; ``target`` is required."""
    if target is None:
        raise DataError(f"{name} is a targeted attack: give target= (a class, or one per image)")
    return prepare_any(model, x, y, target, name=name)


def cap_l2(x, x_adv, eps):
    """Scale each perturbation down to L2 norm ``eps`` where it is longer (NumPy)."""
    d = (x_adv - x).reshape(len(x), -1)
    n = np.sqrt((d.astype(np.float64) ** 2).sum(1))
    scale = np.where(n > eps, eps / np.maximum(n, 1e-20), 1.0).astype(np.float32)
    return np.clip(x + (x_adv - x) * scale[:, None, None, None], 0.0, 1.0).astype(np.float32)


def run_batched(fn, x, t, batch_size, *extra):
    """``fn(x_batch, t_batch, *extra)`` over batches of ``batch_size``; NumPy results concatenated."""
    batch_size = checks.positive_int(batch_size, "batch_size")
    xs, ts = x.numpy(), t.numpy()
    out = []
    for i in range(0, len(xs), batch_size):
        out.append(np.asarray(fn(tf.constant(xs[i:i + batch_size]), tf.constant(ts[i:i + batch_size]), *extra)))
    return np.concatenate(out) if out else xs.copy()


def run_batched_many(fn, batch_size, *arrays):
    """``fn(*batches)`` over aligned arrays in batches of ``batch_size``; NumPy results concatenated."""
    batch_size = checks.positive_int(batch_size, "batch_size")
    arrays = [np.asarray(a.numpy() if hasattr(a, "numpy") else a) for a in arrays]
    out = []
    for i in range(0, len(arrays[0]), batch_size):
        out.append(np.asarray(fn(*(tf.constant(a[i:i + batch_size]) for a in arrays))))
    return np.concatenate(out) if out else arrays[0].copy()
