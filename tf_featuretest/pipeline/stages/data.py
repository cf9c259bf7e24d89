"""The data stage: load every split into memory, count, draw samples."""
from __future__ import annotations

import numpy as np

from ...data import load_arrays
from ...report import classifier_plots as cp
from ...report.sections import data as writer
from ..models import data_kwargs

SPLITS = ("train", "validation", "test")


def run(ctx):
    d = ctx.config.data
    kw = dict(data_kwargs(ctx.config), download=d.download)
    for split in SPLITS:
        x, y, info = load_arrays(d.source, split, crop=d.crop if split == "train" else "none", **kw)
        ctx.data[split] = (x, y)
        ctx.data[f"{split}_info"] = info
    ctx.data["info"] = ctx.data["train_info"]
    info = ctx.data["info"]
    counts = {s: np.bincount(ctx.data[s][1], minlength=info.num_classes).tolist() for s in SPLITS}
    skipped = sum(len(ctx.data[f"{s}_info"].skipped) for s in SPLITS)
    ctx.results["data"] = {"source": d.source, "class_names": list(info.class_names), "image_shape": list(info.image_shape),
                           "counts": counts, "sizes": {s: len(ctx.data[s][1]) for s in SPLITS},
                           "skipped_files": skipped, "fingerprint": info.fingerprint,
                           "shape": None if info.shape is None else info.shape.to_dict()}
    ctx.say(f"      {d.source}: {info.image_shape[0]}x{info.image_shape[1]}x{info.image_shape[2]}"
            + (f". {info.shape.describe()}" if info.shape is not None else ""))
    figs = []
    p, rel = ctx.figure_path("data", "class_counts.png")
    cp.plot_class_counts({s: ctx.data[s][1] for s in SPLITS}, info.class_names, p)
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
    ctx.sections.append(writer.section(ctx.results["data"], figs))
