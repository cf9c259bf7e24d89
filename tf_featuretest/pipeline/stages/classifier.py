"""The classifier stage: train, reuse or load every ``[[classifiers]]`` entry."""
from __future__ import annotations

import hashlib

from ...report import classifier_plots as cp
from ...report.sections import classifier as writer
from .. import models


def run(ctx):
    figs, out = [], {}
    for c in ctx.config.classifiers:
        model, history, reused, path = models.classifier(ctx, c)
        ctx.models[c.name] = model
        with open(path, "rb") as fh:
            ctx.model_keys[c.name] = hashlib.sha1(fh.read()).hexdigest()
        ctx.histories[c.name] = history
        out[c.name] = {"model": c.model, "params": int(model.count_params()), "reused": reused,
                       "epochs": len(history.get("loss", [])), "adversarial": c.adversarial, "history": history}
        if history:
            p, rel = ctx.figure_path("classifier", f"curves_{c.name}.png")
            cp.plot_training_curves(history, p, title=f"Training curves: {c.name}")
            figs.append((rel, f"Loss and accuracy per epoch, {c.name}"))
    ctx.results["classifier"] = out
    ctx.sections.append(writer.section(out, figs))
