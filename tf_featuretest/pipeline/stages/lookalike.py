"""The look-alike stage: images the first classifier puts in a wanted class and that still look the same.

Every configured method (``[lookalike] methods``) attacks the same stratified test images with the
same targets; the label committee (models the tool trains, not the one under test) says whether
each look-alike still shows its original label. The first method's look-alikes are kept in
``lookalike/lookalikes.npz`` beside the report's figures.
"""
from __future__ import annotations

import numpy as np

from ..._util.io import atomic_path
from ...attacks.feature_space import class_centroids
from ...attacks.registry import get_attack
from ...evaluation.comparison import compare_targeted
from ...report import attack_plots as ap
from ...report.sections import lookalike as writer
from .. import models
from .attacks import TRIPLETS, predicted

#: Iterations of the minimal-change methods in the run (C&W: per binary-search step).
CW_STEPS, CW_BINARY_STEPS, DDN_STEPS, PGD_STEPS = 100, 5, 100, 40


def targets_for(y, num_classes: int) -> np.ndarray:
    """Each image's wanted label: every other class in turn, never the image's own."""
    y = np.asarray(y, np.int64)
    return (y + 1 + np.arange(len(y)) % (num_classes - 1)) % num_classes


def method_runner(name: str, model, *, eps: float, seed: int, centroids=None):
    """``fn(x, y, target) -> x_adv`` for one look-alike method, with the run's settings."""
    fn = get_attack(name)
    kw = {"perceptual": dict(seed=seed), "cw": dict(steps=CW_STEPS, binary_steps=CW_BINARY_STEPS),
          "ddn": dict(steps=DDN_STEPS, seed=seed), "pgd": dict(eps=eps, steps=PGD_STEPS, early_stop=True, seed=seed),
          "feature_space": dict(eps=eps, centroids=centroids, seed=seed)}[name]
    return lambda x, y, t: fn(model, x, y, target=t, **kw)


def save_lookalikes(path, x, y, target, runs: dict, primary: str) -> str:
    """``lookalikes.npz``: originals, the primary method's look-alikes, labels, targets, predictions (atomic)."""
    r = runs[primary]
    arrays = {"originals": x.astype(np.float32), "lookalikes": r.images.astype(np.float32),
              "labels": y.astype(np.int64), "targets": target.astype(np.int64),
              "predictions": r.predictions.astype(np.int64), "method": np.str_(primary),
              "methods": np.asarray(list(runs), str)}
    for name, run in runs.items():
        arrays[f"images_{name}"] = run.images.astype(np.float32)
        arrays[f"predictions_{name}"] = run.predictions.astype(np.int64)
        if run.looks_same is not None:
            arrays[f"looks_same_{name}"] = run.looks_same.astype(bool)
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez_compressed(tmp, **arrays)
    return str(path)


def run(ctx):
    lk, info = ctx.config.lookalike, ctx.data["info"]
    name, model = ctx.first_model()
    seed = ctx.config.seed
    xt, yt = ctx.data["train"]
    cents = class_centroids(model, xt, yt, seed=seed)  # also exported with the attacks (feature_space signature)
    ctx.artifacts["centroids"] = cents
    sub = ctx.subset("test", lk.images)
    x, y = sub.take(*ctx.data["test"])
    target = targets_for(y, info.num_classes)
    judge, judge_info = None, None
    if lk.judge:
        committee, reused = models.committee(ctx)
        judge = lambda images, labels: committee.keeps(images, labels).kept  # noqa: E731
        judge_info = {"members": committee.describe(), "originals_kept": float(np.mean(judge(x, y))),
                      "reused": reused}
    methods = {m: method_runner(m, model, eps=lk.eps, seed=seed, centroids=cents) for m in lk.methods}
    ctx.say(f"      look-alikes: {', '.join(lk.methods)} on {len(x)} images")
    runs = compare_targeted(model, x, y, target=target, methods=methods, judge=judge)
    primary = lk.methods[0]
    p, _ = ctx.figure_path("lookalike", "lookalikes.npz")
    save_lookalikes(p, x, y, target, runs, primary)
    n_show = min(TRIPLETS, len(x))
    best = runs[primary]
    p, rel = ctx.figure_path("lookalike", "lookalikes.png")
    ap.plot_adversarial_triplets(x[:n_show], best.images[:n_show], y[:n_show], predicted(model, x[:n_show]),
                                 best.predictions[:n_show], p, class_names=info.class_names,
                                 title=f"Look-alikes of {name} ({primary})")
    figs = [(rel, f"{primary}: original, amplified change and look-alike, with the labels {name} gives them")]
    if len(runs) > 1:
        p, rel = ctx.figure_path("lookalike", "methods.png")
        ap.plot_lookalike_methods(x, y, target, {m: (r.images, r.predictions, r.ssim, r.looks_same)
                                                 for m, r in runs.items()}, p, class_names=info.class_names)
        figs.append((rel, "The same images and wanted labels, every method side by side, at true contrast"))
    ctx.results["lookalike"] = {
        "classifier": name, "eps": lk.eps, "primary": primary, "targets": sorted(set(target.tolist())),
        "file": "lookalike/lookalikes.npz", "judge": judge_info,
        "methods": {m: r.stats.to_dict() for m, r in runs.items()},
        "per_target": {m: r.per_target(target) for m, r in runs.items()}, "subset": sub.to_dict()}
    ctx.sections.append(writer.section(ctx.results["lookalike"], figs, coverage=sub.coverage(),
                                       class_names=info.class_names))
