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
from ..noise import (
    BENCHMARK,
    EXTRA,
    FROST_MISSING,
    available,
    check_preset,
    choose_preset,
    noise_transform,
    parse_noises,
    preset_transform,
    reference_name,
)
from .sweep import SweepResult, as_batches, sweep
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


@dataclass(frozen=True)
class PresetRow:
    """One reference corruption at the preset's five levels: errors, and CE against a baseline if one is given."""

    name: str
    errors: tuple
    mean_error: float
    ce: float | None = None
    relative_ce: float | None = None
    baseline_errors: tuple = ()

    def to_dict(self) -> dict:
        return {k: nan_to_none(v) if not isinstance(v, tuple) else list(v) for k, v in dataclasses.asdict(self).items()}


@dataclass(frozen=True)
class PresetResult:
    """The ImageNet-C / CIFAR-10-C table (Hendrycks & Dietterich, 2019) of one classifier.

    ``CE_c = sum_s E_s,c / sum_s E^base_s,c`` and relative ``CE_c = sum_s (E_s,c - E_clean) / sum_s
    (E^base_s,c - E^base_clean)`` over the levels ``s = 1..5``; ``mce`` / ``relative_mce`` average them
    over the benchmark corruptions evaluated (all 15 only when ``benchmark_count == 15``). Without a
    baseline only the errors are known (``ce`` None).
    """

    model_name: str
    preset: str
    clean_error: float
    rows: tuple
    mean_error: float
    benchmark_count: int
    mce: float | None = None
    relative_mce: float | None = None
    baseline_name: str | None = None
    baseline_clean_error: float | None = None
    skipped: tuple = ()
    sweeps: tuple = ()

    def to_dict(self) -> dict:
        return {"model": self.model_name, "preset": self.preset, "clean_error": self.clean_error,
                "mean_error": self.mean_error, "benchmark_count": self.benchmark_count, "mce": nan_to_none(self.mce),
                "relative_mce": nan_to_none(self.relative_mce), "baseline": self.baseline_name,
                "baseline_clean_error": self.baseline_clean_error, "rows": [r.to_dict() for r in self.rows],
                "skipped": [{"name": n, "reason": why} for n, why in self.skipped],
                "sweeps": [s.to_dict() for s in self.sweeps]}

    def table(self) -> str:
        """The standard table: error at each level, mean error, CE and relative CE (in %), then the means."""
        def p(v):
            return f"{'-':>7}" if nan_to_none(v) is None else f"{100 * v:>7.1f}"

        base = f", CE relative to {self.baseline_name}" if self.baseline_name else " (no baseline: no CE)"
        lines = [f"{self.model_name} on {self.preset}: clean error {100 * self.clean_error:.1f}%{base}",
                 f"{'corruption':<18}" + "".join(f"{'E' + str(k):>7}" for k in range(1, 6))
                 + f"{'mean E':>8}{'CE':>7}{'rel CE':>8}"]
        for r in self.rows:
            lines.append(f"{r.name:<18}" + "".join(p(e) for e in r.errors) + f" {p(r.mean_error)}{p(r.ce)} {p(r.relative_ce)}")
        scope = ("the 15 benchmark corruptions" if self.benchmark_count == 15 else
                 f"{self.benchmark_count} of the 15 benchmark corruptions (not comparable with published mCE)")
        lines.append(f"mean error {p(self.mean_error).strip()}%; mCE {p(self.mce).strip()}%, relative mCE "
                     f"{p(self.relative_mce).strip()}% over {scope}")
        lines += [f"skipped {n}: {why}" for n, why in self.skipped]
        return "\n".join(lines)


def _preset_rows(sweeps, baseline_sweeps=None):
    rows = []
    for i, s in enumerate(sweeps):
        err = tuple(1.0 - a for a in s.accuracy)
        ce = rce = None
        berr = ()
        if baseline_sweeps:
            b = baseline_sweeps[i]
            berr = tuple(1.0 - a for a in b.accuracy)
            ce = sum(err) / sum(berr) if sum(berr) > 0 else float("nan")
            inc = sum(berr) - 5 * (1.0 - b.clean_accuracy)
            rce = (sum(err) - 5 * (1.0 - s.clean_accuracy)) / inc if inc > 0 else float("nan")
        rows.append(PresetRow(name=s.name, errors=err, mean_error=float(np.mean(err)), ce=ce, relative_ce=rce,
                              baseline_errors=berr))
    return tuple(rows)


