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


# ---------------------------------------------------------------------------------------- feature


def _generative(ctx, kind):
    """Train or reuse the VAE (``kind="vae"``) or the conditional DCGAN (``"gan"``)."""
    import keras

    from .data import load
    from .models.dcgan import train_dcgan
    from .models.vae import train_vae

    f, d, info = ctx.config.feature, ctx.config.data, ctx.data["info"]
    epochs = f.vae_epochs if kind == "vae" else f.dcgan_epochs
    key = ctx.content_hash(kind, f.latent_dim, epochs, d.__dict__)
    path = os.path.join(ctx.work_dir, f"{kind}-{key}.keras")
    if os.path.exists(path) and not ctx.retrain:
        ctx.say(f"      {kind}: reusing {path}")
        return keras.models.load_model(path), True
    keras.utils.set_random_seed(ctx.config.seed)
    ds, _ = load(d.source, "train", image_size=tuple(d.image_size) or None, channels=d.channels or None,
                 batch_size=64, seed=ctx.config.seed, data_dir=d.data_dir or None)
    if kind == "vae":
        model = train_vae(ds, info.image_shape, latent_dim=f.latent_dim, epochs=epochs, seed=ctx.config.seed)
    else:
        model = train_dcgan(ds, info.image_shape, info.num_classes, epochs=epochs, seed=ctx.config.seed)
    tmp = f"{path}.tmp-{os.getpid()}.keras"
    model.save(tmp)
    os.replace(tmp, path)
    return model, False


