"""The perceptual look-alike: the smallest change a person would notice that makes the model say the target.

Minimisation of a perceptual distance under the constraint "the model predicts the target",
solved per image with an adaptive Lagrange constant, batched and compiled once per model:

* **Where a change shows.** Each pixel gets a weight ``1 / (s + floor)`` where ``s`` is the local
  standard deviation (in a ``window x window`` neighbourhood, of the channel mean) of the
  original image, normalised to mean 1 per image: high on flat background, where any change is
  speckle a person sees at once, low on edges and strokes, where a change hides in the texture.
* **The distance.** ``D(x') = mean(w * (x' - x)^2) + ssim_weight * (1 - SSIM(x', x))``: the
  weighted mean squared change plus the structural dissimilarity (Wang et al., 2004, with a
  Gaussian window of ``filter_size`` and sigma 1.5, the same numbers as ``tf.image.ssim``). SSIM
  is computed here by separable blurs written as two matrix products (:func:`ssim_tf`), equal to
  ``tf.image.ssim`` to float rounding and about 15x cheaper to differentiate on CPU than its
  depthwise convolutions, which cost more than the digits CNN itself.
* **The constraint.** ``f(x') = max(-m(x'), 0) + max(kappa - s(x'), 0)``, with ``m`` the logit
  margin ``Z_t - max_{i != t} Z_i`` and, when a confidence ``p`` is asked, ``s`` the soft margin
  ``Z_t - logsumexp_{i != t} Z_i`` and ``kappa = log(p / (1 - p))``: ``s >= kappa`` exactly when
  the softmax gives the target at least ``p``.
* **The search.** Adam (learning rate cosine-annealed to 0) on the change itself, kept inside the
  box (``[0, 1]``, intersected with ``[x - eps, x + eps]`` for an L-inf cap) by clipping, on
  ``D + c * f``. Every step, each image's constant ``c`` grows by ``const_rate`` while the image
  misses the target and shrinks by it while it reaches the target (the per-image, per-step
  constant update of an augmented-Lagrangian minimal attack, in the spirit of Rony et al.'s
  ALMA, 2021, instead of C&W's restarts), so each image is driven to the decision boundary
  and then slides along it towards smaller ``D``. The answer is the iterate of smallest ``D``
  among those that reached the target (the original image where none did).

Pixel space rather than C&W's tanh space: ``tanh`` makes a pixel at 0 or 1 almost immovable
(its derivative there is about 1e-6), which is right for black background but wrong for a
saturated stroke, and the weights already keep the background still.

Example:
    >>> x_adv = perceptual(model, x, y, target=(y + 1) % 10)  # doctest: +SKIP
"""
from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from .._util import cache, checks
from ..models.introspection import as_logits_model
from . import _minimal as mn

__all__ = ["perceptual", "perceptual_tf", "pixel_weights", "ssim_tf"]

#: "no confidence asked": a soft-margin threshold no logit can miss.
_NO_KAPPA = -1e9


def _blur_matrix(n, size, sigma):
    """``[n - size + 1, n]``: row ``i`` holds the normalised Gaussian of ``size`` taps at columns ``i..i+size-1``."""
    c = tf.range(size, dtype=tf.float32) - tf.cast(size - 1, tf.float32) / 2.0
    g = tf.exp(-tf.square(c) / (2.0 * sigma * sigma))
    g = g / tf.reduce_sum(g)
    off = tf.range(n)[None, :] - tf.range(n - size + 1)[:, None]
    inside = tf.logical_and(off >= 0, off < size)
    return tf.where(inside, tf.gather(g, tf.clip_by_value(off, 0, size - 1)), 0.0)


def ssim_tf(a, b, filter_size=7, filter_sigma=1.5, k1=0.01, k2=0.03):
    """Per-image SSIM of two ``[N, H, W, C]`` batches in [0, 1], as ``tf.image.ssim`` computes it.

    The window shrinks to the image side for images smaller than ``filter_size``. Shapes may be
    unknown when traced (one graph serves every image size).
    """
    a = tf.convert_to_tensor(a, tf.float32)
    b = tf.convert_to_tensor(b, tf.float32)
    h, w = tf.shape(a)[1], tf.shape(a)[2]
    size = tf.minimum(tf.constant(int(filter_size)), tf.minimum(h, w))
    gh, gw = _blur_matrix(h, size, float(filter_sigma)), _blur_matrix(w, size, float(filter_sigma))

    def blur(z):  # [N, H, W, C] -> [N, C, H', W']
        z = tf.transpose(z, [0, 3, 1, 2])
        return tf.matmul(tf.matmul(gh, z), gw, transpose_b=True)

    c1, c2 = (k1 * 1.0) ** 2, (k2 * 1.0) ** 2
    ma, mb = blur(a), blur(b)
    num0 = 2.0 * ma * mb
    den0 = tf.square(ma) + tf.square(mb)
    luminance = (num0 + c1) / (den0 + c1)
    cs = (2.0 * blur(a * b) - num0 + c2) / (blur(tf.square(a) + tf.square(b)) - den0 + c2)
    return tf.reduce_mean(luminance * cs, axis=[1, 2, 3])