def _preset_result(model_name, preset, sweeps, skipped, baseline_name=None, baseline_sweeps=None):
    rows = _preset_rows(sweeps, baseline_sweeps)
    bench = [r for r in rows if r.name in BENCHMARK]
    mce = rmce = None
    if baseline_sweeps and bench:
        mce = float(np.mean([r.ce for r in bench]))
        rmce = float(np.mean([r.relative_ce for r in bench]))
    return PresetResult(model_name=model_name, preset=preset, clean_error=1.0 - sweeps[0].clean_accuracy, rows=rows,
                        mean_error=float(np.mean([r.mean_error for r in bench or rows])), benchmark_count=len(bench),
                        mce=mce, relative_mce=rmce, baseline_name=baseline_name,
                        baseline_clean_error=None if not baseline_sweeps else 1.0 - baseline_sweeps[0].clean_accuracy,
                        skipped=tuple(skipped), sweeps=tuple(sweeps))


def preset_corruptions(noises=None) -> tuple:
    """``(names, skipped)``: the reference corruptions to evaluate (from ``noises`` or all 19) and those left out.

    ``noises`` (a list or comma-separated string, either naming) may hold noises without a reference
    counterpart (left out) but no unknown name; frost without its pictures is skipped with the reason.
    """
    known = BENCHMARK + EXTRA
    if noises is None:
        wanted = known
    else:
        if isinstance(noises, str):
            noises = [n.strip() for n in noises.split(",") if n.strip()]
        wanted = []
        for n in noises:
            if reference_name(n) in known:
                wanted.append(reference_name(n))
            else:
                parse_noises([n])  # an unknown name is an error; a noise of this package only is left out
        wanted = tuple(dict.fromkeys(wanted))
    return (tuple(n for n in wanted if available(n)),
            tuple((n, FROST_MISSING) for n in wanted if not available(n)))


def preset_robustness(model, data, noises=None, *, preset="auto", baseline=None, seed=0, batch_size=128,
                      max_examples=None, model_name="model", baseline_name="baseline", progress=None) -> PresetResult:
    """Error at the reference's five levels of each ImageNet-C / CIFAR-10-C corruption, CE and mCE vs a baseline.

    Args:
        model: a classifier returning logits; ``data`` a dataset of ``(x, y)`` batches or an array pair.
        noises: the corruptions (either naming); default the 15 benchmark ones and the 4 extra.
        preset: ``"imagenet-c"``, ``"cifar10-c"`` or ``"auto"`` (CIFAR-10-C up to a 64-px side).
        baseline: a classifier to normalise by (the paper uses AlexNet); without one there is no CE.

    Example:
        >>> print(preset_robustness(cnn, (x, y), baseline=other).table())  # doctest: +SKIP
    """
    check_preset(preset)
    names, skipped = preset_corruptions(noises)
    if not names:
        raise ConfigError(f"no ImageNet-C corruption among the noises {noises!r}")
    first = as_batches(data, batch_size, max_examples)
    chosen = choose_preset(preset, *first[0][0].shape[1:3])

    def run(m, who):
        out = []
        for i, name in enumerate(names):
            out.append(sweep(m, data, preset_transform(name, chosen), "level", (1, 2, 3, 4, 5), name=name, seed=seed,
                             batch_size=batch_size, max_examples=max_examples))
            if progress:
                progress(who, i + 1, len(names))
        return out

    sweeps = run(model, "model")
    bsweeps = run(baseline, "baseline") if baseline is not None else None
    return _preset_result(model_name, chosen, sweeps, skipped, baseline_name if baseline is not None else None, bsweeps)


def preset_with_baseline(result: PresetResult, baseline: PresetResult) -> PresetResult:
    """``result`` with CE and mCE relative to an already evaluated ``baseline`` (same preset and corruptions)."""
    if [s.name for s in baseline.sweeps] != [s.name for s in result.sweeps] or baseline.preset != result.preset:
        raise ConfigError(f"baseline {baseline.model_name!r} was evaluated on other corruptions or another preset "
                          f"than {result.model_name!r}")
    return _preset_result(result.model_name, result.preset, result.sweeps, result.skipped, baseline.model_name,
                          baseline.sweeps)
