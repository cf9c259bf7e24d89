"""The classifier stage: train, reuse or load every ``[[classifiers]]`` entry.

A user's own model file is checked against the data (input shape, classes) and fitted to the
package's [0, 1]-logits convention (:mod:`tf_featuretest.models.adapt`); what was found and done is
recorded per classifier (``adaptation``) and said in the section.
"""
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
        how = ctx.artifacts.get(("input_adaptation", c.name))
        with open(path, "rb") as fh:
            key = hashlib.sha1(fh.read()).hexdigest()
        # The stage cache keys on the models: an adapted user model is its file and how it was adapted.
        ctx.model_keys[c.name] = key if how is None else f"{key}:{how.expects}"
        ctx.histories[c.name] = history
        source = "user" if how is not None else "reused" if reused else "trained"
        out[c.name] = {"model": c.model, "params": int(model.count_params()), "source": source, "reused": reused,
                       "epochs": len(history.get("loss", [])), "adversarial": c.adversarial, "history": history,
                       "adaptation": None if how is None else how.to_dict()}
        if history:
            p, rel = ctx.figure_path("classifier", f"curves_{c.name}.png")
            cp.plot_training_curves(history, p, title=f"Training curves: {c.name}")
            figs.append((rel, f"Loss and accuracy per epoch, {c.name}"))
    ctx.results["classifier"] = out
    ctx.sections.append(writer.section(out, figs))