def stage_feature(ctx):
    from .metrics import generative_report
    from .report import feature_plots as fp
    from .report.style import image_grid_axes, save, show_image
    from .testgen.gan import gan_tests
    from .testgen.latent import latent_tests, requery
    from .testgen.separation import encode_features, r_separation

    f, info = ctx.config.feature, ctx.data["info"]
    xt, yt = ctx.data["train"]
    xs, ys = ctx.data["test"]
    vae, vae_reused = _generative(ctx, "vae")
    gan, gan_reused = _generative(ctx, "gan")
    ctx.artifacts["vae"], ctx.artifacts["gan"] = vae, gan
    pix = r_separation(xt, yt, x_test=xs, y_test=ys, norm="inf")
    lat = r_separation(xt, yt, x_test=xs, y_test=ys, norm=2, space=vae)
    ctx.artifacts["separation_radius"] = float(lat.r)
    figs = []
    p, rel = ctx.figure_path("feature", "separation.png")
    fp.plot_separation_histograms([pix, lat], p)
    figs.append((rel, "Distance from each point to the nearest training point of another class: pixel space (L-inf) "
                      "and the VAE's latent space (L2); the dashed line is 2r"))
    p, rel = ctx.figure_path("feature", "closest_pairs.png")
    fp.plot_closest_pairs(pix, xt, yt, p, x_test=xs, class_names=info.class_names)
    figs.append((rel, "The closest pairs of images with different labels (pixel space): duplicates or mislabelled "
                      "images show up here"))
    latent_results, rows = {}, []
    first_name = next(iter(ctx.models))
    lt_first = None
    for name, model in ctx.models.items():
        # The cases and their validity depend only on the VAE: generate once, let each classifier answer.
        lt = (requery(lt_first, model) if lt_first is not None else
              latent_tests(model, vae, (xt, yt), (xs, ys), n=f.anchors * f.per_anchor, count=f.per_anchor,
                           radius=f.radius, separation=lat, seed=ctx.config.seed))
        latent_results[name] = lt.to_dict()
        rows.append((name, "VAE latent", lt.num_cases, lt.validity_rate, lt.accuracy, lt.accuracy_all))
        lt_first = lt_first or lt
    gt = gan_tests(ctx.models[first_name], gan, vae, (xt, yt), n=f.gen_samples, radius="local", separation=lat,
                   seed=ctx.config.seed)
    rows.append((first_name, "DCGAN", gt.num_cases, gt.validity_rate, gt.accuracy, gt.accuracy_all))
    z = encode_features(vae, xt)
    zg = encode_features(vae, lt_first.images)
    p, rel = ctx.figure_path("feature", "latent_map.png")
    fp.plot_latent_map(z, yt, p, class_names=info.class_names, generated=(zg, lt_first.valid))
    figs.append((rel, "Training images' latent means (PCA to 2-D) coloured by class; generated cases on top "
                      "(crosses: failed a validity check)"))
    p, rel = ctx.figure_path("feature", "generated.png")
    fp.plot_generated_gallery(lt_first, p, class_names=info.class_names,
                              title="Latent test cases with their labels (green: valid, red: invalid)")
    figs.append((rel, "Generated latent test cases; the frame shows whether all validity checks passed"))
    if len(lt_first.failing()):
        p, rel = ctx.figure_path("feature", "failing.png")
        fp.plot_failing_cases(lt_first, p, class_names=info.class_names,
                              title=f"Valid generated tests that {first_name} gets wrong")
        figs.append((rel, f"Failing cases: anchor above, generated test below, with {first_name}'s prediction"))
    per = min(8, max(1, 80 // info.num_classes))
    labels = np.repeat(np.arange(min(info.num_classes, 20)), per)
    samples = np.asarray(gan.generate(labels, seed=ctx.config.seed))
    fig, axes = image_grid_axes(len(set(labels)), per, cell=0.9, title="DCGAN samples, one row per class")
    for i, ax in enumerate(axes.flat):
        show_image(ax, samples[i])
        if i % per == 0:
            ax.set_ylabel(str(info.class_names[labels[i]])[:12], fontsize=7)
    p, rel = ctx.figure_path("feature", "dcgan_samples.png")
    save(fig, p)
    figs.append((rel, "Images the conditional DCGAN generates for each class"))
    n_gen = min(len(xs), f.gen_samples)
    gen_labels = ys[:n_gen]
    gen_images = np.asarray(gan.generate(gen_labels, seed=ctx.config.seed))
    gm = generative_report(xs[:n_gen], gen_images, ctx.models[first_name], kid_subset_size=min(100, n_gen),
                           seed=ctx.config.seed)
    ctx.results["feature"] = {
        "vae": {"latent_dim": f.latent_dim, "reused": vae_reused}, "dcgan": {"reused": gan_reused},
        "separation": {"pixel": pix.to_dict(), "latent": lat.to_dict()},
        "latent_tests": latent_results[first_name], "latent_tests_by_classifier": latent_results,
        "gan_tests": gt.to_dict(), "generative_metrics": gm.to_dict()}
    lt = lt_first
    reading = (f"Yang et al. (2020) call a data set r-separated when differently labelled points are at least 2r apart. "
               f"Here the closest training images of different classes are {pix.train_train_min:.3f} apart in pixel "
               f"space (L-inf), so r = {pix.r:.4f}, and {lat.train_train_min:.3f} apart in the VAE's {f.latent_dim}-d "
               f"latent space (L2), r = {lat.r:.4f}. Points sampled around a real image within its own margin keep its "
               f"label if the space is a faithful map, so they make labelled test cases; each was checked (nearest "
               f"training point has the same label, it re-encodes within the radius, its ELBO is typical of real "
               f"data). {_pct(lt.validity_rate)} of {lt.num_cases} latent cases passed every check, and {first_name} "
               f"classifies {_pct(lt.accuracy)} of the valid ones correctly (vs {_pct(lt.accuracy_all)} on all). "
               f"Of {gt.num_cases} DCGAN images, {_pct(gt.validity_rate)} were valid, with accuracy {_pct(gt.accuracy)}. "
               f"FID of DCGAN samples against test images is {gm.fid.fid:.2f} and KID {gm.kid.kid:.4f} in "
               f"{first_name}'s feature space (not Inception's, so compare only within this report).")
    ctx.sections.append(Section("feature", "Feature-level tests", reading, figures=tuple(figs), tables=(
        Table(("classifier", "generator", "cases", "valid", "accuracy on valid", "accuracy on all"), tuple(rows),
              "Generated test cases"),
        Table(("space", "norm", "train-train min", "test-train min", "r"),
              (("pixel", "L-inf", pix.train_train_min, pix.test_train_min, pix.r),
               ("VAE latent", "L2", lat.train_train_min, lat.test_train_min, lat.r)), "r-separation"),
        Table(("metric", "value", "note"),
              (("FID", gm.fid.fid, f"{gm.fid.n_real} real vs {gm.fid.n_generated} generated"),
               ("KID", gm.kid.kid, f"+/- {gm.kid.kid_std:.4f}"),
               ("IS (generated)", gm.inception_score.score, f"real images: {gm.real_inception_score.score:.2f}")),
              f"Generative metrics in {gm.fid.feature_extractor}"))))


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


STAGE_FUNCS = {"feature": stage_feature, "lookalike": stage_lookalike, "saliency": stage_saliency, "export": stage_export}
