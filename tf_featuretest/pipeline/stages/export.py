"""The export stage: the first classifier, its attacks, the VAE and the generator as SavedModels."""
from __future__ import annotations

from ...export.artifacts import export_attacks, export_classifier, export_generator, export_vae
from ...report.sections import export as writer


def run(ctx):
    info = ctx.data["info"]
    name, model = ctx.first_model()
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
    ctx.sections.append(writer.section(ctx.results["export"], root=root, pipeline=pipe))
