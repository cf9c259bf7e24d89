"""The noise-robustness section: thresholds, ranking and corruption errors per classifier."""
from __future__ import annotations

from ..html import Section, Table
from .common import interval


def ranking_table(res: dict, name: str, baseline: str | None) -> Table:
    """The ranking of one classifier's noises (``res`` is a ``NoiseRobustnessResult.to_dict()``)."""
    use_base = bool(baseline) and name != baseline
    return Table(("rank", "noise", "AUC", "threshold", "95% CI", "corruption error", "relative CE"),
                 tuple((r["rank_auc"], r["name"], r["auc"], r["threshold"], interval(r["ci_low"], r["ci_high"]),
                        r["corruption_error"], r["relative_corruption_error"]) for r in res["ranking"]),
                 f"Noises ranked by area under the accuracy curve, {name}"
                 + (f" (corruption errors relative to {baseline})" if use_base else ""))


def section(results: dict, figures, *, severities: int, baseline: str | None, coverage: str) -> Section:
    """``results`` is ``results["noise"]``: ``classifiers`` (name -> ``NoiseRobustnessResult.to_dict()``)."""
    r = results["classifiers"]
    first = next(iter(r.values()))
    worst = [row["name"] for row in first["ranking"][:3]]
    never = [t["name"] for t in first["thresholds"] if t["threshold"] is None]
    reading = (f"Each noise was applied at {severities} severities from 0 (none) to 1 (the strongest that still "
               f"makes sense). The failure threshold is the lowest severity at which accuracy drops below half of "
               f"clean accuracy, found by bisection. For {first['model']} the most disruptive noises are "
               f"{', '.join(worst)}" + (f"; {', '.join(never)} never halved its accuracy." if never else ".")
               + "".join(f" Against {baseline}, {m} has a mean corruption error of {v['mean_corruption_error']:.3f} "
                         f"(relative {v['relative_mean_corruption_error']:.3f}; below 1 means more robust)."
                         for m, v in r.items() if v.get("baseline") and v["mean_corruption_error"] is not None
                         and v["relative_mean_corruption_error"] is not None)
               + f" Evaluated on {coverage}.")
    tables = tuple(ranking_table(res, name, baseline) for name, res in r.items())
    return Section("noise", "Noise robustness", reading, figures=tuple(figures), tables=tables)
