"""Fooling images (Nguyen, Yosinski and Clune, 2015): inputs a person cannot recognise that the model
assigns to a chosen class with at least 99% confidence.

Starting from uniform noise or a blank grey image, each step ascends ``log softmax(model(x))[c]
- tv_weight * TV(x)`` by a signed-gradient step, clips to [0, 1], and every ``blur_every`` steps
applies a small Gaussian blur (a smoothness prior that makes the results less like noise). An
image stops once its confidence reaches ``confidence``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from .._util import cache, seeds
from ..errors import ConfigError
from ..models.introspection import as_logits_model, num_classes
from . import _ops


@dataclass(frozen=True)
class FoolingResult:
    """Outcome of :func:`fooling_images`.

    Attributes:
        images: ``[N, H, W, C]`` fooling images in [0, 1].
        classes: ``[N]`` the class each image was made for.
        confidence: ``[N]`` the model's probability of that class.
        predicted: ``[N]`` the model's top class.
        success: ``[N]`` whether confidence reached the threshold.
        steps: ``[N]`` steps until the threshold was reached (or the step limit).
        threshold: the confidence asked for.
    """

    images: np.ndarray
    classes: np.ndarray
    confidence: np.ndarray
    predicted: np.ndarray
    success: np.ndarray
    steps: np.ndarray
    threshold: float

    def to_dict(self) -> dict:
        return {"num_images": int(len(self.classes)), "threshold": self.threshold,
                "success_rate": float(np.mean(self.success)) if len(self.success) else float("nan"),
                "classes": self.classes.tolist(), "confidence": [float(c) for c in self.confidence],
                "predicted": self.predicted.tolist(), "steps": self.steps.tolist()}


def _gaussian_kernel(sigma, channels):
    r = max(1, int(np.ceil(2 * sigma)))
    t = np.arange(-r, r + 1, dtype=np.float32)
    g = np.exp(-0.5 * (t / sigma) ** 2)
    k2 = np.outer(g, g)
    k2 /= k2.sum()
    return tf.constant(np.tile(k2[:, :, None, None], (1, 1, channels, 1)), tf.float32)


def _total_variation(x):
    """Per-image mean absolute difference between neighbouring pixels."""
    dh = tf.reduce_mean(tf.abs(x[:, 1:] - x[:, :-1]), axis=[1, 2, 3])
    dw = tf.reduce_mean(tf.abs(x[:, :, 1:] - x[:, :, :-1]), axis=[1, 2, 3])
    return dh + dw


def _build_step(lm, tv_weight, kernel):
    def step(x, classes, step_size, threshold, blur):
        with tf.GradientTape() as tape:
            tape.watch(x)
            logp = tf.nn.log_softmax(lm(x, training=False))
            picked = tf.gather(logp, classes, batch_dims=1)
            obj = tf.reduce_sum(picked - tv_weight * _total_variation(x))
        grad = tape.gradient(obj, x)
        done = tf.exp(picked) >= threshold
        new = tf.clip_by_value(x + step_size * tf.sign(grad), 0.0, 1.0)
        if kernel is not None:
            blurred = tf.nn.depthwise_conv2d(new, kernel, [1, 1, 1, 1], "SAME")
            new = tf.cond(blur, lambda: blurred, lambda: new)
        return tf.where(tf.reshape(done, [-1, 1, 1, 1]), x, new), done

    return tf.function(step, reduce_retracing=True)


def fooling_images(model, classes, *, steps=300, step_size=0.01, start="noise", confidence=0.99, tv_weight=0.02,
                   blur_every=10, blur_sigma=0.5, seed=None) -> FoolingResult:
    """Synthesise images the model assigns to ``classes`` with at least ``confidence`` probability.

    Args:
        model: a Keras classifier (logits or softmax outputs) with a fixed input shape.
        classes: one class per image to make (e.g. ``range(10)`` for one image per class).
        steps: maximum ascent steps.
        step_size: signed-gradient step per pixel.
        start: ``"noise"`` (uniform noise) or ``"blank"`` (grey 0.5).
        confidence: stop each image once its class probability reaches this.
        tv_weight: weight of the total-variation penalty (0 disables it).
        blur_every: apply a Gaussian blur every this many steps (0 disables it).
        blur_sigma: standard deviation of that blur, in pixels.
        seed: seed of the starting noise.

    Returns:
        A :class:`FoolingResult`.

    Example:
        >>> res = fooling_images(model, range(10), seed=0)  # doctest: +SKIP
        >>> bool(res.success.all())  # doctest: +SKIP
        True
    """
    lm = as_logits_model(model)
    k = num_classes(lm)
    classes = np.asarray(list(classes) if not isinstance(classes, np.ndarray) else classes)
    if classes.ndim != 1 or classes.size == 0 or classes.dtype.kind not in "iu":
        raise ConfigError(f"classes must be a non-empty list of ints, got {classes!r}")
    if classes.min() < 0 or classes.max() >= k:
        raise ConfigError(f"classes must be in [0, {k}), got {classes.tolist()!r}")
    steps = _ops.check_steps(steps)
    step_size = _ops.check_eps(step_size, "step_size")
    if start not in ("noise", "blank"):
        raise ConfigError(f"start must be 'noise' or 'blank', got {start!r}")
    if not 0.0 < float(confidence) < 1.0:
        raise ConfigError(f"confidence must be in (0, 1), got {confidence!r}")
    tv_weight = _ops.check_eps(tv_weight, "tv_weight")
    if isinstance(blur_every, bool) or not isinstance(blur_every, (int, np.integer)) or blur_every < 0:
        raise ConfigError(f"blur_every must be an integer >= 0, got {blur_every!r}")
    shape = tuple(lm.input_shape[1:])
    if None in shape:
        raise ConfigError(f"fooling images need a model with a fixed input shape, got {lm.input_shape}")
    n = len(classes)
    if start == "noise":
        x = tf.random.stateless_uniform((n,) + shape, seeds.seed_pair(seed), 0.0, 1.0)
    else:
        x = tf.fill((n,) + shape, 0.5)
    kernel = _gaussian_kernel(float(blur_sigma), shape[-1]) if blur_every else None
    step = cache.cached(model, ("fooling", float(tv_weight), float(blur_sigma) if blur_every else None),
                       lambda: _build_step(cache.weak_call(lm), float(tv_weight), kernel))
    cls_t = tf.constant(classes.astype(np.int64))
    size_t, thr_t = tf.constant(step_size, tf.float32), tf.constant(float(confidence), tf.float32)
    taken = np.full(n, steps, np.int64)
    for i in range(steps):
        blur = tf.constant(bool(blur_every) and (i + 1) % blur_every == 0)
        x, done = step(x, cls_t, size_t, thr_t, blur)
        done = done.numpy()
        taken[done & (taken == steps)] = i
        if done.all():
            break
    probs = tf.nn.softmax(lm(x, training=False)).numpy()
    conf = probs[np.arange(n), classes]
    return FoolingResult(images=x.numpy(), classes=classes.astype(np.int64), confidence=conf,
                         predicted=probs.argmax(1), success=conf >= float(confidence), steps=taken,
                         threshold=float(confidence))
