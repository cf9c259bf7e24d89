"""The noise-robustness section: thresholds, ranking, corruption errors and the ImageNet-C / CIFAR-10-C table."""
from __future__ import annotations

from ..html import Section, Table
from .common import interval, pct


def _ce_columns(use_base: bool, baseline: str | None):
    if use_base:
        return f"CE vs {baseline}", f"relative CE vs {baseline}"
    return "mean error", "error increase over clean"


def ranking_table(res: dict, name: str, baseline: str | None) -> Table:
    """The ranking of one classifier's noises (``res`` is a ``NoiseRobustnessResult.to_dict()``)."""
    use_base = bool(baseline) and name != baseline and res.get("baseline") is not None
    ce, rce = _ce_columns(use_base, baseline)
    return Table(("rank", "noise", "AUC (mean accuracy)", "failure threshold", "95% CI of the threshold", ce, rce),
                 tuple((r["rank_auc"], r["name"], r["auc"], "not reached" if r["threshold"] is None else r["threshold"],
                        interval(r["ci_low"], r["ci_high"]), r["corruption_error"], r["relative_corruption_error"])
                       for r in res["ranking"]),
                 f"Noises ranked by area under the accuracy curve, {name}"
                 + (f" (corruption errors relative to {baseline})" if use_base else " (absolute errors)"))


def preset_table(res: dict) -> Table:
    """One classifier's ImageNet-C / CIFAR-10-C table (``res`` is a ``PresetResult.to_dict()``), in percent."""
    base = res["baseline"]
    cols = ("corruption",) + tuple(f"error at level {k}" for k in range(1, 6)) + ("mean error",)
    cols += (f"CE vs {base}", f"relative CE vs {base}") if base else ()

    def p(v):
        return None if v is None else round(100 * v, 1)

    rows = tuple((r["name"],) + tuple(p(e) for e in r["errors"]) + (p(r["mean_error"]),)
                 + ((p(r["ce"]), p(r["relative_ce"])) if base else ()) for r in res["rows"])
    return Table(cols, rows, f"{res['preset']} corruptions at the reference's levels 1-5, {res['model']} "
                             f"(errors in %, clean error {pct(res['clean_error'])})")


def _ratio(v) -> str:
    """A CE as a percentage; an undefined one (the baseline's error is zero or did not grow) says so."""
    return "undefined (the baseline's error is zero or did not grow)" if v is None else f"{100 * v:.1f}%"


def _preset_reading(preset: dict) -> str:
    r = preset["classifiers"]
    text = (f" The last table{'s' if len(r) > 1 else ''} applies the {preset['preset']} corruptions exactly as the "
            f"reference code makes them (Hendrycks & Dietterich, 2019), at its five levels. CE is the sum of the "
            f"errors over the five levels divided by the baseline's; relative CE divides the errors' increase over "
            f"clean error by the baseline's increase; mCE and relative mCE average them over the benchmark "
            f"corruptions (1.0 = as robust as the baseline, below 1 more robust).")
    for name, v in r.items():
        scope = ("the 15 benchmark corruptions" if v["benchmark_count"] == 15 else
                 f"{v['benchmark_count']} of the 15 benchmark corruptions, so not comparable with published values")
        if v["baseline"]:
            text += (f" {name}: mCE {_ratio(v['mce'])}, relative mCE {_ratio(v['relative_mce'])} against "
                     f"{v['baseline']}, over {scope}.")
        else:
            text += f" {name}: mean error {pct(v['mean_error'])} over {scope} (no baseline, so no CE)."
    skipped = next(iter(r.values()))["skipped"]
    text += "".join(f" {s['name']} was skipped: {s['reason']}." for s in skipped)
    return text


def section(results: dict, figures, *, severities: int, baseline: str | None, coverage: str) -> Section:
    """``results`` is ``results["noise"]``: ``classifiers`` (name -> ``NoiseRobustnessResult.to_dict()``), optionally
    ``preset`` (``{"preset", "classifiers": name -> PresetResult.to_dict()}``)."""
    r = results["classifiers"]
    first = next(iter(r.values()))
    worst = [row["name"] for row in first["ranking"][:3]]
    never = [t["name"] for t in first["thresholds"] if t["threshold"] is None]
    compared = [m for m, v in r.items() if v.get("baseline")]
    reading = (f"Each noise was applied at {severities} severities from 0 (none) to 1 (the strongest that still "
               f"makes sense). The failure threshold is the lowest severity at which accuracy drops below half of "
               f"clean accuracy, found by bisection, with a bootstrap 95% interval over the images; \"not reached\" "
               f"means accuracy stayed above that level up to severity 1, so there is no threshold and no interval "
               f"(a dash). For {first['model']} the most disruptive noises are {', '.join(worst)}"
               + (f"; {', '.join(never)} never halved its accuracy." if never else ".")
               + " Without a baseline the last two columns are absolute: the mean error over the severities above "
                 "0, and its increase over the clean error (negative where a noise happens to help)."
               + (f" Against {baseline} they are ratios: CE = the classifier's summed error divided by {baseline}'s, "
                  f"relative CE = the same for the error increase over clean (below 1 = more robust; negative or "
                  f"very large where {baseline}'s increase is near zero)." if compared else "")
               + "".join(f" Against {baseline}, {m} has a mean corruption error of {v['mean_corruption_error']:.3f} "
                         f"(relative {v['relative_mean_corruption_error']:.3f})."
                         for m, v in r.items() if v.get("baseline") and v["mean_corruption_error"] is not None
                         and v["relative_mean_corruption_error"] is not None))
    tables = tuple(ranking_table(res, name, baseline) for name, res in r.items())
    if results.get("preset"):
        reading += _preset_reading(results["preset"])
        tables += tuple(preset_table(res) for res in results["preset"]["classifiers"].values())
    reading += f" Evaluated on {coverage}."
    return Section("noise", "Noise robustness", reading, figures=tuple(figures), tables=tables)
