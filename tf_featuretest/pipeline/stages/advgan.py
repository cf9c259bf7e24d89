"""The AdvGAN stage: generators that learn to break the first classifier, against random noise and PGD.

* the pixel generator (``[advgan] eps``, L-inf): untargeted success against eps, targeted success
  per target class, and the random noise of the same budget (uniform on ``[-eps, eps]``);
* one generator per structured family, confined to its noise's support at ``severity``: the
  learned worst case against :data:`RANDOM_DRAWS` seeded draws of the matching noise (the draws the
  noise stage measures), as the mean over draws and as "fooled by any draw";
* time per image of one generator pass against PGD (``[attacks] pgd_steps``) on the same images;
* transfer: the same adversarial images scored on every classifier of the run.

Generators are trained on the training split only and scored on the run's test subset.
"""
from __future__ import annotations

import functools
import math
import time

import numpy as np

from ...attacks.advgan import advgan, advgan_family
from ...attacks.pgd import pgd
from ...evaluation.sweep import sweep
from ...models.advgan_families import MATCHING_NOISE
from ...models.introspection import compiled_predict
from ...noise import noise_transform
from ...report import advgan_plots as plots
from ...report.attack_plots import plot_adversarial_triplets
from ...report.sections import advgan as writer
from .. import models

#: Seeded draws of each random noise the learned worst case is compared with.
RANDOM_DRAWS = 5
#: The budgets scored, as fractions of the training budget.
FRACTIONS = (1 / 6, 1 / 3, 2 / 3, 1.0)
#: Images shown per figure.
SHOWN = 6
#: Timed repeats of the generator pass (the fastest counts; PGD runs once after a warm-up).
TIMING_REPEATS = 3
#: Images per sweep batch (one batch, one traced shape, for subsets up to this size).
BATCH = 512
#: The uniform noise's half-width per unit of severity (``noise.random.uniform``).
UNIFORM_SCALE = 0.5 * math.sqrt(3.0)


def _predict(model, x, batch=BATCH):
    fn = compiled_predict(model)
    return np.concatenate([np.argmax(fn(x[i:i + batch]).numpy(), 1) for i in range(0, len(x), batch)])


def _rate(hit, eligible):
    return float(hit[eligible].mean()) if eligible.any() else None


@functools.cache
def _noise(name):
    """One compiled transform per noise (severity and seed are tensors in it, so it traces once per shape)."""
    return noise_transform(name)


def _random(model, noise, x, y, ok, severity, seed):
    """Success of :data:`RANDOM_DRAWS` seeded draws of ``noise``: mean, worst single draw, any draw."""
    fn = _noise(noise)
    fooled = np.stack([(_predict(model, np.asarray(fn(model, x, y, severity=float(severity), seed=seed + r))) != y)
                       & ok for r in range(RANDOM_DRAWS)])
    n = max(int(ok.sum()), 1)
    return {"noise": noise, "severity": float(severity), "draws": RANDOM_DRAWS,
            "mean": float(fooled.sum(1).mean() / n), "best_draw": float(fooled.sum(1).max() / n),
            "any": float(fooled.any(0).sum() / n)}, fooled


def _pixel(ctx, model, gen, x, y, ok, figs):
    a, seed = ctx.config.advgan, ctx.config.seed
    values = tuple(a.eps * f for f in FRACTIONS)
    fn = functools.partial(advgan, generator=gen)
    out = {"values": list(values), "mode": gen.mode}
    severity = lambda e: min(1.0, e / UNIFORM_SCALE)  # noqa: E731  (uniform noise of half-width e)
    out["random"] = [_random(model, "uniform", x, y, ok, severity(e), seed)[0] for e in values]
    if gen.mode != "targeted":
        out["untargeted"] = sweep(model, (x, y), fn, "eps", values, name="advgan", seed=seed, batch_size=BATCH).to_dict()
    if gen.mode != "untargeted":
        per = [sweep(model, (x, y), fn, "eps", (a.eps,), name=f"advgan to {t}", target=t, seed=seed,
                     batch_size=BATCH).success_rate[0] for t in range(gen.num_classes)]
        per = [None if v is None or v != v else float(v) for v in per]  # NaN: no image of another class
        known = [v for v in per if v is not None]
        out["targeted"] = {"eps": a.eps, "success": per, "mean": float(np.mean(known)) if known else None}
        idx = np.arange(min(SHOWN, len(x)))
        advs = np.stack([np.asarray(advgan(model, x[idx], y[idx], eps=a.eps, target=t, generator=gen))
                         for t in range(gen.num_classes)], 1)
        preds = np.stack([_predict(model, advs[:, t]) for t in range(gen.num_classes)], 1)
        p, rel = ctx.figure_path("advgan", "targets.png")
        plots.plot_targeted_grid(x[idx], advs, preds, p, class_names=ctx.data["info"].class_names,
                                 title=f"One generator, every target (eps {a.eps:g})")
        figs.append((rel, "Each row: a test image and the generator's image for every target class, with the "
                          "classifier's label (orange: missed the target)"))
    return out


