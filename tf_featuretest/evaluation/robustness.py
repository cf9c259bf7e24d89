"""Noise robustness of a classifier: curves, failure thresholds, ranking and corruption errors.

:func:`noise_robustness` answers three questions for any model and data set: at what severity does
the model start failing (a failure threshold per noise, with a bootstrap interval over images),
which noises are most disruptive (ranked by the area under the accuracy-severity curve and by
threshold), and how it compares with a baseline model (corruption error and mean corruption error,
as in Hendrycks & Dietterich, 2019, with the user's baseline in place of AlexNet).

Each curve is a :func:`~.sweep.sweep`; each threshold is :func:`~.thresholds.failure_threshold`, which
evaluates per-image correctness on its own grid plus bisection probes (about twice the model calls
of the curve alone).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .._util.io import nan_to_none
from ..errors import ConfigError
from ..noise import noise_transform, parse_noises
from .sweep import SweepResult, sweep
from .thresholds import DEFAULT_SEVERITIES, Scorer, failure_threshold


def curve_auc(result: SweepResult) -> float:
    """Area under the accuracy curve divided by the severity range (mean accuracy over [0, 1])."""
    v, a = np.asarray(result.values, np.float64), np.asarray(result.accuracy, np.float64)
    if len(v) < 2 or v[-1] <= v[0]:
        return float(a.mean())
    return float(np.sum((a[1:] + a[:-1]) * np.diff(v)) / 2 / (v[-1] - v[0]))


def corruption_error(result: SweepResult, baseline: SweepResult | None = None):
    """``(CE, relative CE)`` over the sweep's severities above 0.

    Without a baseline: the mean error ``1 - accuracy`` and the mean error increase over clean.
    With one (ImageNet-C's definition): ``sum E / sum E_baseline`` and
    ``sum (E - E_clean) / sum (E_baseline - E_baseline_clean)``; NaN where the baseline's sum is 0.
    """
    v = np.asarray(result.values)
    err = 1.0 - np.asarray(result.accuracy)[v > 0]
    if err.size == 0:
        raise ConfigError(f"corruption error of {result.name!r} needs severities above 0, got {tuple(v)}")
    clean_err = 1.0 - result.clean_accuracy
    if baseline is None:
        return float(err.mean()), float((err - clean_err).mean())
    if tuple(baseline.values) != tuple(result.values):
        raise ConfigError(f"baseline sweep of {baseline.name!r} has severities {baseline.values}, "
                          f"model has {result.values}")
    berr = 1.0 - np.asarray(baseline.accuracy)[v > 0]
    bclean = 1.0 - baseline.clean_accuracy

    def ratio(a, b):
        return float(a / b) if b > 0 else float("nan")

    return ratio(err.sum(), berr.sum()), ratio((err - clean_err).sum(), (berr - bclean).sum())


@dataclass(frozen=True)
class NoiseRank:
    """One noise's summary; ranks are 1 = most disruptive (lowest AUC, lowest threshold)."""

    name: str
    auc: float
    threshold: float | None
    ci_low: float | None
    ci_high: float | None
    corruption_error: float
    relative_corruption_error: float
    rank_auc: int
    rank_threshold: int
    baseline_auc: float | None = None
    baseline_threshold: float | None = None

    def to_dict(self) -> dict:
        return {k: nan_to_none(v) for k, v in dataclasses.asdict(self).items()}


def rank_noises(sweeps, thresholds, baseline_sweeps=None, baseline_thresholds=None) -> tuple:
    """:class:`NoiseRank` rows ordered by AUC (most disruptive first); unreached thresholds rank last."""
    aucs = [curve_auc(s) for s in sweeps]
    ts = [t.threshold for t in thresholds]
    by_auc = {i: r + 1 for r, i in enumerate(np.argsort(aucs, kind="stable"))}
    keys = [np.inf if t is None else t for t in ts]
    by_t = {i: r + 1 for r, i in enumerate(np.argsort(keys, kind="stable"))}
    rows = []
    for i, (s, t) in enumerate(zip(sweeps, thresholds)):
        b = baseline_sweeps[i] if baseline_sweeps else None
        ce, rce = corruption_error(s, b)
        rows.append(NoiseRank(name=s.name, auc=aucs[i], threshold=t.threshold, ci_low=t.ci_low, ci_high=t.ci_high,
                              corruption_error=ce, relative_corruption_error=rce, rank_auc=by_auc[i],
                              rank_threshold=by_t[i], baseline_auc=curve_auc(b) if b else None,
                              baseline_threshold=baseline_thresholds[i].threshold if baseline_thresholds else None))
    return tuple(sorted(rows, key=lambda r: r.rank_auc))


@dataclass(frozen=True)
class NoiseRobustnessResult:
    """Everything :func:`noise_robustness` measured; ``ranking`` is ordered most disruptive first."""

    model_name: str
    clean_accuracy: float
    severities: tuple
    criterion: str
    sweeps: tuple
    thresholds: tuple
    ranking: tuple
    mean_corruption_error: float
    relative_mean_corruption_error: float
    baseline_name: str | None = None
    baseline_clean_accuracy: float | None = None
    baseline_sweeps: tuple = ()
    baseline_thresholds: tuple = ()

    def to_dict(self) -> dict:
        num = nan_to_none
        return {"model": self.model_name, "clean_accuracy": self.clean_accuracy,
                "severities": list(self.severities), "criterion": self.criterion,
                "mean_corruption_error": num(self.mean_corruption_error),
                "relative_mean_corruption_error": num(self.relative_mean_corruption_error),
                "ranking": [r.to_dict() for r in self.ranking],
                "thresholds": [t.to_dict() for t in self.thresholds],
                "sweeps": [s.to_dict() for s in self.sweeps],
                "baseline": None if self.baseline_name is None else {
                    "model": self.baseline_name, "clean_accuracy": self.baseline_clean_accuracy,
                    "thresholds": [t.to_dict() for t in self.baseline_thresholds],
                    "sweeps": [s.to_dict() for s in self.baseline_sweeps]}}

    def table(self) -> str:
        """Plain-text ranking: rank, noise, AUC, threshold with its interval, CE, relative CE."""
        def f(v, w=6):
            v = nan_to_none(v)
            return f"{'-':>{w}}" if v is None else f"{v:>{w}.3f}"

        head = (f"{'rank':>4} {'noise':<16} {'AUC':>6} {'threshold':>9} {'95% CI':>15} {'CE':>12} {'rel CE':>7}"
                f"{'  base AUC  base thr' if self.baseline_name else ''}")
        base = "" if self.baseline_name is None else (f"; baseline {self.baseline_name}: clean accuracy "
                                                      f"{self.baseline_clean_accuracy:.4f}, CE relative to it")
        lines = [f"{self.model_name}: clean accuracy {self.clean_accuracy:.4f}{base}",
                 f"threshold = smallest severity with accuracy below {self.criterion}", head]
        for r in self.ranking:
            ci = "not reached" if r.ci_high is None and r.threshold is None else f"[{f(r.ci_low, 5)},{f(r.ci_high, 5)}]"
            thr = f"{'>1':>9}" if r.threshold is None else f"{r.threshold:>9.3f}"
            base = f"  {f(r.baseline_auc, 8)} {f(r.baseline_threshold, 8)}" if self.baseline_name else ""
            lines.append(f"{r.rank_auc:>4} {r.name:<16} {r.auc:>6.3f} {thr} {ci:>15} "
                         f"{f(r.corruption_error, 12)} {f(r.relative_corruption_error, 7)}{base}")
        label = "mCE" if self.baseline_name is None else f"mCE vs {self.baseline_name}"
        lines.append(f"{label}: {f(self.mean_corruption_error, 0).strip()}, relative "
                     f"{f(self.relative_mean_corruption_error, 0).strip()}")
        return "\n".join(lines)


def _analyse(model, data, names, severities, kw, batch_size, max_examples, seed, progress, who):
    scorer = Scorer(model, data, batch_size=batch_size, max_examples=max_examples, seed=seed)
    sweeps, thresholds = [], []
    for i, name in enumerate(names):
        transform = noise_transform(name)
        sweeps.append(sweep(model, data, transform, "severity", severities, name=name, seed=seed,
                            batch_size=batch_size, max_examples=max_examples))
        thresholds.append(failure_threshold(model, data, transform, grid=severities, seed=seed, scorer=scorer, **kw))
        if progress:
            progress(who, i + 1, len(names))
    return sweeps, thresholds


def noise_robustness(model, data, noises=None, *, baseline=None, severities=DEFAULT_SEVERITIES, fraction=0.5,
                     accuracy=None, tol=0.01, bootstrap=200, confidence=0.95, seed=0, batch_size=128,
                     max_examples=None, model_name="model", baseline_name="baseline",
                     progress=None) -> NoiseRobustnessResult:
    """Sweep every noise, find its failure threshold, rank the noises, and compare with a baseline.

    Args:
        model: a classifier returning logits.
        data: a ``tf.data`` dataset of ``(x, y)`` batches or an ``(x, y)`` array pair (a test set).
        noises: names from ``noise.NOISES`` (list or comma-separated string); default all.
        baseline: another classifier on the same data; corruption errors are then relative to it.
        severities: the sweep grid (default 11 points from 0 to 1); must include 0.
        fraction, accuracy, tol, bootstrap, confidence: the threshold criterion and its interval,
            as in :func:`~.thresholds.failure_threshold`.
        seed: the noise and bootstrap seed (same seed, same result).
        progress: optional ``callable(who, done, total)`` with ``who`` "model" or "baseline".

    Example:
        >>> res = noise_robustness(cnn, (x, y), "gaussian,patches", baseline=other)  # doctest: +SKIP
        >>> print(res.table())  # doctest: +SKIP
    """
    names = parse_noises(noises)
    severities = tuple(sorted(float(s) for s in severities))
    if len(severities) < 2 or severities[0] != 0.0 or severities[-1] > 1.0:
        raise ConfigError(f"severities must be at least two values in [0, 1] starting at 0, got {severities}")
    kw = dict(fraction=fraction, accuracy=accuracy, tol=tol, bootstrap=bootstrap, confidence=confidence)
    args = (batch_size, max_examples, seed, progress)
    sweeps, thresholds = _analyse(model, data, names, severities, kw, *args, "model")
    bsweeps, bthresholds = ((), ())
    if baseline is not None:
        bsweeps, bthresholds = _analyse(baseline, data, names, severities, kw, *args, "baseline")
    ranking = rank_noises(sweeps, thresholds, bsweeps or None, bthresholds or None)
    criterion = f"{accuracy:g} (absolute)" if accuracy is not None else f"{fraction:g} x clean accuracy"
    return NoiseRobustnessResult(
        model_name=model_name, clean_accuracy=sweeps[0].clean_accuracy, severities=severities, criterion=criterion,
        sweeps=tuple(sweeps), thresholds=tuple(thresholds), ranking=ranking,
        mean_corruption_error=float(np.mean([r.corruption_error for r in ranking])),
        relative_mean_corruption_error=float(np.mean([r.relative_corruption_error for r in ranking])),
        baseline_name=baseline_name if baseline is not None else None,
        baseline_clean_accuracy=bsweeps[0].clean_accuracy if bsweeps else None,
        baseline_sweeps=tuple(bsweeps), baseline_thresholds=tuple(bthresholds))


def with_baseline(result: NoiseRobustnessResult, baseline: NoiseRobustnessResult) -> NoiseRobustnessResult:
    """``result`` compared with an already analysed baseline model (same noises and severities).

    Gives the same numbers as ``noise_robustness(model, data, baseline=...)`` without analysing the
    baseline again, so one baseline can serve several models.
    """
    names = [s.name for s in result.sweeps]
    if [s.name for s in baseline.sweeps] != names or tuple(baseline.severities) != tuple(result.severities):
        raise ConfigError(f"baseline {baseline.model_name!r} was analysed with other noises or severities than "
                          f"{result.model_name!r}")
    ranking = rank_noises(result.sweeps, result.thresholds, baseline.sweeps, baseline.thresholds)
    return dataclasses.replace(
        result, ranking=ranking, mean_corruption_error=float(np.mean([r.corruption_error for r in ranking])),
        relative_mean_corruption_error=float(np.mean([r.relative_corruption_error for r in ranking])),
        baseline_name=baseline.model_name, baseline_clean_accuracy=baseline.clean_accuracy,
        baseline_sweeps=baseline.sweeps, baseline_thresholds=baseline.thresholds)
