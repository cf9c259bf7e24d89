"""The feature stage: VAE, DCGAN and label committee; r-separation; the checker's calibration; latent cases
with found radii; failure searches; DCGAN cases; generative metrics and health checks; cases.npz; reviews."""
from __future__ import annotations

import numpy as np

from ...metrics import generative_report
from ...metrics.health import dcgan_health, vae_health
from ...report import feature_plots as fp
from ...report.sections import feature as writer
from ...testgen.cases import save_cases
from ...testgen.latent import predict_labels
from ...testgen.review import load_reviews, review_counts, reviews_path
from ...testgen.separation import encode_features, r_separation
from ...testgen.suite import build_checker, run_suite
from .. import models

#: Images per class in the DCGAN sample grid (at most), and classes shown (at most).
SAMPLES_PER_CLASS, SAMPLE_CLASSES = 8, 20
#: Images the KID subsets hold (at most).
KID_SUBSET = 100
#: Anchor candidates examined per wanted anchor (skipped anchors are replaced from this pool).
POOL_FACTOR = 3
#: Confirmed failures shown for review (at most).
REVIEW_LIMIT = 60


def _figures(ctx, suite, cases, lat, pix, vae, gan, first_name):
    """Draw the stage's figures; returns ``[(relative path, caption)]``."""
    info = ctx.data["info"]
    xt, yt = ctx.data["train"]
    xs, _ = ctx.data["test"]
    names = info.class_names
    figs = []

    def add(name, draw, caption):
        p, rel = ctx.figure_path("feature", name)
        draw(p)
        figs.append((rel, caption))

    add("separation.png", lambda p: fp.plot_separation_histograms([pix, lat], p),
        "Distance from each point to the nearest training point of another class: pixel space (L-inf) and the "
        "VAE's latent space (L2); the dashed line is 2r")
    add("closest_pairs.png", lambda p: fp.plot_closest_pairs(pix, xt, yt, p, x_test=xs, class_names=names),
        "The closest pairs of images with different labels (pixel space): duplicates or mislabelled images show up here")
    lt = suite.latent
    if len(lt.radii.radius):
        add("radii.png", lambda p: fp.plot_radii(lt.radii, p),
            "Found radius of each examined anchor against its latent margin r_i (crosses: skipped anchors)")
    latent_cases = lt.cases
    if len(latent_cases):
        z = encode_features(vae, xt)
        add("latent_map.png", lambda p: fp.plot_latent_map(z, yt, p, class_names=names,
                                                           generated=(latent_cases.latent, latent_cases.valid)),
            "Training images' latent means (PCA to 2-D) coloured by class; generated cases on top (crosses: not valid)")
        add("generated.png", lambda p: fp.plot_generated_gallery(latent_cases, xs, p, class_names=names),
            "One anchor per class (left) and latent cases sampled around it, framed by the checker's verdict, with "
            f"{first_name}'s answer")
    if cases.confirmed.any():
        add("failing.png", lambda p: fp.plot_failing_cases(cases, xs, p, class_names=names,
                                                           title=f"Confirmed failures of {first_name}"),
            f"Confirmed failures: valid cases (in distribution, committee keeps the label) that {first_name} gets "
            "wrong; anchor above, case below")
    if suite.search:
        add("search.png", lambda p: fp.plot_search(suite.search_table(), p),
            "Confirmed failures found by random sampling and by the directed searches with the same number of "
            f"calls to {first_name}")
    per = min(SAMPLES_PER_CLASS, max(1, 80 // info.num_classes))
    labels = np.repeat(np.arange(min(info.num_classes, SAMPLE_CLASSES)), per)
    samples = np.asarray(gan.generate(labels, seed=ctx.config.seed))
    add("dcgan_samples.png", lambda p: fp.plot_dcgan_samples(samples, labels, p, class_names=names, per_row=per),
        "Images the conditional DCGAN generates for each class")
    return figs


def run(ctx):
    f, info = ctx.config.feature, ctx.data["info"]
    xt, yt = ctx.data["train"]
    xv, _ = ctx.data["validation"]
    xs, ys = ctx.data["test"]
    vae, vae_reused = models.generative(ctx, "vae")
    gan, gan_reused = models.generative(ctx, "gan")
    committee, committee_reused = models.committee(ctx)
    ctx.artifacts["vae"], ctx.artifacts["gan"] = vae, gan
    pix = r_separation(xt, yt, x_test=xs, y_test=ys, norm="inf")
    lat = r_separation(xt, yt, x_test=xs, y_test=ys, norm=2, space=vae)
    ctx.artifacts["separation_radius"] = float(lat.r)
    checker = build_checker(committee, vae, xv, percentile=f.in_distribution_percentile)
    first_name, first_model = ctx.first_model()
    pool = ctx.subset("test", min(len(ys), POOL_FACTOR * f.anchors))
    suite = run_suite(first_model, vae, checker, (xt, yt), pool.take(xs, ys), pool_index=pool.indices, gan=gan,
                      calibration_data=(xs, ys), num_anchors=f.anchors, per_anchor=f.per_anchor, radius=f.radius,
                      target=f.target_share, search_budget=f.search_budget, searches=f.searches,
                      gen_samples=f.gen_samples, separation=lat, seed=ctx.config.seed,
                      progress=lambda m: ctx.say(f"      {m}"))
    cases = suite.cases()
    by_classifier = {}
    for name, model in ctx.models.items():
        # Cases and checks depend only on the generative models and the committee: each classifier just answers.
        c = cases if model is first_model else cases.with_predictions(predict_labels(model, cases.images))
        by_classifier[name] = {"latent": c.summary("random"), "dcgan": c.summary("dcgan"), "all": c.summary()}
    p, _ = ctx.figure_path("feature", "cases.npz")
    save_cases(cases, p)
    # Generative metrics: DCGAN samples against as many real test images, class for class, and the real floor.
    real = ctx.subset("test", f.gen_samples)
    x_real, gen_labels = real.take(xs, ys)
    gen_images = np.asarray(gan.generate(gen_labels, seed=ctx.config.seed))
    kid_n = min(KID_SUBSET, real.size)
    gm = generative_report(x_real, gen_images, first_model, kid_subset_size=kid_n, seed=ctx.config.seed)
    reference = ctx.subset("train", real.size)
    ref = generative_report(x_real, reference.take(xt, yt)[0], first_model, kid_subset_size=kid_n, seed=ctx.config.seed)
    health = {"vae": vae_health(vae, xv, xt.mean(axis=0)).to_dict(),
              "dcgan": dcgan_health(gan, x_real, gen_labels, gen_images, gen_labels, fid=gm.fid.fid,
                                    real_fid=ref.fid.fid,
                                    recognised=committee.votes(gen_images).majority()).to_dict()}
    warnings = health["vae"]["warnings"] + health["dcgan"]["warnings"]
    if not suite.calibration.passed:
        warnings.append(f"the case checker misses its calibration targets on: {', '.join(suite.calibration.failed())}")
    failures = cases.failures(limit=REVIEW_LIMIT)
    reviews = load_reviews(reviews_path(ctx.report_dir))
    lt = suite.latent
    rec_valid = lt.radii.reconstruction_valid
    ctx.results["feature"] = {
        "vae": {"latent_dim": f.latent_dim, "beta": f.vae_beta, "epochs": f.vae_epochs, "reused": vae_reused,
                "reconstruction_kept": float(np.mean(rec_valid)) if len(rec_valid) else None},
        "dcgan": {"reused": gan_reused},
        "committee": {**checker.to_dict()["committee"], "reused": committee_reused,
                      "accuracy_split": "test", "accuracies": dict(committee.accuracies)},
        "in_distribution": checker.distribution.to_dict(),
        "calibration": suite.calibration.to_dict(),
        "separation": {"pixel": pix.to_dict(), "latent": lat.to_dict()},
        "latent_tests": {**lt.cases.summary(), **lt.to_dict()},
        "latent_tests_by_classifier": {k: v["latent"] for k, v in by_classifier.items()},
        "gan_tests": cases.summary("dcgan"), "gan_tests_by_classifier": {k: v["dcgan"] for k, v in by_classifier.items()},
        "search": suite.search_table(),
        "cases": {"file": "feature/cases.npz", **cases.summary(), "by_origin": {
            o: int(np.sum(cases.origin == o)) for o in dict.fromkeys(cases.origin.tolist())}},
        "review": {"file": "reviews.json", "cases": failures, "total_confirmed": int(cases.confirmed.sum()),
                   **review_counts(failures, reviews)},
        "health": health, "warnings": warnings,
        "generative_metrics": {**gm.to_dict(), "real_reference": {"fid": ref.fid.to_dict(), "kid": ref.kid.to_dict()}},
        "subsets": {"anchor_pool": pool.to_dict(), "generative_metrics": real.to_dict()},
        "seconds": suite.seconds,
        "writer": {"classifier": first_name, "coverage": pool.coverage()}}
    figs = _figures(ctx, suite, cases, lat, pix, vae, gan, first_name)
    ctx.sections.append(writer.section(ctx.results["feature"], figs, review_cases=_review_cases(cases, xs),
                                       class_names=info.class_names, reviews=reviews))


def _review_cases(cases, anchor_images):
    """``(failure dict, case image, anchor image or None)`` for the review block."""
    out = []
    for fdict in cases.failures(limit=REVIEW_LIMIT):
        i = fdict["index"]
        a = int(cases.anchor[i])
        out.append((fdict, cases.images[i], anchor_images[a] if a >= 0 else None))
    return out


def refresh_reviews(ctx):
    """Recount the reviews and redraw the section after the stage was restored from the stage cache."""
    r = ctx.results.get("feature")
    if not r or "review" not in r:
        return
    reviews = load_reviews(reviews_path(ctx.report_dir))
    r["review"].update(review_counts(r["review"]["cases"], reviews))
    for i, sec in enumerate(ctx.sections):
        if sec.id == "feature":
            ctx.sections[i] = writer.refreshed(sec, r, reviews)