def _families(ctx, model, x, y, ok, figs):
    a, seed, info = ctx.config.advgan, ctx.config.seed, ctx.data["info"]
    out, shown, training = [], [], {}
    for family in a.families:
        gen, record = models.advgan_generator(ctx, family)
        training[family] = record
        values = tuple(a.severity * f for f in FRACTIONS)
        learned = sweep(model, (x, y), functools.partial(advgan_family, generator=gen), "severity", values,
                        name=f"advgan {family}", seed=seed, batch_size=BATCH)
        noises = MATCHING_NOISE[family]
        for noise in (noises,) if isinstance(noises, str) else noises:
            curve = [_random(model, noise, x, y, ok, v, seed)[0] for v in values]
            out.append({"family": family, "noise": noise, "severity": a.severity, "learned": learned.to_dict(),
                        "random": curve})
        k = int(np.argmax(ok)) if ok.any() else 0
        xk, yk = x[k:k + 1], y[k:k + 1]
        adv = np.asarray(advgan_family(model, xk, yk, severity=a.severity, generator=gen))
        rnd = np.asarray(_noise(out[-1]["noise"])(model, xk, yk, severity=a.severity, seed=seed))
        shown.append({"family": family, "noise": out[-1]["noise"], "x": xk[0], "learned": adv[0], "random": rnd[0],
                      "y": yk[0], "pred_clean": _predict(model, xk)[0], "pred_learned": _predict(model, adv)[0],
                      "pred_random": _predict(model, rnd)[0]})
    if shown:
        p, rel = ctx.figure_path("advgan", "families.png")
        plots.plot_family_examples(shown, p, class_names=info.class_names)
        figs.append((rel, f"One test image under each family at severity {a.severity:g}: the learned worst case "
                          "and one random draw of the matching noise, with the classifier's label"))
    return out, training


def _timing(ctx, model, gen, x, y):
    """Seconds per image of one generator pass and of PGD on the same images, and PGD's images."""
    a, steps = ctx.config.advgan, ctx.config.attacks.pgd_steps
    advgan(model, x, y, eps=a.eps, generator=gen).numpy()  # traced once
    best = math.inf
    for _ in range(TIMING_REPEATS):
        t0 = time.perf_counter()
        advgan(model, x, y, eps=a.eps, generator=gen).numpy()
        best = min(best, time.perf_counter() - t0)
    pgd(model, x[:2], y[:2], eps=a.eps, steps=1, seed=ctx.config.seed)  # traced once
    t0 = time.perf_counter()
    x_pgd = np.asarray(pgd(model, x, y, eps=a.eps, steps=steps, seed=ctx.config.seed))
    t_pgd = time.perf_counter() - t0
    n = len(x)
    return {"images": n, "advgan_seconds_per_image": best / n, "pgd_seconds_per_image": t_pgd / n,
            "pgd_steps": steps, "speedup": t_pgd / best if best > 0 else None}, x_pgd


def _transfer(ctx, gen, x, y, x_pgd):
    a, info = ctx.config.advgan, ctx.data["info"]
    first = ctx.first_model()[1]
    x_adv = np.asarray(advgan(first, x, y, eps=a.eps, generator=gen)) if gen.mode != "targeted" else None
    target = (y + 1) % info.num_classes
    x_tgt = np.asarray(advgan(first, x, y, eps=a.eps, target=target, generator=gen)) if gen.mode != "untargeted" else None
    rows = []
    for name, m in ctx.models.items():
        ok = _predict(m, x) == y
        row = {"classifier": name, "white_box": m is first, "clean_accuracy": float(ok.mean()),
               "advgan_success": None if x_adv is None else _rate(_predict(m, x_adv) != y, ok),
               "advgan_targeted_success": None if x_tgt is None else _rate(_predict(m, x_tgt) == target, y != target),
               "pgd_success": _rate(_predict(m, x_pgd) != y, ok)}
        rows.append(row)
    return rows


def run(ctx):
    a, info = ctx.config.advgan, ctx.data["info"]
    sub = ctx.subset("test", a.max_examples)
    x, y = sub.take(*ctx.data["test"])
    name, model = ctx.first_model()
    gen, record = models.advgan_generator(ctx, "pixel")
    ctx.artifacts["advgan_generator"] = gen
    ok = _predict(model, x) == y
    figs = []
    out = {"subset": sub.to_dict(), "classifier": name, "eps": a.eps, "severity": a.severity,
           "train_images": int(len(ctx.data["train"][1]))}
    out["pixel"] = _pixel(ctx, model, gen, x, y, ok, figs)
    out["families"], training = _families(ctx, model, x, y, ok, figs)
    out["training"] = {"pixel": record, **training}
    out["timing"], x_pgd = _timing(ctx, model, gen, x, y)
    out["transfer"] = _transfer(ctx, gen, x, y, x_pgd)
    n_show = min(SHOWN, len(x))
    if gen.mode != "targeted":
        x_adv = np.asarray(advgan(model, x[:n_show], y[:n_show], eps=a.eps, generator=gen))
        p, rel = ctx.figure_path("advgan", "triplets.png")
        plot_adversarial_triplets(x[:n_show], x_adv, y[:n_show], _predict(model, x[:n_show]), _predict(model, x_adv), p,
                                  class_names=info.class_names, title=f"AdvGAN at eps {a.eps:g} on {name}")
        figs.insert(0, (rel, "Original, amplified perturbation and the generator's adversarial image, with labels"))
    pixel = out["pixel"]
    curve = {"values": pixel["values"], "random": [r["mean"] for r in pixel["random"]],
             "learned": pixel["untargeted"]["success_rate"] if "untargeted" in pixel else [None] * len(FRACTIONS)}
    fams = [{"family": f["family"], "noise": f["noise"], "values": f["learned"]["values"],
             "learned": f["learned"]["success_rate"], "random": [r["mean"] for r in f["random"]]}
            for f in out["families"]]
    p, rel = ctx.figure_path("advgan", "success_vs_budget.png")
    plots.plot_success_vs_budget(curve, fams, p, classifier=name)
    figs.insert(0, (rel, "Success rate against the budget: each learned generator (solid) and random draws of the "
                         "same family (dashed, mean of the draws)"))
    ctx.results["advgan"] = out
    ctx.sections.append(writer.section(out, figs, coverage=sub.coverage()))
