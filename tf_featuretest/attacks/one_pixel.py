"""The one-pixel (and k-pixel) attack of Su, Vargas and Sakurai (2019), by differential evolution.

Each candidate is ``k`` pixels ``(row, col, value per channel)``. The search is DE/rand/1 with
mutation factor ``F = 0.5`` and no crossover, as in the paper: a child
``p[r1] + F * (p[r2] - p[r3])`` replaces its parent when it lowers the true-class probability
(untargeted) or raises the target probability (targeted). An image stops as soon as one
candidate succeeds.

Speed comes from batching: the population of *every* image in flight is evaluated in one
compiled forward pass of ``images_per_pass * popsize`` images, and finished images are replaced
by waiting ones at once (continuous batching), so the forward passes stay full. The DE
bookkeeping (a few thousand numbers per image) runs in NumPy with one random generator per
image, so results do not depend on how images are grouped.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from ..errors import ConfigError
from . import _ops

_F = 0.5


@dataclass(frozen=True)
class OnePixelResult:
    """Outcome of :func:`one_pixel_attack`.

    Attributes:
        images: the inputs with the best candidate's pixels set ``[N, H, W, C]`` (for a failed
            image: the candidate that came closest).
        pixels: changed pixels ``[N, k, 2]`` as ``(row, col)``.
        values: their new values ``[N, k, C]``.
        success: ``[N]`` whether the image is misclassified (or hits the target).
        predicted: ``[N]`` the class the model gives the returned image.
        generations: ``[N]`` generations run before success or giving up.
        target: the target class(es), or None.
    """

    images: np.ndarray
    pixels: np.ndarray
    values: np.ndarray
    success: np.ndarray
    predicted: np.ndarray
    generations: np.ndarray
    target: object = None

    @property
    def success_rate(self) -> float:
        return float(np.mean(self.success)) if len(self.success) else float("nan")

    def to_dict(self) -> dict:
        tgt = None if self.target is None else np.asarray(self.target).tolist()
        return {"num_images": int(len(self.success)), "success_rate": self.success_rate,
                "success": self.success.tolist(), "predicted": self.predicted.tolist(),
                "pixels": self.pixels.tolist(), "values": np.round(self.values, 6).tolist(),
                "generations": self.generations.tolist(), "mean_generations": float(np.mean(self.generations)),
                "target": tgt}


def _evaluator(lm):
    """Compiled ``(x [G,H,W,C], cand [G,P,k,2+C], use [G], targeted [G]) -> (fitness, success, pred)``."""

    def evaluate(x, cand, use, targeted):
        g, p = tf.shape(cand)[0], tf.shape(cand)[1]
        h, w = tf.shape(x)[1], tf.shape(x)[2]
        imgs = tf.reshape(tf.repeat(x[:, None], p, axis=1), tf.concat([[g * p], tf.shape(x)[1:]], 0))
        flat = tf.reshape(cand, [g * p, -1, tf.shape(cand)[-1]])
        rows = tf.cast(flat[..., 0], tf.int32)
        cols = tf.cast(flat[..., 1], tf.int32)
        for j in range(cand.shape[2]):
            mask = tf.logical_and(tf.one_hot(rows[:, j], h, on_value=True, off_value=False)[:, :, None],
                                  tf.one_hot(cols[:, j], w, on_value=True, off_value=False)[:, None, :])
            imgs = tf.where(mask[..., None], flat[:, j, None, None, 2:], imgs)
        probs = tf.nn.softmax(lm(imgs, training=False))
        probs = tf.reshape(probs, [g, p, -1])
        pred = tf.argmax(probs, -1, output_type=tf.int64)
        use_b = tf.broadcast_to(use[:, None], [g, p])
        p_use = tf.gather(probs, use_b, batch_dims=2)
        tb = tf.broadcast_to(targeted[:, None], [g, p])
        fitness = tf.where(tb, -p_use, p_use)
        success = tf.where(tb, tf.equal(pred, use_b), tf.not_equal(pred, use_b))
        return fitness, success, pred

    return tf.function(evaluate, reduce_retracing=True)


def _init_population(rng, popsize, k, shape):
    h, w, c = shape
    pop = np.empty((popsize, k, 2 + c), np.float32)
    pop[..., 0] = rng.uniform(0, h, (popsize, k))
    pop[..., 1] = rng.uniform(0, w, (popsize, k))
    pop[..., 2:] = np.clip(rng.normal(0.5, 0.5, (popsize, k, c)), 0, 1)
    return pop


def _mutate(rng, pop, upper):
    """DE/rand/1 children, one per member; r1, r2, r3 distinct and different from the member."""
    p = len(pop)
    step = max(1, (p - 1) // 3)
    a, b, c = (rng.integers(1, step + 1, p) for _ in range(3))
    i = np.arange(p)
    r1, r2, r3 = (i + a) % p, (i + a + b) % p, (i + a + b + c) % p
    child = pop[r1] + _F * (pop[r2] - pop[r3])
    return np.clip(child, 0.0, upper).astype(np.float32)


def one_pixel_attack(model, x, y, *, pixels=1, popsize=400, generations=100, target=None, seed=None,
                     images_per_pass=None) -> OnePixelResult:
    """Run the k-pixel differential-evolution attack and report which pixels changed.

    Args:
        model: a Keras classifier (logits or softmax outputs).
        x: float32 images ``[N, H, W, C]`` in [0, 1].
        y: integer labels ``[N]``.
        pixels: number of pixels ``k`` the attack may change.
        popsize: candidates per image (400 in the paper).
        generations: maximum DE generations (100 in the paper).
        target: None (untargeted), a class, or one class per image.
        seed: the same seed gives the same result.
        images_per_pass: images whose populations share one forward pass (default ``1024 // popsize``;
            small passes stay in cache and run faster per image on CPU).

    Returns:
        A :class:`OnePixelResult`.

    Example:
        >>> res = one_pixel_attack(model, x[:8], y[:8], generations=20, seed=0)  # doctest: +SKIP
        >>> res.success_rate  # doctest: +SKIP
    """
    k = _ops.check_steps(pixels, "pixels")
    popsize = _ops.check_steps(popsize, "popsize")
    generations = _ops.check_steps(generations, "generations")
    if popsize < 4:
        raise ConfigError(f"popsize must be at least 4, got {popsize!r}")
    group = _ops.check_steps(images_per_pass or max(1, 1024 // popsize), "images_per_pass")
    lm = _ops.logits_model(model)
    ncls = _ops.num_classes(lm)
    x, y = _ops.check_inputs(x, y, ncls)
    n, shape = int(x.shape[0]), tuple(int(v) for v in x.shape[1:])
    t = _ops.target_tensor(target, n, ncls).numpy()
    seed = int(_ops.seed_pair(seed)[0])
    xs, ys = x.numpy(), y.numpy()
    use, targeted = np.where(t >= 0, t, ys), t >= 0
    evaluate = _ops.cached(model, ("one_pixel",), lambda: _evaluator(_ops.weak_model(lm)))
    upper = np.array([shape[0] - 1e-3, shape[1] - 1e-3] + [1.0] * shape[2], np.float32)

    best = np.zeros((n, k, 2 + shape[2]), np.float32)
    success = np.zeros(n, bool)
    predicted = ys.copy()
    gens = np.zeros(n, np.int64)
    queue, slots = deque(range(n)), []  # slot: [index, rng, pop, fitness, generation]
    while queue or slots:
        while queue and len(slots) < group:
            i = queue.popleft()
            rng = np.random.default_rng([seed, i])
            slots.append([i, rng, None, None, 0])
        trials = np.stack([_init_population(s[1], popsize, k, shape) if s[2] is None else _mutate(s[1], s[2], upper)
                           for s in slots])
        idx = np.array([s[0] for s in slots])
        fit, ok, pred = (v.numpy() for v in evaluate(tf.constant(xs[idx]), tf.constant(trials),
                                                      tf.constant(use[idx]), tf.constant(targeted[idx])))
        keep = []
        for j, s in enumerate(slots):
            i = s[0]
            if s[2] is None:
                s[2], s[3] = trials[j], fit[j]
            else:
                better = fit[j] < s[3]
                s[2] = np.where(better[:, None, None], trials[j], s[2])
                s[3] = np.where(better, fit[j], s[3])
            if ok[j].any():
                m = int(np.flatnonzero(ok[j])[np.argmin(fit[j][ok[j]])])
                best[i], success[i], predicted[i], gens[i] = trials[j][m], True, pred[j][m], s[4]
            elif s[4] >= generations:
                m = int(np.argmin(s[3]))
                best[i], gens[i] = s[2][m], s[4]
            else:
                s[4] += 1
                keep.append(s)
        slots = keep

    images = xs.copy()
    rows, cols = best[..., 0].astype(np.int64), best[..., 1].astype(np.int64)
    for i in range(n):
        for j in range(k):
            images[i, rows[i, j], cols[i, j]] = best[i, j, 2:]
    return OnePixelResult(images=images, pixels=np.stack([rows, cols], -1), values=best[..., 2:], success=success,
                          predicted=predicted, generations=gens, target=None if target is None else t)


def one_pixel(model, x, y, *, pixels=1, popsize=400, generations=100, target=None, seed=None, images_per_pass=None):
    """:func:`one_pixel_attack` as a plain transform ``fn(model, x, y, ...) -> x_adv`` for sweeps.

    See :func:`one_pixel_attack` for the arguments.

    Example:
        >>> x_adv = one_pixel(model, x, y, pixels=3, generations=30, seed=0)  # doctest: +SKIP
    """
    res = one_pixel_attack(model, x, y, pixels=pixels, popsize=popsize, generations=generations, target=target,
                           seed=seed, images_per_pass=images_per_pass)
    return tf.constant(res.images)
