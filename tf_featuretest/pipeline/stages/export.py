"""The export stage: the first classifier, its attacks, the VAE and the generator as SavedModels, one version."""
from __future__ import annotations

from ...export.artifacts import export_attacks, export_classifier, export_generator, export_vae
from ...export.bundle import export_together
from ...report.sections import export as writer


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
    done = export_together(root, pipe, jobs)
    ctx.results["export"] = {"classifier": name, "version": done[0].version,
                             "artifacts": [d.to_dict() for d in done]}
    ctx.sections.append(writer.section(ctx.results["export"], root=root, pipeline=pipe))
