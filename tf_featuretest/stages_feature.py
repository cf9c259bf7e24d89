"""Stages of ``featuretest run`` at the feature level and after: feature, lookalike, saliency, export.

See :mod:`tf_featuretest.stages_pixel` for the stage contract.
"""
from __future__ import annotations

import os

import numpy as np

from .report.html import Section, Table
from .stages_pixel import _pct


def _first(ctx):
    return next(iter(ctx.models.items()))


# -------------------------------------------------------------------------------------- lookalike


def stage_lookalike(ctx):
    from .attacks.feature_space import class_centroids, compare_with_pgd, feature_space
    from .report import attack_plots as ap

    lk, info = ctx.config.lookalike, ctx.data["info"]
    name, model = _first(ctx)
    xt, yt = ctx.data["train"]
    cents = class_centroids(model, xt, yt, seed=ctx.config.seed)
    ctx.artifacts["centroids"] = cents
    x, y = ctx.data["test"]
    x, y = x[: lk.images], y[: lk.images]
    target = (y + 1 + np.arange(len(y)) % (info.num_classes - 1)) % info.num_classes
    cmp = compare_with_pgd(model, x, y, target=target, eps=lk.eps, centroids=cents, seed=ctx.config.seed)
    n_show = min(8, len(x))
    x_adv = np.asarray(feature_space(model, x[:n_show], y[:n_show], target=target[:n_show], eps=lk.eps,
                                     centroids=cents, seed=ctx.config.seed))
    pc = np.argmax(model.predict(x[:n_show], verbose=0), 1)
    pa = np.argmax(model.predict(x_adv, verbose=0), 1)
    p, rel = ctx.figure_path("lookalike", "lookalikes.png")
    ap.plot_adversarial_triplets(x[:n_show], x_adv, y[:n_show], pc, pa, p, class_names=info.class_names,
                                 title=f"Look-alikes at L-inf {lk.eps:g} (feature-space attack on {name})")
    ctx.results["lookalike"] = {"classifier": name, **cmp.to_dict()}
    fs, pg = cmp.feature_space, cmp.pgd
    reading = (f"Given an image and a wanted label, the feature-space attack changes the image, by at most {lk.eps:g} "
               f"per pixel, until {name} puts it in the wanted class, by pulling its penultimate-layer features towards "
               f"that class's typical feature vector (the class centroid). It reached the wanted label for "
               f"{_pct(fs.success_rate)} of {fs.num_examples} test images with a mean SSIM of {fs.ssim:.3f} to the "
               f"original (1 = identical), against {_pct(pg.success_rate)} and SSIM {pg.ssim:.3f} for targeted PGD "
               f"at the same budget.")
    rows = tuple((s.method, s.success_rate, s.linf, s.l2, s.psnr, s.ssim, s.seconds) for s in (fs, pg))
    ctx.sections.append(Section("lookalike", "Targeted look-alike images", reading, figures=(
        (rel, "Original, amplified change and look-alike, with the labels the model gives them"),),
        tables=(Table(("method", "success", "L-inf", "L2", "PSNR (dB)", "SSIM", "seconds"), rows,
                      f"Feature-space attack vs targeted PGD, eps {lk.eps:g}"),)))


# --------------------------------------------------------------------------------------- saliency


def stage_saliency(ctx):
    from .attacks import pgd
    from .explain import saliency_maps
    from .report.explain_plots import pick_examples, plot_clean_vs_adversarial, plot_saliency_grid

    sc, info = ctx.config.saliency, ctx.data["info"]
    x, y = ctx.data["test"]
    figs, out = [], {}
    for name, model in ctx.models.items():
        res = saliency_maps(model, x, y, n=sc.smoothgrad_samples, seed=ctx.config.seed)
        idx = pick_examples(res, correct=sc.images // 2, wrong=sc.images - sc.images // 2)
        p, rel = ctx.figure_path("saliency", f"saliency_{name}.png")
        plot_saliency_grid(res, p, class_names=info.class_names, indices=idx, max_images=sc.images,
                           title=f"Saliency, {name}: correct then misclassified test images")
        figs.append((rel, f"Vanilla gradient, SmoothGrad and Grad-CAM ({res.layer}) for {name}"))
        out[name] = {"layer": res.layer, "images": len(idx), "misclassified_shown": int(np.sum(
            res.labels[idx] != res.predictions[idx]))}
    name, model = _first(ctx)
    n = min(sc.images, len(x))
    x_adv = np.asarray(pgd(model, x[:n], y[:n], eps=0.1, steps=20, seed=ctx.config.seed))
    clean = saliency_maps(model, x[:n], y[:n], n=sc.smoothgrad_samples, seed=ctx.config.seed)
    adv = saliency_maps(model, x_adv, y[:n], n=sc.smoothgrad_samples, seed=ctx.config.seed)
    p, rel = ctx.figure_path("saliency", "clean_vs_adversarial.png")
    plot_clean_vs_adversarial(clean, adv, p, class_names=info.class_names, max_images=4)
    figs.append((rel, f"The same images clean and after PGD (eps 0.1), {name}"))
    flipped = int(np.sum(adv.predictions != clean.predictions))
    out["adversarial"] = {"classifier": name, "images": n, "prediction_changed": flipped}
    ctx.results["saliency"] = out
    reading = ("Saliency maps show which pixels the prediction depends on: the plain gradient, SmoothGrad (the "
               "gradient averaged over noisy copies, less speckled) and Grad-CAM (which regions of the last "
               "convolutional layer support the predicted class). For misclassified images they show what the model "
               f"looked at instead; after a PGD attack that changed {flipped} of {n} predictions, the maps move to "
               "the pixels the attack altered rather than to the digit's strokes.")
    ctx.sections.append(Section("saliency", "Saliency maps", reading, figures=tuple(figs)))


# ----------------------------------------------------------------------------------------- export


def stage_export(ctx):
    from .export import export_attacks, export_classifier, export_generator, export_vae

    info = ctx.data["info"]
    name, model = _first(ctx)
    pipe, root = ctx.config.name, ctx.export_root
    radius = ctx.artifacts.get("separation_radius")
    done = [export_classifier(model, root, pipe, class_names=info.class_names, separation_radius=radius),
            export_attacks(model, root, pipe, class_names=info.class_names, centroids=ctx.artifacts.get("centroids"),
                           separation_radius=radius)]
    if "vae" in ctx.artifacts:
        xt, yt = ctx.data["train"]
        done.append(export_vae(ctx.artifacts["vae"], root, pipe, train_images=xt, train_labels=yt,
                               class_names=info.class_names, separation_radius=radius))
    if "gan" in ctx.artifacts:
        done.append(export_generator(ctx.artifacts["gan"], root, pipe, class_names=info.class_names,
                                     separation_radius=radius))
    ctx.results["export"] = {"classifier": name, "artifacts": [d.to_dict() for d in done]}
    rows = tuple((d.artifact, d.version, ", ".join(d.signatures), round(d.size_bytes / 1e6, 2),
                  round(d.variable_bytes / 1e6, 2), d.path) for d in done)
    reading = (f"{name} and its generators were written as versioned SavedModels under {root}/{pipe}/, the layout "
               "TF Serving loads (one folder per artifact, one integer folder per version). Each signature takes "
               "named inputs and returns named outputs; docs/serving.md shows a request for each.")
    ctx.sections.append(Section("export", "SavedModel export", reading, tables=(
        Table(("artifact", "version", "signatures", "size (MB)", "variables (MB)", "path"), rows),)))


STAGE_FUNCS = {"lookalike": stage_lookalike, "saliency": stage_saliency, "export": stage_export}
