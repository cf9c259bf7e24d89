"""The feature stage: VAE and DCGAN, r-separation, latent and DCGAN test cases, generative metrics."""
from __future__ import annotations

import numpy as np

from ...metrics import generative_report
from ...report import feature_plots as fp
from ...report.sections import feature as writer
from ...report.style import image_grid_axes, save, show_image
from ...testgen.gan import gan_tests
from ...testgen.latent import latent_tests, requery
from ...testgen.separation import encode_features, r_separation
from .. import models

#: Images per class in the DCGAN sample grid (at most), and classes shown (at most).
SAMPLES_PER_CLASS, SAMPLE_CLASSES = 8, 20
#: Images the KID subsets hold (at most).
KID_SUBSET = 100


def run(ctx):
    f, info = ctx.config.feature, ctx.data["info"]
    xt, yt = ctx.data["train"]
    xs, ys = ctx.data["test"]
    vae, vae_reused = models.generative(ctx, "vae")
    gan, gan_reused = models.generative(ctx, "gan")
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
    latent_results = {}
    anchors = ctx.subset("test", f.anchors)
    first_name, first_model = ctx.first_model()
    lt_first = None
    for name, model in ctx.models.items():
        # The cases and their validity depend only on the VAE: generate once, let each classifier answer.
        lt = (requery(lt_first, model) if lt_first is not None else
              latent_tests(model, vae, (xt, yt), anchors.take(xs, ys), n=f.anchors * f.per_anchor,
                           count=f.per_anchor, radius=f.radius, separation=lat, seed=ctx.config.seed))
        latent_results[name] = lt.to_dict()
        lt_first = lt_first or lt
    gt = gan_tests(first_model, gan, vae, (xt, yt), n=f.gen_samples, radius="local", separation=lat,
                   seed=ctx.config.seed)
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
    per = min(SAMPLES_PER_CLASS, max(1, 80 // info.num_classes))
    labels = np.repeat(np.arange(min(info.num_classes, SAMPLE_CLASSES)), per)
    samples = np.asarray(gan.generate(labels, seed=ctx.config.seed))
    fig, axes = image_grid_axes(len(set(labels)), per, cell=0.9, title="DCGAN samples, one row per class")
    for i, ax in enumerate(axes.flat):
        show_image(ax, samples[i])
        if i % per == 0:
            ax.set_ylabel(str(info.class_names[labels[i]])[:12], fontsize=7)
    p, rel = ctx.figure_path("feature", "dcgan_samples.png")
    save(fig, p)
    figs.append((rel, "Images the conditional DCGAN generates for each class"))
    real = ctx.subset("test", f.gen_samples)
    x_real, gen_labels = real.take(xs, ys)
    n_gen = real.size
    gen_images = np.asarray(gan.generate(gen_labels, seed=ctx.config.seed))
    gm = generative_report(x_real, gen_images, first_model, kid_subset_size=min(KID_SUBSET, n_gen),
                           seed=ctx.config.seed)
    # The scale for FID and KID: real test images against as many real training images, class for class.
    reference = ctx.subset("train", n_gen)
    ref = generative_report(x_real, reference.take(xt, yt)[0], first_model, kid_subset_size=min(KID_SUBSET, n_gen),
                            seed=ctx.config.seed)
    ctx.results["feature"] = {
        "vae": {"latent_dim": f.latent_dim, "reused": vae_reused}, "dcgan": {"reused": gan_reused},
        "separation": {"pixel": pix.to_dict(), "latent": lat.to_dict()},
        "latent_tests": latent_results[first_name], "latent_tests_by_classifier": latent_results,
        "gan_tests": gt.to_dict(),
        "generative_metrics": {**gm.to_dict(), "real_reference": {"fid": ref.fid.to_dict(), "kid": ref.kid.to_dict()}},
        "subsets": {"anchors": anchors.to_dict(), "generative_metrics": real.to_dict()}}
    ctx.sections.append(writer.section(ctx.results["feature"], figs, classifier=first_name, latent_dim=f.latent_dim,
                                       coverage=anchors.coverage()))
