"""The evaluate stage: top-1/top-k, per-class report and confusion matrix of every classifier on the test split."""
from __future__ import annotations

from ...metrics import evaluate_classifier
from ...report import classifier_plots as cp
from ...report.sections import evaluate as writer


def run(ctx):
    info = ctx.data["info"]
    x, y = ctx.data["test"]
    figs, out = [], {}
    for name, model in ctx.models.items():
        rep = evaluate_classifier(model, (x, y), info.class_names)
        out[name] = rep.to_dict()
        p, rel = ctx.figure_path("evaluate", f"confusion_{name}.png")
        cp.plot_confusion_matrix(rep.confusion, info.class_names, p, title=f"Confusion matrix: {name}")
        figs.append((rel, f"Confusion matrix (rows: true class, normalised), {name}"))
    ctx.results["evaluate"] = {"classifiers": out}
    ctx.sections.append(writer.section(ctx.results["evaluate"], figs, num_test=len(y)))
