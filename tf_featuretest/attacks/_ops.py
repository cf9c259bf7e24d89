"""Building blocks shared by the pixel-level attacks: the loss gradient, steps, projections, caching.

Every function here is pure TensorFlow and can run inside a ``tf.function`` (the export module
traces them into SavedModel signatures). Conventions:

* ``labels`` are the true labels ``y``; ``target`` is an int tensor of shape ``[]`` or ``[N]``
  where ``-1`` means "untargeted" for that image.
* The attack *ascends* ``sum_i s_i * CE(logits_i, l_i)`` where ``l_i`` is the target (``s_i = -1``)
  or the true label (``s_i = +1``). Multiplying by ``+-1`` is exact in floating point, so the
  gradient's sign equals the textbook ``sign(grad CE)`` bit for bit.
"""
from __future__ import annotations

import numbers

import numpy as np
import tensorflow as tf

from .._util import checks
from ..errors import ConfigError
from ..models.introspection import as_logits_model

_TINY = 1e-12


# --------------------------------------------------------------------------- argument checks


def check_norm(norm):
    """Return ``"inf"`` or ``2`` for the accepted spellings of the L-inf and L2 norms."""
    if isinstance(norm, str) and norm.lower() in ("inf", "linf"):
        return "inf"
    if isinstance(norm, numbers.Number) and not isinstance(norm, bool):
        if np.isinf(norm):
            return "inf"
        if norm == 2:
            return 2
    raise ConfigError(f"norm must be np.inf ('inf') or 2, got {norm!r}")


def check_eps(eps, name="eps"):
    """A finite non-negative float."""
    return checks.non_negative(eps, name)


def check_steps(steps, name="steps"):
    """A positive integer (integral floats such as ``40.0`` from a sweep are accepted)."""
    return checks.positive_int(steps, name, allow_integral_float=True)


def check_inputs(x, y, num_classes):
    """Convert ``x`` to float32 NHWC and ``y`` to int64 ``[N]``, checking shapes and label range."""
    x = tf.convert_to_tensor(x, tf.float32)
    if x.shape.rank != 4:
        raise ConfigError(f"images must be a 4-D batch (N, H, W, C), got shape {tuple(x.shape)}")
    y = tf.reshape(tf.cast(tf.convert_to_tensor(y), tf.int64), [-1])
    if int(y.shape[0]) != int(x.shape[0]):
        raise ConfigError(f"got {x.shape[0]} images but {y.shape[0]} labels")
    yn = y.numpy()
    if yn.size and (yn.min() < 0 or yn.max() >= num_classes):
        raise ConfigError(f"labels must be in [0, {num_classes}), got values in [{yn.min()}, {yn.max()}]")
    return x, y


def target_tensor(target, n, num_classes):
    """``None`` -> all ``-1`` (untargeted); an int or ``[N]`` ints -> int64 ``[N]``, range-checked."""
    if target is None:
        return tf.fill([n], tf.constant(-1, tf.int64))
    t = np.asarray(target.numpy() if hasattr(target, "numpy") else target)
    if t.dtype.kind not in "iu" and not (t.dtype.kind == "f" and np.all(t == np.round(t))):
        raise ConfigError(f"target must be an int or an int array, got {target!r}")
    t = t.astype(np.int64).reshape(-1)
    if t.size == 1:
        t = np.full([n], t[0], np.int64)
    if t.size != n:
        raise ConfigError(f"target must be one class or one per image ({n}), got {t.size} values")
    if t.min() < 0 or t.max() >= num_classes:
        raise ConfigError(f"target classes must be in [0, {num_classes}), got {target!r}")
    return tf.constant(t)


# --------------------------------------------------------------------------- models and the cache


def logits_model(model):
    """The model itself when it returns logits; the cached logits twin of a softmax-output model."""
    return as_logits_model(model)


# --------------------------------------------------------------------------- pure-TF pieces


def objective(target, labels):
    """Per-image labels and signs: targeted images descend the target loss, the others ascend theirs."""
    target = tf.cast(target, tf.int64)
    labels = tf.cast(labels, tf.int64)
    target = tf.broadcast_to(target, tf.shape(labels))
    targeted = target >= 0
    use = tf.where(targeted, target, labels)
    sign = tf.where(targeted, tf.constant(-1.0, tf.float32), tf.constant(1.0, tf.float32))
    return use, sign, targeted


def loss_gradient(model, x, use, sign):
    """``(grad, logits)``: gradient of ``sum_i sign_i * CE(model(x)_i, use_i)`` and the logits at ``x``."""
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = model(x, training=False)
        ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=use, logits=logits)
        loss = tf.reduce_sum(sign * ce)
    return tape.gradient(loss, x), logits


def per_image(v, x):
    """Broadcast a scalar or ``[N]`` value against NHWC ``x``."""
    v = tf.cast(v, x.dtype)
    return tf.reshape(v, [-1, 1, 1, 1]) if v.shape.rank == 1 else v


def l2_norm(v):
    """Per-image L2 norm, shape ``[N, 1, 1, 1]``."""
    return tf.sqrt(tf.reduce_sum(tf.square(v), axis=[1, 2, 3], keepdims=True))


def ascent_step(grad, size, norm):
    """The step ``size * sign(grad)`` (L-inf) or ``size * grad / ||grad||_2`` (L2)."""
    if norm == "inf":
        return size * tf.sign(grad)
    return size * (grad / tf.maximum(l2_norm(grad), _TINY))


def project(x_adv, x0, eps, norm):
    """Project onto the eps-ball around ``x0`` and then onto [0, 1]."""
    if norm == "inf":
        x_adv = tf.clip_by_value(x_adv, x0 - eps, x0 + eps)
    else:
        delta = x_adv - x0
        scale = tf.minimum(1.0, eps / tf.maximum(l2_norm(delta), _TINY))
        x_adv = x0 + delta * scale
    return tf.clip_by_value(x_adv, 0.0, 1.0)


def random_start(x0, eps, norm, seed):
    """A uniform random point of the eps-ball around ``x0`` (clipped to [0, 1]); ``seed`` is a [2] int tensor."""
    shape = tf.shape(x0)
    if norm == "inf":
        noise = tf.random.stateless_uniform(shape, seed, -1.0, 1.0) * eps
    else:
        direction = tf.random.stateless_normal(shape, seed)
        direction = direction / tf.maximum(l2_norm(direction), _TINY)
        dim = tf.cast(tf.reduce_prod(shape[1:]), tf.float32)
        u = tf.random.stateless_uniform([shape[0], 1, 1, 1], seed + 1)
        noise = direction * eps * tf.pow(u, 1.0 / dim)
    return tf.clip_by_value(x0 + noise, 0.0, 1.0)


def succeeded(logits, labels, target):
    """Per image: classified as the target (targeted) or away from the label (untargeted)."""
    use, _, targeted = objective(target, labels)
    pred = tf.argmax(logits, axis=-1, output_type=tf.int64)
    return tf.where(targeted, tf.equal(pred, use), tf.not_equal(pred, use))
