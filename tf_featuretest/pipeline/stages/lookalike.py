"""The look-alike stage: targeted images the first classifier puts in a wanted class."""
from __future__ import annotations

import numpy as np

from ...attacks.feature_space import class_centroids, feature_space
from ...evaluation.comparison import compare_with_pgd
from ...report import attack_plots as ap
from ...report.sections import lookalike as writer
from .attacks import TRIPLETS, predicted


def run(ctx):
    lk, info = ctx.config.lookalike, ctx.data["info"]
    name, model = ctx.first_model()
    xt, yt = ctx.data["train"]
    cents = class_centroids(model, xt, yt, seed=ctx.config.seed)
    ctx.artifacts["centroids"] = cents
    sub = ctx.subset("test", lk.images)
    x, y = sub.take(*ctx.data["test"])
    target = (y + 1 + np.arange(len(y)) % (info.num_classes - 1)) % info.num_classes
    cmp = compare_with_pgd(model, x, y, target=target, eps=lk.eps, centroids=cents, seed=ctx.config.seed)
    n_show = min(TRIPLETS, len(x))
    x_adv = np.asarray(feature_space(model, x[:n_show], y[:n_show], target=target[:n_show], eps=lk.eps,
                                     centroids=cents, seed=ctx.config.seed))
    pc, pa = predicted(model, x[:n_show]), predicted(model, x_adv)
    p, rel = ctx.figure_path("lookalike", "lookalikes.png")
    ap.plot_adversarial_triplets(x[:n_show], x_adv, y[:n_show], pc, pa, p, class_names=info.class_names,
                                 title=f"Look-alikes at L-inf {lk.eps:g} (feature-space attack on {name})")
    ctx.results["lookalike"] = {"classifier": name, **cmp.to_dict(), "subset": sub.to_dict()}
    figs = [(rel, "Original, amplified change and look-alike, with the labels the model gives them")]
    ctx.sections.append(writer.section(ctx.results["lookalike"], figs, eps=lk.eps, coverage=sub.coverage()))
