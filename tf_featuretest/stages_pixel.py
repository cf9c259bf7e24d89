"""Stages of ``featuretest run`` up to the pixel level: data, classifier, evaluate, attacks, noise.

Each stage takes the :class:`~tf_featuretest.runner.RunContext`, calls the library, stores its
numbers in ``ctx.results[stage]`` and appends report sections with figures.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os

import numpy as np

from .report.html import Section, Table


def _interval(lo, hi):
    """``"0.120-0.180"``; an end that was not reached shows as ``"not reached"``."""
    if lo is None and hi is None:
        return None
    return " to ".join("not reached" if v is None else f"{v:.3f}" for v in (lo, hi))


def _pct(v):
    return "n/a" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{100 * v:.1f}%"


# ------------------------------------------------------------------------------------------ data


def stage_data(ctx):
    from .data import load_arrays
    from .report import classifier_plots as cp

    d = ctx.config.data
    kw = dict(image_size=tuple(d.image_size) or None, channels=d.channels or None, data_dir=d.data_dir or None,
              download=d.download)
    for split in ("train", "validation", "test"):
        x, y, info = load_arrays(d.source, split, crop=d.crop if split == "train" else "none", **kw)
        ctx.data[split] = (x, y)
        ctx.data[f"{split}_info"] = info
    ctx.data["info"] = ctx.data["train_info"]
    info = ctx.data["info"]
    counts = {s: np.bincount(ctx.data[s][1], minlength=info.num_classes).tolist() for s in ("train", "validation", "test")}
    skipped = sum(len(ctx.data[f"{s}_info"].skipped) for s in ("train", "validation", "test"))
    ctx.results["data"] = {"source": d.source, "class_names": list(info.class_names), "image_shape": list(info.image_shape),
                           "counts": counts, "sizes": {s: len(ctx.data[s][1]) for s in ("train", "validation", "test")},
                           "skipped_files": skipped, "fingerprint": info.fingerprint}
    figs = []
    p, rel = ctx.figure_path("data", "class_counts.png")
    cp.plot_class_counts({s: ctx.data[s][1] for s in ("train", "validation", "test")}, info.class_names, p)
    figs.append((rel, "Images per class in each split"))
    p, rel = ctx.figure_path("data", "samples.png")
    x, y = ctx.data["train"]
    cp.plot_class_samples(x, y, info.class_names, p, seed=ctx.config.seed)
    figs.append((rel, "Random training images, one row per class"))
    if d.augment:
        p, rel = ctx.figure_path("data", "augmentation.png")
        cp.plot_augmentation_examples(x[:6], p, seed=ctx.config.seed)
        figs.append((rel, "The same images under the training augmentation"))
    if d.crop != "none" and info.has_boxes:
        xo, _, _ = load_arrays(d.source, "test", crop="none", **kw)
        xc, yc, _ = load_arrays(d.source, "test", crop="box", **kw)
        p, rel = ctx.figure_path("data", "crops.png")
        cp.plot_crop_examples(xo[:6], xc[:6], p, labels=yc[:6], class_names=info.class_names)
        figs.append((rel, "Original images and their bounding-box crops"))
    sizes = ctx.results["data"]["sizes"]
    reading = (f"The data set {d.source!r} has {info.num_classes} classes of {info.image_shape[0]}x{info.image_shape[1]} "
               f"images with {info.image_shape[2]} channel(s): {sizes['train']} for training, {sizes['validation']} "
               f"for validation and {sizes['test']} for testing. The smallest class has "
               f"{min(counts['train'])} training images and the largest {max(counts['train'])}"
               + (f"; {skipped} unreadable files were skipped." if skipped else "."))
    ctx.sections.append(Section("data", "Data", reading, figures=tuple(figs)))


# ------------------------------------------------------------------------------------ classifier


def _train_one(ctx, c):
    import keras
    import tensorflow as tf

    from .models import build_classifier, compile_classifier, load_classifier, save_model_atomic, train_classifier
    from .models.adversarial import AdversarialModel

    info, d = ctx.data["info"], ctx.config.data
    key = ctx.content_hash(c.__dict__, d.__dict__)
    path = os.path.join(ctx.work_dir, f"{c.name}-{key}.keras")
    hist_path = path[:-len(".keras")] + ".history.json"
    if os.path.exists(path) and os.path.exists(hist_path) and not ctx.retrain:
        ctx.say(f"      {c.name}: reusing {path}")
        with open(hist_path) as fh:
            return load_classifier(path), json.load(fh), True, path
    if c.model.endswith((".keras", ".h5")):
        model = load_classifier(c.model)
        return model, {}, True, c.model
    from .models import get_strategy

    keras.utils.set_random_seed(ctx.config.seed)
    x, y = ctx.data["train"]
    xv, yv = ctx.data["validation"]
    from .data import load

    train_ds, _ = load(d.source, "train", image_size=tuple(d.image_size) or None, channels=d.channels or None,
                       batch_size=d.batch_size, augment=d.augment, crop=d.crop, seed=ctx.config.seed,
                       data_dir=d.data_dir or None)
    val_ds = tf.data.Dataset.from_tensor_slices((xv, yv)).batch(256)
    with get_strategy(ctx.config.strategy).scope():
        model = build_classifier(c.model, info.num_classes, info.image_shape, weights=c.weights or None,
                                 trainable_layers=None if c.trainable_layers < 0 else c.trainable_layers)
        fit_model = model
        if c.adversarial != "none":
            fit_model = AdversarialModel(model, attack=c.adversarial, eps=c.adv_eps, ratio=c.adv_ratio,
                                         seed=ctx.config.seed)
        compile_classifier(fit_model, learning_rate=c.learning_rate, num_classes=info.num_classes)
    result = train_classifier(fit_model, train_ds, val_ds, epochs=c.epochs, patience=c.patience, compile=False,
                              verbose=0, work_dir=os.path.join(ctx.work_dir, f"{c.name}-{key}-work"))
    save_model_atomic(model, path)
    with open(hist_path, "w") as fh:
        json.dump(result.history, fh)
    return model, result.history, False, path


def stage_classifier(ctx):
    from .report import classifier_plots as cp

    figs, rows, out = [], [], {}
    for c in ctx.config.classifiers:
        model, history, reused, path = _train_one(ctx, c)
        ctx.models[c.name] = model
        with open(path, "rb") as fh:
            ctx.model_keys[c.name] = hashlib.sha1(fh.read()).hexdigest()
        ctx.histories[c.name] = history
        out[c.name] = {"model": c.model, "params": int(model.count_params()), "reused": reused,
                       "epochs": len(history.get("loss", [])), "adversarial": c.adversarial, "history": history}
        rows.append((c.name, c.model, c.adversarial, int(model.count_params()), out[c.name]["epochs"],
                     "reused" if reused else "trained"))
        if history:
            p, rel = ctx.figure_path("classifier", f"curves_{c.name}.png")
            cp.plot_training_curves(history, p, title=f"Training curves: {c.name}")
            figs.append((rel, f"Loss and accuracy per epoch, {c.name}"))
    ctx.results["classifier"] = out
    parts = []
    for n, v in out.items():
        adv = f", adversarially trained with {v['adversarial'].upper()}" if v["adversarial"] != "none" else ""
        how = ("was reused from an earlier run with the same data and settings" if v["reused"]
               else f"was trained for {v['epochs']} epochs")
        parts.append(f"{n} ({v['model']}, {v['params']:,} parameters{adv}) {how}.")
    reading = "Each classifier maps images in [0, 1] to logits. " + " ".join(parts)
    ctx.sections.append(Section("classifier", "Classifiers", reading, figures=tuple(figs),
                                tables=(Table(("classifier", "architecture", "adversarial training", "parameters",
                                               "epochs", "source"), tuple(rows)),)))


def stage_evaluate(ctx):
    from .metrics import evaluate_classifier
    from .report import classifier_plots as cp

    info = ctx.data["info"]
    x, y = ctx.data["test"]
    figs, tables, out, rows = [], [], {}, []
    for name, model in ctx.models.items():
        rep = evaluate_classifier(model, (x, y), info.class_names)
        out[name] = rep.to_dict()
        k5 = max(rep.top_k)
        rows.append((name, rep.accuracy, rep.top_k.get(k5), rep.macro["f1"], rep.weighted["f1"]))
        p, rel = ctx.figure_path("evaluate", f"confusion_{name}.png")
        cp.plot_confusion_matrix(rep.confusion, info.class_names, p, title=f"Confusion matrix: {name}")
        figs.append((rel, f"Confusion matrix (rows: true class, normalised), {name}"))
        tables.append(cp.per_class_table(rep, caption=f"Per-class results, {name}"))
    ctx.results["evaluate"] = {"classifiers": out}
    best = max(rows, key=lambda r: r[1])
    worst_cls = {n: min(v["per_class"], key=lambda r: r["recall"])["class"] for n, v in out.items()}
    reading = (f"On the {len(y)} test images, " + "; ".join(
        f"{r[0]} gets {_pct(r[1])} right at the first guess and {_pct(r[2])} within its top {k5}" for r in rows)
        + f". The best is {best[0]}. The class recognised least often is "
        + ", ".join(f"{c!r} for {n}" for n, c in worst_cls.items())
        + "; the confusion matrix shows which classes it is mistaken for.")
    ctx.sections.append(Section("evaluate", "Test accuracy", reading, figures=tuple(figs),
                                tables=(Table(("classifier", "top-1", f"top-{k5}", "macro F1", "weighted F1"),
                                              tuple(rows), "Test set"),) + tuple(tables)))


# ---------------------------------------------------------------------------------------- attacks


def stage_attacks(ctx):
    from .attacks import fgsm, pgd
    from .attacks.fooling import fooling_images
    from .attacks.one_pixel import one_pixel_attack
    from .evaluate import sweep
    from .report import attack_plots as ap

    a, info = ctx.config.attacks, ctx.data["info"]
    x, y = ctx.data["test"]
    x, y = x[: a.max_examples], y[: a.max_examples]
    sweeps, out, figs, rows = [], {}, [], []
    target = (y + 1) % info.num_classes
    for name, model in ctx.models.items():
        res = {}
        for attack, fn in (("fgsm", fgsm), ("pgd", functools.partial(pgd, steps=a.pgd_steps))):
            s = sweep(model, (x, y), fn, "eps", a.eps, name=f"{attack} {name}", seed=ctx.config.seed,
                      progress=ctx.progress_bar(f"      {attack} on {name}"))
            res[attack] = s.to_dict()
            sweeps.append(s)
        t = sweep(model, (x, y), functools.partial(pgd, steps=a.pgd_steps), "eps", (a.targeted_eps,),
                  name=f"targeted pgd {name}", target=target, seed=ctx.config.seed)
        res["targeted_pgd"] = t.to_dict()
        out[name] = res
        i_eps = min(range(len(a.eps)), key=lambda i: abs(a.eps[i] - 0.1))
        rows.append((name, res["fgsm"]["clean_accuracy"], a.eps[i_eps], res["fgsm"]["accuracy"][i_eps],
                     res["pgd"]["accuracy"][i_eps], t.success_rate[0]))
    p, rel = ctx.figure_path("attacks", "accuracy_vs_eps.png")
    ap.plot_accuracy_vs_eps(sweeps, p, title="Accuracy under FGSM and PGD")
    figs.append((rel, "Test accuracy against the L-inf budget eps, for each attack and classifier"))
    first_name, first = next(iter(ctx.models.items()))
    n_show = min(8, len(x))
    x_adv = pgd(first, x[:n_show], y[:n_show], eps=a.targeted_eps / 3, steps=a.pgd_steps, seed=ctx.config.seed)
    x_adv = np.asarray(x_adv)
    pc = np.argmax(first.predict(x[:n_show], verbose=0), 1)
    pa = np.argmax(first.predict(x_adv, verbose=0), 1)
    p, rel = ctx.figure_path("attacks", "triplets.png")
    ap.plot_adversarial_triplets(x[:n_show], x_adv, y[:n_show], pc, pa, p, class_names=info.class_names,
                                 title=f"PGD at eps {a.targeted_eps / 3:.2g} on {first_name}")
    figs.append((rel, "Original, amplified perturbation and adversarial image with their predicted labels"))
    ctx.artifacts["adversarial_examples"] = (x[:n_show], x_adv, y[:n_show])
    n_px = min(a.one_pixel_images, len(x))
    op = one_pixel_attack(first, x[:n_px], y[:n_px], popsize=a.one_pixel_population,
                          generations=a.one_pixel_generations, seed=ctx.config.seed)
    out["one_pixel"] = {"classifier": first_name, **op.to_dict()}
    p, rel = ctx.figure_path("attacks", "one_pixel.png")
    ap.plot_one_pixel(op, x[:n_px], y[:n_px], p, class_names=info.class_names)
    figs.append((rel, f"One-pixel attack on {first_name}: successful images, the changed pixel circled"))
    classes = list(range(min(a.fooling_classes, info.num_classes)))
    fool = fooling_images(first, classes, seed=ctx.config.seed)
    out["fooling"] = {"classifier": first_name, **fool.to_dict()}
    p, rel = ctx.figure_path("attacks", "fooling.png")
    ap.plot_fooling_grid(fool, p, class_names=info.class_names)
    figs.append((rel, f"Fooling images: unrecognisable images that {first_name} assigns to each class"))
    ctx.results["attacks"] = out
    r0 = rows[0]
    reading = (f"Small, bounded changes to the pixels break the classifiers. At eps = {r0[2]:g} (each pixel moved by "
               f"at most {r0[2]:g} on a 0-1 scale) {r0[0]}'s accuracy falls from {_pct(r0[1])} to {_pct(r0[3])} under "
               f"one FGSM step and to {_pct(r0[4])} under {a.pgd_steps}-step PGD; targeted PGD at eps {a.targeted_eps:g} "
               f"makes it output the chosen wrong class for {_pct(r0[5])} of the images. "
               + " ".join(f"{r[0]}: {_pct(r[3])} (FGSM) and {_pct(r[4])} (PGD)." for r in rows[1:])
               + f" Changing one single pixel fooled {first_name} on {_pct(op.success_rate)} of {n_px} images, and "
               f"gradient ascent produced noise images it assigns to their class with at least "
               f"{fool.threshold:.0%} confidence for {_pct(float(np.mean(fool.success)))} of the classes.")
    ctx.sections.append(Section("attacks", "Adversarial attacks", reading, figures=tuple(figs), tables=(
        Table(("classifier", "clean", "eps", "FGSM", f"PGD-{a.pgd_steps}", f"targeted PGD success (eps {a.targeted_eps:g})"),
              tuple(rows), "Accuracy under attack"),)))


# ------------------------------------------------------------------------------------------ noise


def stage_noise(ctx):
    import numpy as _np

    from .noise import NOISES
    from .report.noise_plots import write_noise_plots
    from .robustness import noise_robustness, with_baseline

    n = ctx.config.noise
    x, y = ctx.data["test"]
    x, y = x[: n.max_examples], y[: n.max_examples]
    names = tuple(n.noises) or tuple(NOISES)
    severities = tuple(float(v) for v in _np.linspace(0, 1, n.severities))
    results = {}
    order = sorted(ctx.models, key=lambda m: m != n.baseline)  # the baseline first, analysed once
    for name in order:
        bar = ctx.progress_bar(f"      noise sweeps on {name}")
        results[name] = noise_robustness(ctx.models[name], (x, y), names, severities=severities, seed=ctx.config.seed,
                                         model_name=name, progress=None if bar is None else
                                         (lambda who, done, total, bar=bar: bar(done, total)))
    out, figs, tables = {}, [], []
    for name in ctx.models:
        res = results[name]
        use_base = n.baseline and name != n.baseline
        if use_base:
            res = with_baseline(res, results[n.baseline])
        out[name] = res.to_dict()
        sub = os.path.join(ctx.report_dir, "noise", name)
        paths = write_noise_plots(res, x[0], sub, seed=ctx.config.seed)
        for key, caption in (("accuracy_vs_severity", "Accuracy against severity, one line per noise"),
                             ("thresholds", "Failure threshold per noise (severity where accuracy halves), with 95% CI"),
                             ("severity_grid", "One test image under each noise at increasing severity")):
            if key == "severity_grid" and name != next(iter(ctx.models)):
                continue
            figs.append((os.path.relpath(paths[key], ctx.report_dir), f"{caption}: {name}"))
        tables.append(Table(("rank", "noise", "AUC", "threshold", "95% CI", "corruption error", "relative CE"),
                            tuple((r.rank_auc, r.name, r.auc, r.threshold,
                                   _interval(r.ci_low, r.ci_high),
                                   r.corruption_error, r.relative_corruption_error) for r in res.ranking),
                            f"Noises ranked by area under the accuracy curve, {name}"
                            + (f" (corruption errors relative to {n.baseline})" if use_base else "")))
    ctx.results["noise"] = out
    first = next(iter(out.values()))
    rank = first["ranking"]
    worst = [r["name"] for r in rank[:3]]
    never = [t["name"] for t in first["thresholds"] if t["threshold"] is None]
    reading = (f"Each noise was applied at {len(severities)} severities from 0 (none) to 1 (the strongest that still "
               f"makes sense). The failure threshold is the lowest severity at which accuracy drops below half of "
               f"clean accuracy, found by bisection. For {first['model']} the most disruptive noises are "
               f"{', '.join(worst)}" + (f"; {', '.join(never)} never halved its accuracy." if never else ".")
               + "".join(f" Against {n.baseline}, {m} has a mean corruption error of {v['mean_corruption_error']:.3f} "
                         f"(relative {v['relative_mean_corruption_error']:.3f}; below 1 means more robust)."
                         for m, v in out.items() if v.get("baseline") and v["mean_corruption_error"] is not None
                         and v["relative_mean_corruption_error"] is not None))
    ctx.sections.append(Section("noise", "Noise robustness", reading, figures=tuple(figs), tables=tuple(tables)))


STAGE_FUNCS = {"data": stage_data, "classifier": stage_classifier, "evaluate": stage_evaluate,
               "attacks": stage_attacks, "noise": stage_noise}
