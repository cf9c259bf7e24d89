"""Sweeps: run a model on transformed inputs over a range of one parameter.

One implementation serves attacks (``eps``), noise (``severity``) and generated tests. A transform
is any ``fn(model, x, y, *, <param>=value, seed=...) -> x'`` (settings bound with
``functools.partial``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import ConfigError


@dataclass(frozen=True)
class SweepResult:
    """Accuracy and perturbation size of a model at each value of one transform parameter.

    Attributes:
        name: the transform's name (e.g. ``"pgd"`` or ``"gaussian"``).
        param: the swept parameter (``"eps"``, ``"severity"``).
        values: the parameter values, in order.
        clean_accuracy: accuracy on untransformed inputs.
        accuracy: accuracy at each value.
        success_rate: untargeted: the fraction of images classified correctly before that are
            misclassified after; targeted: the fraction classified as the target (images whose
            label already is the target are left out).
        mean_linf, mean_l2: mean per-image L-inf and L2 distance to the input.
        per_class_accuracy: ``[len(values)][num_classes]`` accuracy per true class (NaN if absent).
        num_examples: images evaluated.
        target: the target class of a targeted transform, else None.
        seconds: wall time per value.
    """

    name: str
    param: str
    values: tuple
    clean_accuracy: float
    accuracy: tuple
    success_rate: tuple
    mean_linf: tuple
    mean_l2: tuple
    per_class_accuracy: tuple
    num_examples: int
    target: int | None = None
    seconds: tuple = ()

    def to_dict(self) -> dict:
        def clean(v):
            return None if isinstance(v, float) and np.isnan(v) else v

        return {"name": self.name, "param": self.param, "values": list(self.values),
                "clean_accuracy": self.clean_accuracy, "accuracy": list(self.accuracy),
                "success_rate": list(self.success_rate), "mean_linf": list(self.mean_linf),
                "mean_l2": list(self.mean_l2),
                "per_class_accuracy": [[clean(v) for v in row] for row in self.per_class_accuracy],
                "num_examples": self.num_examples, "target": self.target, "seconds": list(self.seconds)}

    def table(self) -> str:
        """A plain-text table: value, accuracy, success rate, mean L-inf, mean L2."""
        rows = [f"{self.param:>10} {'accuracy':>9} {'success':>9} {'L-inf':>9} {'L2':>9}"]
        for v, a, s, li, l2 in zip(self.values, self.accuracy, self.success_rate, self.mean_linf, self.mean_l2):
            rows.append(f"{v:>10.4g} {a:>9.4f} {s:>9.4f} {li:>9.4f} {l2:>9.4f}")
        return "\n".join(rows)


def as_batches(data, batch_size=128, max_examples=None):
    """``[(x, y), ...]`` numpy batches from a dataset of batches or an ``(x, y)`` pair."""
    batches, seen = [], 0
    if isinstance(data, tuple):
        x, y = np.asarray(data[0], np.float32), np.asarray(data[1], np.int64)
        if max_examples is not None:
            x, y = x[:max_examples], y[:max_examples]
        return [(x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, len(x), batch_size)]
    for xb, yb in data:
        xb, yb = np.asarray(xb, np.float32), np.asarray(yb, np.int64)
        if max_examples is not None and seen + len(yb) > max_examples:
            xb, yb = xb[: max_examples - seen], yb[: max_examples - seen]
        if len(yb):
            batches.append((xb, yb))
        seen += len(yb)
        if max_examples is not None and seen >= max_examples:
            break
    return batches


def sweep(model, data, transform, param, values, *, name=None, target=None, seed=0, batch_size=128,
          max_examples=None, num_classes=None, progress=None) -> SweepResult:
    """Evaluate ``model`` on ``transform(model, x, y, **{param: v}, seed=...)`` for each ``v`` in ``values``.

    Args:
        model: a classifier returning logits.
        data: a ``tf.data`` dataset of ``(x, y)`` batches or an ``(x, y)`` array pair.
        transform: ``fn(model, x, y, *, <param>, seed, [target]) -> x'``.
        param: the name of the swept keyword argument.
        values: the values to sweep.
        name: a display name (default: the transform's name).
        target: passed to the transform as ``target=`` when given; success is then hitting it.
        seed: base seed; batch ``i`` uses ``seed + i`` so results do not depend on timing.
        max_examples: evaluate only the first images.
        progress: optional ``callable(done, total)``.

    Example:
        >>> from functools import partial
        >>> res = sweep(model, (x, y), partial(fgsm), "eps", [0.0, 0.1])  # doctest: +SKIP
    """
    import time

    import tensorflow as tf

    from .models.classifiers import as_logits_model, compiled_predict

    values = tuple(float(v) for v in values)
    if not values:
        raise ConfigError(f"sweep over {param!r} needs at least one value")
    predict = compiled_predict(model)
    model = as_logits_model(model)
    batches = as_batches(data, batch_size, max_examples)
    if not batches:
        raise ConfigError("sweep got no data")
    ys = np.concatenate([b[1] for b in batches])
    n = len(ys)
    c = int(num_classes or model.output_shape[-1])
    clean_pred = np.concatenate([np.argmax(predict(tf.constant(x)).numpy(), 1) for x, _ in batches])
    clean_ok = clean_pred == ys
    per_image_target = target is not None and np.ndim(target) > 0
    if per_image_target and len(np.ravel(target)) != n:
        raise ConfigError(f"target has {len(np.ravel(target))} values for {n} images")
    starts = np.cumsum([0] + [len(b[1]) for b in batches])
    acc, succ, linf, l2, per_class, secs = [], [], [], [], [], []
    total = len(values) * len(batches)
    for vi, v in enumerate(values):
        t0 = time.perf_counter()
        preds, dinf, d2 = [], [], []
        for bi, (x, y) in enumerate(batches):
            extra = {} if target is None else {
                "target": np.ravel(target)[starts[bi]:starts[bi + 1]] if per_image_target else target}
            x_t = transform(model, tf.constant(x), tf.constant(y), **{param: v}, seed=seed + bi, **extra)
            x_t = tf.convert_to_tensor(x_t)
            preds.append(np.argmax(predict(x_t).numpy(), 1))
            diff = (x_t.numpy() - x).reshape(len(x), -1)
            dinf.append(np.abs(diff).max(1))
            d2.append(np.sqrt((diff.astype(np.float64) ** 2).sum(1)))
            if progress:
                progress(vi * len(batches) + bi + 1, total)
        secs.append(time.perf_counter() - t0)
        pred = np.concatenate(preds)
        ok = pred == ys
        acc.append(float(ok.mean()))
        if target is None:
            succ.append(float((~ok & clean_ok).sum() / max(clean_ok.sum(), 1)))
        else:
            tgt = np.broadcast_to(np.asarray(target), ys.shape)
            eligible = ys != tgt
            succ.append(float((pred[eligible] == tgt[eligible]).mean()) if eligible.any() else float("nan"))
        linf.append(float(np.concatenate(dinf).mean()))
        l2.append(float(np.concatenate(d2).mean()))
        per_class.append(tuple(float(ok[ys == k].mean()) if (ys == k).any() else float("nan") for k in range(c)))
    tname = name or getattr(getattr(transform, "func", transform), "__name__", "transform")
    tgt_out = None if target is None or np.ndim(target) else int(target)
    return SweepResult(name=tname, param=param, values=values, clean_accuracy=float(clean_ok.mean()),
                       accuracy=tuple(acc), success_rate=tuple(succ), mean_linf=tuple(linf), mean_l2=tuple(l2),
                       per_class_accuracy=tuple(per_class), num_examples=n, target=tgt_out, seconds=tuple(secs))


# --------------------------------------------------------------------------- failure thresholds

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


def _crossings(values, accs, levels):
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
    point = float(_crossings(values, accs, levels_for(accs))[0])
    rng = np.random.default_rng(seed)
    boot = np.empty(0)
    if bootstrap and n > 1:
        idx = rng.integers(0, n, size=(int(bootstrap), n))
        baccs = np.stack([correct[v][idx].mean(axis=1) for v in range(len(values))])
        boot = np.sort(_crossings(values, baccs, levels_for(baccs)))
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
        from dataclasses import asdict

        d = asdict(self)
        d["values"], d["accuracy"] = list(self.values), list(self.accuracy)
        return d


class _Scorer:
    """Per-image correctness of one model under transforms, with the model compiled once."""

    def __init__(self, model, data, *, batch_size=128, max_examples=None, seed=0):
        import tensorflow as tf

        from .models.classifiers import as_logits_model, compiled_predict

        self.model = as_logits_model(model)
        self.predict = compiled_predict(self.model)
        self.batches = as_batches(data, batch_size, max_examples)
        if not self.batches:
            raise ConfigError("no data to evaluate")
        self.seed = seed
        self.num_examples = sum(len(b[1]) for b in self.batches)

    def correct(self, transform, value, param="severity"):
        import tensorflow as tf

        out = []
        for bi, (x, y) in enumerate(self.batches):
            xt = tf.constant(x) if value == 0 else transform(self.model, tf.constant(x), tf.constant(y),
                                                                 **{param: value}, seed=self.seed + bi)
            out.append(np.argmax(self.predict(tf.convert_to_tensor(xt)).numpy(), 1) == y)
        return np.concatenate(out)


def _as_transform(noise):
    if isinstance(noise, str):
        from .noise import noise_transform

        return noise, noise_transform(noise)
    return getattr(noise, "__name__", "transform"), noise


def failure_threshold(model, data, noise, *, fraction=0.5, accuracy=None, grid=DEFAULT_SEVERITIES, tol=0.01,
                      bootstrap=200, confidence=0.95, seed=0, batch_size=128, max_examples=None, param="severity",
                      _scorer=None) -> ThresholdResult:
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
    scorer = _scorer or _Scorer(model, data, batch_size=batch_size, max_examples=max_examples, seed=seed)
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
