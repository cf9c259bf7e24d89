"""The noise stage: every noise swept over severities, failure thresholds, ranking, corruption errors, mCE table."""
from __future__ import annotations

import os

import numpy as np

from ...evaluation.robustness import noise_robustness, preset_robustness, preset_with_baseline, with_baseline
from ...noise import NOISES
from ...report.noise_plots import write_noise_plots
from ...report.sections import noise as writer

CAPTIONS = (("accuracy_vs_severity", "Accuracy against severity, one panel per noise"),
            ("thresholds", "Failure threshold per noise (severity where accuracy halves), with 95% CI"),
            ("severity_grid", "One test image under each noise at increasing severity"))


def _presets(ctx, n, x, y, order):
    """The ImageNet-C / CIFAR-10-C table per classifier (the baseline evaluated once), or None when switched off."""
    if n.preset == "none":
        return None
    raw = {}
    for name in order:
        bar = ctx.progress_bar(f"      {n.preset} levels on {name}")
        raw[name] = preset_robustness(ctx.models[name], (x, y), n.noises, preset=n.preset, seed=ctx.config.seed,
                                      model_name=name, progress=None if bar is None else
                                      (lambda who, done, total, bar=bar: bar(done, total)))
    out = {}
    for name in ctx.models:
        res = raw[name]
        if n.baseline and name != n.baseline:
            res = preset_with_baseline(res, raw[n.baseline])
        out[name] = res.to_dict()
    return {"preset": raw[order[0]].preset, "classifiers": out}


def run(ctx):
    n = ctx.config.noise
    sub = ctx.subset("test", n.max_examples)
    x, y = sub.take(*ctx.data["test"])
    names = tuple(n.noises) if n.noises is not None else tuple(NOISES)
    severities = tuple(float(v) for v in np.linspace(0, 1, n.severities))
    results = {}
    order = sorted(ctx.models, key=lambda m: m != n.baseline)  # the baseline first, analysed once
    for name in order:
        bar = ctx.progress_bar(f"      noise sweeps on {name}")
        results[name] = noise_robustness(ctx.models[name], (x, y), names, severities=severities, seed=ctx.config.seed,
                                         model_name=name, progress=None if bar is None else
                                         (lambda who, done, total, bar=bar: bar(done, total)))
    out, figs = {}, []
    first_name = next(iter(ctx.models))
    for name in ctx.models:
        res = results[name]
        if n.baseline and name != n.baseline:
            res = with_baseline(res, results[n.baseline])
        out[name] = res.to_dict()
        paths = write_noise_plots(res, x[0], os.path.join(ctx.report_dir, "noise", name), seed=ctx.config.seed)
        for key, caption in CAPTIONS:
            if key == "severity_grid" and name != first_name:
                continue
            figs.append((os.path.relpath(paths[key], ctx.report_dir), f"{caption}: {name}"))
    ctx.results["noise"] = {"classifiers": out, "subset": sub.to_dict()}
    presets = _presets(ctx, n, x, y, order)
    if presets is not None:
        ctx.results["noise"]["preset"] = presets
    ctx.sections.append(writer.section(ctx.results["noise"], figs, severities=len(severities), baseline=n.baseline,
                                       coverage=sub.coverage()))
