"""The test-accuracy section: top-1, top-k, F1 and per-class results."""
from __future__ import annotations

from ..classifier_plots import per_class_table
from ..html import Section, Table
from .common import pct


def _names(items, quote: bool = True) -> str:
    """``'a'``, ``'a' and 'b'``, ``'a', 'b' and 'c'``, ``'a', 'b', 'c' and 4 more``."""
    items = [repr(str(i)) if quote else str(i) for i in items]
    if len(items) > 3:
        return ", ".join(items[:3]) + f" and {len(items) - 3} more"
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def weakest_classes(rep: dict) -> str:
    """What one classifier's per-class recall says, true for ties, perfect scores and absent classes."""
    present = [row for row in rep["per_class"] if row["support"]]
    if not present:
        return "no class has test images"
    lo = min(row["recall"] for row in present)
    hi = max(row["recall"] for row in present)
    if lo == hi:
        return f"every class is recognised equally often ({pct(lo)} of its test images)"
    worst = [row["class"] for row in present if row["recall"] == lo]
    verb = "is" if len(worst) == 1 else "are"
    noun = "class" if len(worst) == 1 else "classes"
    return f"the {noun} recognised least often {verb} {_names(worst)} ({pct(lo)} of its test images)"


def section(r: dict, figures, num_test: int) -> Section:
    """``r`` is ``results["evaluate"]`` (``classifiers``: name -> ClassificationReport.to_dict())."""
    reports = r["classifiers"]
    rows, tables, parts = [], [], []
    k5 = None
    for name, rep in reports.items():
        num_classes = len(rep["per_class"])
        ks = sorted(int(k) for k in rep["top_k"])
        k5 = max(ks)
        rows.append((name, rep["accuracy"], rep["top_k"].get(str(k5)), rep["macro_avg"]["f1"],
                     rep["weighted_avg"]["f1"]))
        tables.append(per_class_table(rep, caption=f"Per-class results, {name}"))
        topk = (f" and {pct(rep['top_k'][str(k5)])} within its top {k5}" if 1 < k5 < num_classes else "")
        wrong = sum(row["support"] for row in rep["per_class"]) - sum(
            rep["confusion_matrix"][i][i] for i in range(num_classes))
        tail = ("it misclassifies none of them" if wrong == 0
                else f"it misclassifies {wrong}; the confusion matrix shows which classes they are mistaken for")
        parts.append(f"{name} gets {pct(rep['accuracy'])} right at the first guess{topk}; "
                     f"{weakest_classes(rep)}, and {tail}.")
    reading = f"On all {num_test:,} test images: " + " ".join(parts)
    if len(rows) > 1:
        top = max(row[1] for row in rows)
        best = [row[0] for row in rows if row[1] == top]
        reading += (f" The most accurate is {best[0]}." if len(best) == 1
                    else f" {_names(best, quote=False)} are equally accurate ({pct(top)}).")
    absent = [row["class"] for row in next(iter(reports.values()))["per_class"] if not row["support"]]
    if absent:
        reading += (f" {len(absent)} class{'es have' if len(absent) > 1 else ' has'} no test images "
                    f"({_names(absent)}): {'their' if len(absent) > 1 else 'its'} recall is not measured.")
    return Section("evaluate", "Test accuracy", reading, figures=tuple(figures),
                   tables=(Table(("classifier", "top-1", f"top-{k5}", "macro F1", "weighted F1"), tuple(rows),
                                 "Test set"),) + tuple(tables))
