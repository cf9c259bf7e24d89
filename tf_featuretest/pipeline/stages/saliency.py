"""The saliency stage: vanilla gradient, SmoothGrad and Grad-CAM maps, clean and after PGD."""
from __future__ import annotations

import numpy as np

from ...attacks.pgd import pgd
from ...explain import saliency_maps
from ...report.explain_plots import pick_examples, plot_clean_vs_adversarial, plot_saliency_grid
from ...report.sections import saliency as writer

#: Images in the clean-vs-adversarial figure (at most).
ADVERSARIAL_SHOWN = 4


def map_correlation(a, b) -> np.ndarray:
    """Pearson correlation of each pair of maps ``a[i]``, ``b[i]`` (1: the same pattern; 0 for a flat map)."""
    a = np.asarray(a, np.float64).reshape(len(a), -1)
    b = np.asarray(b, np.float64).reshape(len(b), -1)
    a = a - a.mean(1, keepdims=True)
    b = b - b.mean(1, keepdims=True)
    den = np.sqrt((a * a).sum(1) * (b * b).sum(1))
    return np.where(den > 0, (a * b).sum(1) / np.where(den > 0, den, 1), 0.0)


def run(ctx):
    sc, info = ctx.config.saliency, ctx.data["info"]
    sub = ctx.subset("test", sc.max_examples)
    x, y = sub.take(*ctx.data["test"])
    figs, out = [], {"subset": sub.to_dict()}
    for name, model in ctx.models.items():
        res = saliency_maps(model, x, y, n=sc.smoothgrad_samples, seed=ctx.config.seed)
        idx = pick_examples(res, correct=sc.images // 2, wrong=sc.images - sc.images // 2)
        p, rel = ctx.figure_path("saliency", f"saliency_{name}.png")
        plot_saliency_grid(res, p, class_names=info.class_names, indices=idx, max_images=sc.images,
                           title=f"Saliency, {name}: correct then misclassified test images")
        figs.append((rel, f"Vanilla gradient, SmoothGrad and Grad-CAM ({res.layer}) for {name}"))
        out[name] = {"layer": res.layer, "images": len(idx), "misclassified_shown": int(np.sum(
            res.labels[idx] != res.predictions[idx])), "misclassified_available": int(np.sum(res.labels != res.predictions)),
            "picked_from": len(res)}
    name, model = ctx.first_model()
    n = min(sc.images, len(x))
    x_adv = np.asarray(pgd(model, x[:n], y[:n], eps=sc.attack_eps, steps=sc.attack_steps, seed=ctx.config.seed))
    clean = saliency_maps(model, x[:n], y[:n], n=sc.smoothgrad_samples, seed=ctx.config.seed)
    adv = saliency_maps(model, x_adv, y[:n], n=sc.smoothgrad_samples, seed=ctx.config.seed)
    p, rel = ctx.figure_path("saliency", "clean_vs_adversarial.png")
    plot_clean_vs_adversarial(clean, adv, p, class_names=info.class_names, max_images=ADVERSARIAL_SHOWN)
    figs.append((rel, f"The same images clean and after PGD (eps {sc.attack_eps:g}), {name}"))
    flipped = int(np.sum(adv.predictions != clean.predictions))
    method = "smoothgrad" if "smoothgrad" in clean.methods else clean.methods[0]
    corr = map_correlation(clean.maps[method], adv.maps[method])
    out["adversarial"] = {"classifier": name, "images": n, "prediction_changed": flipped, "eps": sc.attack_eps,
                          "steps": sc.attack_steps, "method": method, "map_correlation": corr.tolist(),
                          "mean_map_correlation": float(np.mean(corr)) if len(corr) else None}
    ctx.results["saliency"] = out
    ctx.sections.append(writer.section(out, figs, coverage=sub.coverage()))
