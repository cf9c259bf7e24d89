"""The test-accuracy section: top-1, top-k, F1 and per-class results."""
from __future__ import annotations

from ..classifier_plots import per_class_table
from ..html import Section, Table
from .common import pct


def section(r: dict, figures, num_test: int) -> Section:
    """``r`` is ``results["evaluate"]`` (``classifiers``: name -> ClassificationReport.to_dict())."""
    reports = r["classifiers"]
    rows, tables = [], []
    k5 = None
    for name, rep in reports.items():
        ks = sorted(int(k) for k in rep["top_k"])
        k5 = max(ks)
        rows.append((name, rep["accuracy"], rep["top_k"].get(str(k5)), rep["macro_avg"]["f1"],
                     rep["weighted_avg"]["f1"]))
        tables.append(per_class_table(rep, caption=f"Per-class results, {name}"))
    best = max(rows, key=lambda row: row[1])
    worst_cls = {n: min(v["per_class"], key=lambda row: row["recall"])["class"] for n, v in reports.items()}
    reading = (f"On the {num_test} test images, " + "; ".join(
        f"{row[0]} gets {pct(row[1])} right at the first guess and {pct(row[2])} within its top {k5}" for row in rows)
        + f". The best is {best[0]}. The class recognised least often is "
        + ", ".join(f"{c!r} for {n}" for n, c in worst_cls.items())
        + "; the confusion matrix shows which classes it is mistaken for.")
    return Section("evaluate", "Test accuracy", reading, figures=tuple(figures),
                   tables=(Table(("classifier", "top-1", f"top-{k5}", "macro F1", "weighted F1"), tuple(rows),
                                 "Test set"),) + tuple(tables))