def pixel_weights(x, window=3, floor=0.05):
    """Per-pixel weights ``1 / (local std + floor)``, mean 1 per image, shared by the channels (``x``'s shape).

    The local standard deviation is that of the channel mean in a ``window x window``
    neighbourhood (edges padded by the window's own average), so flat regions get the largest
    weight ``1 / floor`` before normalisation.
    """
    x = tf.convert_to_tensor(x, tf.float32)
    g = tf.reduce_mean(x, axis=-1, keepdims=True)
    mu = tf.nn.avg_pool2d(g, int(window), 1, "SAME")
    mu2 = tf.nn.avg_pool2d(tf.square(g), int(window), 1, "SAME")
    sd = tf.sqrt(tf.maximum(mu2 - tf.square(mu), 0.0))
    w = 1.0 / (sd + floor)
    w = w / tf.reduce_mean(w, axis=[1, 2, 3], keepdims=True)
    return tf.broadcast_to(w, tf.shape(x))


def perceptual_tf(model, x, target, lo, hi, *, steps, kappa=_NO_KAPPA, ssim_weight=0.05, learning_rate=0.1,
                  initial_const=1e-3, const_rate=0.1, window=3, floor=0.05, filter_size=7):
    """Pure-TF core of the perceptual look-alike (usable inside ``tf.function`` and SavedModel signatures).

    Args:
        model: a callable returning logits.
        x: float32 images ``[N, H, W, C]`` inside ``[lo, hi]``.
        target: int ``[N]`` target classes.
        lo, hi: the box each pixel may move in.
        steps: Adam iterations (scalar).
        kappa: soft-margin threshold ``log(p / (1 - p))`` for a wanted target probability ``p``
            (``-1e9``: arg-max only).
        ssim_weight: weight of ``1 - SSIM`` against the weighted mean squared change.
        learning_rate: Adam's first step size (annealed to 0 along a cosine).
        initial_const: every image's first constant ``c``.
        const_rate: per-step relative change of ``c``.
        window, floor: the pixel weights (:func:`pixel_weights`).
        filter_size: SSIM's Gaussian window.

    Returns:
        ``(x_adv, reached, distance)``: the reached iterate of smallest perceptual distance (``x``
        where none reached), a bool ``[N]``, and that distance (``inf`` where none reached).
    """
    x = tf.convert_to_tensor(x, tf.float32)
    n = tf.shape(x)[0]
    target = tf.cast(tf.reshape(target, [-1]), tf.int32)
    steps = tf.cast(steps, tf.int32)
    kappa = tf.cast(kappa, tf.float32)
    lr0 = tf.cast(learning_rate, tf.float32)
    rate = tf.cast(const_rate, tf.float32)
    beta = tf.cast(ssim_weight, tf.float32)
    wts = pixel_weights(x, window, floor)
    zeros = tf.zeros_like(x)

    def body(i, d, m, v, const, best_d, best):
        with tf.GradientTape() as tape:
            tape.watch(d)
            xa = x + d
            logits = tf.cast(model(xa, training=False), tf.float32)
            hard = mn.margin(logits, target)
            soft = mn.soft_margin(logits, target)
            dist = tf.reduce_mean(wts * tf.square(d), axis=[1, 2, 3]) + beta * (1.0 - ssim_tf(xa, x, filter_size))
            miss = tf.maximum(-hard, 0.0) + tf.maximum(kappa - soft, 0.0)
            total = tf.reduce_sum(dist + const * miss)
        grad = tape.gradient(total, d)
        ok = tf.logical_and(hard > 0, soft >= kappa)
        better = tf.logical_and(ok, dist < best_d)
        best_d = tf.where(better, dist, best_d)
        best = tf.where(mn.flat(better, x), xa, best)
        const = tf.where(ok, const * (1.0 - rate), const * (1.0 + rate))
        frac = tf.cast(i, tf.float32) / tf.cast(steps, tf.float32)
        lr = lr0 * 0.5 * (1.0 + tf.cos(math.pi * frac))
        d_new, m, v = mn.adam(d, grad, m, v, i + 1, lr)
        d_new = tf.clip_by_value(x + d_new, lo, hi) - x
        return i + 1, d_new, m, v, const, best_d, best

    start = [tf.constant(0), zeros, zeros, zeros, tf.fill([n], tf.cast(initial_const, tf.float32)),
             tf.fill([n], np.float32(np.inf)), x]
    out = tf.while_loop(lambda i, *_: i < steps, body, start)
    best_d = out[5]
    return out[6], tf.math.is_finite(best_d), best_d


