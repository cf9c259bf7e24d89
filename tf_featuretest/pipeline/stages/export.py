"""The export stage: the first classifier, its attacks, the VAE, the generator and the label committee
as SavedModels, one version."""
from __future__ import annotations

import numpy as np

from ...export.artifacts import export_attacks, export_classifier, export_generator, export_judge, export_vae
from ...export.bundle import export_together
from ...report.sections import export as writer

#: Test images exported with the judge for the web page to offer (two per class, at most this many).
SAMPLES = 24


def run(ctx):
    info = ctx.data["info"]
    name, model = ctx.first_model()
    pipe, root = ctx.config.name, ctx.export_root
    radius = ctx.artifacts.get("separation_radius")
    names = info.class_names
    jobs = {"classifier": lambda v: export_classifier(model, root, pipe, class_names=names, separation_radius=radius,
                                                      version=v),
            "attacks": lambda v: export_attacks(model, root, pipe, class_names=names,
                                                centroids=ctx.artifacts.get("centroids"), separation_radius=radius,
                                                version=v, advgan=ctx.artifacts.get("advgan_generator"))}
    if "vae" in ctx.artifacts:
        xt, yt = ctx.data["train"]
        jobs["vae"] = lambda v: export_vae(ctx.artifacts["vae"], root, pipe, train_images=xt, train_labels=yt,
                                           class_names=names, separation_radius=radius, version=v)
    if "gan" in ctx.artifacts:
        jobs["generator"] = lambda v: export_generator(ctx.artifacts["gan"], root, pipe, class_names=names,
                                                       separation_radius=radius, version=v)
    if "committee" in ctx.artifacts:
        committee = ctx.artifacts["committee"][0]
        sub = ctx.subset("test", min(SAMPLES, 2 * info.num_classes))
        xs, ys = sub.take(*ctx.data["test"])
        order = np.argsort(ys, kind="stable")
        jobs["judge"] = lambda v: export_judge(committee, root, pipe, image_shape=info.image_shape, class_names=names,
                                               samples=(xs[order], ys[order]), separation_radius=radius, version=v)
    done = export_together(root, pipe, jobs)
    ctx.results["export"] = {"classifier": name, "version": done[0].version,
                             "artifacts": [d.to_dict() for d in done]}
    ctx.sections.append(writer.section(ctx.results["export"], root=root, pipeline=pipe))
