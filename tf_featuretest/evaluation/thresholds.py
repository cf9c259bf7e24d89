"""Failure thresholds: the smallest severity at which a model's accuracy falls below a criterion.

The grid is scanned first (so the smallest crossing is found even on a non-monotone curve), then
the bracket is bisected; a bootstrap over images gives the confidence interval.

Example:
    >>> failure_threshold(model, (x, y), "gaussian").threshold  # doctest: +SKIP
    0.43
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from ..errors import ConfigError
from ..models.introspection import as_logits_model, compiled_predict
from ..noise import noise_transform
from .sweep import as_batches

DEFAULT_SEVERITIES = tuple(round(v, 4) for v in np.linspace(0.0, 1.0, 11))


def bisect_threshold(correct_at, level, *, grid=DEFAULT_SEVERITIES, tol=0.01):
    """Smallest value at which accuracy falls below ``level``: first crossing on ``grid``, then bisection.

    Args:
        correct_at: ``fn(value) -> per-image correctness`` (bools, or one accuracy as a 1-element array).
        level: the accuracy criterion; the threshold is the first value with accuracy ``< level``.
        grid: increasing values scanned first, so the smallest crossing is found even on a
            non-monotone curve (to the grid's resolution).
        tol: the bisection stops once the bracket is narrower than this.

    Returns:
        ``(values, correct)``: every probed value in increasing order and the ``[V, N]`` correctness
        matrix; :func:`threshold_from_probes` turns them into the threshold.
    """
    grid = sorted(float(v) for v in grid)
    if len(grid) < 2 or not tol > 0:
        raise ConfigError(f"bisection needs a grid of at least 2 values and tol > 0, got {len(grid)} values, tol={tol}")
    probes = {}

    def acc(v):
        if v not in probes:
            probes[v] = np.atleast_1d(np.asarray(correct_at(v), dtype=np.float64))
        return probes[v].mean()

    bracket = None
    for lo, hi in zip(grid[:1] + grid[:-1], grid):
        if acc(hi) < level:
            bracket = (lo, hi)
            break
    if bracket is not None and bracket[0] < bracket[1]:
        lo, hi = bracket
        while hi - lo > tol:
            mid = 0.5 * (lo + hi)
            lo, hi = (lo, mid) if acc(mid) < level else (mid, hi)
    values = np.array(sorted(probes))
    return values, np.stack([probes[v] for v in values])


def first_crossings(values, accs, levels):
    """First crossing below ``levels [B]`` of accuracy curves ``accs [V, B]``, linearly interpolated; inf if none."""
    below = accs < levels[None, :]
    first = np.argmax(below, axis=0)
    reached = below.any(axis=0)
    prev = np.maximum(first - 1, 0)
    cols = np.arange(accs.shape[1])
    a0, a1 = accs[prev, cols], accs[first, cols]
    v0, v1 = values[prev], values[first]
    frac = np.where(a0 > a1, (a0 - levels) / np.where(a0 > a1, a0 - a1, 1.0), 1.0)
    t = np.where(first == 0, values[0], v0 + np.clip(frac, 0.0, 1.0) * (v1 - v0))
    return np.where(reached, t, np.inf)


def curve_crossing(values, accuracy, level) -> float:
    """Where one accuracy curve first falls below ``level``, interpolated linearly between the values.

    ``values[0]`` when it starts below, ``inf`` when it never falls below.

    Example:
        >>> curve_crossing([0.1, 0.2, 0.4], [0.9, 0.7, 0.3], 0.5)
        0.30000000000000004
    """
    accs = np.asarray(accuracy, np.float64)[:, None]
    return float(first_crossings(np.asarray(values, np.float64), accs, np.array([float(level)]))[0])


def threshold_from_probes(values, correct, *, fraction=0.5, accuracy=None, bootstrap=200, confidence=0.95, seed=0):
    """Threshold and bootstrap confidence interval from probed per-image correctness.

    The criterion is ``accuracy`` when given, else ``fraction`` x the accuracy at the first probed
    value (the clean accuracy when that value is 0). Each bootstrap sample resamples images with
    replacement, recomputes the criterion and every probed accuracy, and takes its first crossing.

    Returns:
        ``(threshold or None, ci_low or None, ci_high or None, level, reached_fraction)`` where None
        means "not reached within the probed range" and ``reached_fraction`` is the share of
        bootstrap samples that reached it.
    """
    values, correct = np.asarray(values, np.float64), np.asarray(correct, np.float64)
    n = correct.shape[1]
    absolute = accuracy is not None

    def levels_for(accs):
        return np.full(accs.shape[1], float(accuracy)) if absolute else fraction * accs[0]

    accs = correct.mean(axis=1, keepdims=True)
    level = float(levels_for(accs)[0])
    point = float(first_crossings(values, accs, levels_for(accs))[0])
    rng = np.random.default_rng(seed)
    boot = np.empty(0)
    if bootstrap and n > 1:
        idx = rng.integers(0, n, size=(int(bootstrap), n))
        baccs = np.stack([correct[v][idx].mean(axis=1) for v in range(len(values))])
        boot = np.sort(first_crossings(values, baccs, levels_for(baccs)))
    alpha = 1.0 - confidence
    fin = (lambda v: None if not np.isfinite(v) else float(v))  # noqa: E731
    if boot.size:
        lo = boot[int(np.floor(alpha / 2 * (boot.size - 1)))]
        hi = boot[int(np.ceil((1 - alpha / 2) * (boot.size - 1)))]
        reached = float(np.isfinite(boot).mean())
    else:
        lo = hi = point
        reached = float(np.isfinite(point))
    return fin(point), fin(lo), fin(hi), level, reached


@dataclass(frozen=True)
class ThresholdResult:
    """The smallest severity at which a model's accuracy falls below a criterion.

    Attributes:
        name: the noise (or transform) name.
        criterion: ``"relative"`` (a fraction of clean accuracy) or ``"absolute"``.
        level: the accuracy criterion actually used.
        clean_accuracy: accuracy at severity 0 (the first probed value).
        threshold: the interpolated first crossing, or None when accuracy stays above ``level``.
        ci_low, ci_high: bootstrap confidence interval over images (None: not reached).
        confidence: the interval's confidence level.
        reached_fraction: share of bootstrap samples in which the threshold was reached.
        values, accuracy: every probed severity (grid plus bisection) and its accuracy.
    """

    name: str
    criterion: str
    level: float
    clean_accuracy: float
    threshold: float | None
    ci_low: float | None
    ci_high: float | None
    confidence: float
    reached_fraction: float
    tol: float
    bootstrap: int
    num_examples: int
    values: tuple
    accuracy: tuple

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["values"], d["accuracy"] = list(self.values), list(self.accuracy)
        return d


class Scorer:
    """Per-image correctness of one model under transforms, with the model compiled once."""

    def __init__(self, model, data, *, batch_size=128, max_examples=None, seed=0):
        self.model = as_logits_model(model)
        self.predict = compiled_predict(self.model)
        self.batches = as_batches(data, batch_size, max_examples)
        if not self.batches:
            raise ConfigError("no data to evaluate")
        self.seed = seed
        self.num_examples = sum(len(b[1]) for b in self.batches)

    def correct(self, transform, value, param="severity"):
        out = []
        for bi, (x, y) in enumerate(self.batches):
            xt = tf.constant(x) if value == 0 else transform(self.model, tf.constant(x), tf.constant(y),
                                                                 **{param: value}, seed=self.seed + bi)
            out.append(np.argmax(self.predict(tf.convert_to_tensor(xt)).numpy(), 1) == y)
        return np.concatenate(out)


def _as_transform(noise):
    if isinstance(noise, str):
        return noise, noise_transform(noise)
    return getattr(noise, "__name__", "transform"), noise


def failure_threshold(model, data, noise, *, fraction=0.5, accuracy=None, grid=DEFAULT_SEVERITIES, tol=0.01,
                      bootstrap=200, confidence=0.95, seed=0, batch_size=128, max_examples=None, param="severity",
                      scorer=None) -> ThresholdResult:
    """Smallest severity at which ``model``'s accuracy falls below a criterion, with a bootstrap CI.

    Args:
        model: a classifier returning logits.
        data: a ``tf.data`` dataset of ``(x, y)`` batches or an ``(x, y)`` array pair.
        noise: a name in ``noise.NOISES`` or a transform ``fn(model, x, y, *, severity, seed)``.
        fraction: criterion ``fraction`` x clean accuracy (default: half of it).
        accuracy: an absolute accuracy criterion instead (e.g. 0.5).
        grid: severities scanned before bisecting (must start at the clean value, normally 0).
        tol: bisection tolerance on the severity scale.
        bootstrap: bootstrap samples over images for the interval (0: none).
        confidence: the interval's confidence level.
        seed: noise seed (batch ``i`` uses ``seed + i``) and bootstrap seed.

    Example:
        >>> failure_threshold(model, (x, y), "gaussian").threshold  # doctest: +SKIP
        0.43
    """
    if accuracy is None and not 0.0 < fraction <= 1.0:
        raise ConfigError(f"fraction must be in (0, 1], got {fraction!r}")
    if accuracy is not None and not 0.0 <= accuracy <= 1.0:
        raise ConfigError(f"accuracy criterion must be in [0, 1], got {accuracy!r}")
    if not 0.0 < confidence < 1.0:
        raise ConfigError(f"confidence must be in (0, 1), got {confidence!r}")
    name, transform = _as_transform(noise)
    scorer = scorer or Scorer(model, data, batch_size=batch_size, max_examples=max_examples, seed=seed)
    memo = {}

    def correct_at(v):
        if v not in memo:
            memo[v] = scorer.correct(transform, v, param)
        return memo[v]

    level = float(accuracy) if accuracy is not None else fraction * correct_at(float(min(grid))).mean()
    values, correct = bisect_threshold(correct_at, level, grid=grid, tol=tol)
    t, lo, hi, level, reached = threshold_from_probes(values, correct, fraction=fraction, accuracy=accuracy,
                                                      bootstrap=bootstrap, confidence=confidence, seed=seed)
    return ThresholdResult(name=name, criterion="relative" if accuracy is None else "absolute", level=level,
                           clean_accuracy=float(correct[0].mean()), threshold=t, ci_low=lo, ci_high=hi,
                           confidence=float(confidence), reached_fraction=reached, tol=float(tol),
                           bootstrap=int(bootstrap), num_examples=scorer.num_examples,
                           values=tuple(float(v) for v in values),
                           accuracy=tuple(float(a) for a in correct.mean(axis=1)))