def _compiled(model, settings):
    def build():
        call = cache.weak_call(as_logits_model(model))

        def run(x, target, lo, hi, steps, kappa):
            return perceptual_tf(call, x, target, lo, hi, steps=steps, kappa=kappa, **dict(settings))[0]

        return tf.function(run, reduce_retracing=True)

    return cache.cached(model, ("perceptual",) + tuple(settings), build)


def perceptual(model, x, y, *, target, eps=None, steps=50, confidence=0.0, ssim_weight=0.05, learning_rate=0.1,
               initial_const=1e-3, const_rate=0.1, window=3, floor=0.05, filter_size=7, batch_size=256, seed=None):
    """Targeted look-alike of smallest perceptual distance per image (see the module text).

    Args:
        model: a Keras classifier (logits, or a final softmax which is stripped).
        x: float32 images ``[N, H, W, C]`` in [0, 1], any size, grey or colour.
        y: integer labels ``[N]`` (checked; the attack needs only the target).
        target: the target class, or one per image.
        eps: optional L-inf cap (the search stays in ``[x - eps, x + eps]``); None: no cap.
        steps: Adam iterations (one forward and backward pass each). 50 reach every target on the
            digits CNN; more lower the distance a little (see ``benchmarks/lookalike.py``).
        confidence: the softmax probability of the target a look-alike must reach, in [0, 1);
            0 asks only that the target wins the arg-max.
        ssim_weight: weight of ``1 - SSIM`` against the weighted mean squared change.
        learning_rate: Adam's first step size in pixel units (annealed to 0).
        initial_const: the first constant on the target term.
        const_rate: relative change of each image's constant per step.
        window: side of the neighbourhood whose standard deviation sets the pixel weights.
        floor: added to that standard deviation (flat pixels weigh ``1 / floor`` before normalising).
        filter_size: SSIM's Gaussian window (shrunk to the image side for smaller images).
        batch_size: images per compiled call.
        seed: accepted for the common attack signature; the attack is deterministic.

    Returns:
        A float32 ``tf.Tensor`` in [0, 1]; images that never reached the target are returned unchanged.

    Example:
        >>> x_adv = perceptual(model, x, y, target=8, confidence=0.9)  # doctest: +SKIP
    """
    eps, _ = mn.check_cap(eps, np.inf)
    steps = checks.positive_int(steps, "steps", allow_integral_float=True)
    confidence = checks.number(confidence, "confidence", low=0.0, high=1.0, high_open=True)
    settings = (("ssim_weight", checks.non_negative(ssim_weight, "ssim_weight")),
                ("learning_rate", checks.number(learning_rate, "learning_rate", low=0.0, low_open=True)),
                ("initial_const", checks.number(initial_const, "initial_const", low=0.0, low_open=True)),
                ("const_rate", checks.number(const_rate, "const_rate", low=0.0, high=1.0, low_open=True,
                                             high_open=True)),
                ("window", checks.positive_int(window, "window")),
                ("floor", checks.number(floor, "floor", low=0.0, low_open=True)),
                ("filter_size", checks.positive_int(filter_size, "filter_size")))
    checks.seed(seed, allow_none=True)
    _, x, y, t = mn.prepare(model, x, y, target, name="perceptual")
    if int(x.shape[0]) == 0 or eps == 0:
        return tf.identity(x)
    kappa = mn.confidence_margin(confidence) if confidence > 0 else _NO_KAPPA
    fn = _compiled(model, settings)

    def call(xb, tb):
        lo, hi = mn.box(xb, eps)
        return fn(xb, tb, lo, hi, tf.constant(steps), tf.constant(kappa, tf.float32))

    return tf.constant(mn.run_batched(call, x, t, batch_size))
