"""Saliency figures: image | vanilla gradient | SmoothGrad | Grad-CAM overlay per image, and the
same image clean and adversarial side by side.

Gradient maps are drawn with the ``inferno`` colour map, scaled to their 99th percentile (a few
very large gradients would otherwise leave the rest black); Grad-CAM is drawn as a ``jet``
overlay on the grey image, as in Selvaraju et al. (2017).

Example:
    >>> res = saliency_maps(model, x[:6], y[:6])
    >>> plot_saliency_grid(res, "reports/digits/saliency/grid.png", class_names=info.class_names)
    'reports/digits/saliency/grid.png'
"""
from __future__ import annotations

import numpy as np

from ..errors import DataError
from ..explain import METHOD_TITLES, SaliencyResult
from .style import class_label, image_grid_axes, save, show_image

RIGHT, WRONG = "#009E73", "#D55E00"


def _scale(m, top=None):
    top = float(np.percentile(m, 99)) if top is None else top
    return np.clip(m / top, 0, 1) if top > 0 else np.zeros_like(m)


def _grey(img):
    img = np.asarray(img, np.float32)
    return img[..., 0] if img.shape[-1] == 1 else img @ np.array([0.299, 0.587, 0.114], np.float32)


def _draw(ax, method, result, i, top=None):
    if method == "gradcam":
        ax.imshow(_grey(result.images[i]), cmap="gray", vmin=0, vmax=1)
        ax.imshow(result.maps[method][i], cmap="jet", alpha=0.45, vmin=0, vmax=1)
    else:
        ax.imshow(_scale(result.maps[method][i], top), cmap="inferno", vmin=0, vmax=1)


def _row_label(result, i, class_names, prefix=""):
    pred = int(result.predictions[i])
    text = f"{prefix}pred {class_label(class_names, pred, 12)} ({result.confidences[i]:.0%})"
    ok = None
    if result.labels is not None:
        true = int(result.labels[i])
        text = (f"{prefix}true {class_label(class_names, true, 12)}\n"
                f"pred {class_label(class_names, pred, 12)} ({result.confidences[i]:.0%})")
        ok = true == pred
    return text, ("#1d232b" if ok is None else RIGHT if ok else WRONG)


def pick_examples(result: SaliencyResult, *, correct: int = 4, wrong: int = 4) -> np.ndarray:
    """Indices of the first ``correct`` correctly and ``wrong`` wrongly classified images (needs labels)."""
    if result.labels is None:
        raise DataError("picking correct and misclassified examples needs the true labels")
    hit = result.labels == result.predictions
    return np.concatenate([np.flatnonzero(hit)[:correct], np.flatnonzero(~hit)[:wrong]]).astype(np.int64)


def _indices(result, indices, max_images):
    idx = np.arange(len(result))[:max_images] if indices is None else np.asarray(indices, np.int64)
    if idx.size == 0:
        raise DataError("no images to plot")
    if idx.min() < 0 or idx.max() >= len(result):
        raise DataError(f"image index {int(idx.max() if idx.max() >= len(result) else idx.min())} outside "
                        f"0..{len(result) - 1}")
    return idx


def plot_saliency_grid(result: SaliencyResult, path: str, *, class_names=None, indices=None, max_images: int = 8,
                       title: str = "Saliency maps") -> str:
    """One row per image: the image, then one panel per method in ``result.methods``.

    Rows are labelled with the true and predicted class and the confidence, green when right and
    orange when wrong.

    Args:
        result: from :func:`tf_featuretest.explain.saliency_maps`.
        indices: which images (default the first ``max_images``); see :func:`pick_examples`.
    """
    idx = _indices(result, indices, max_images)
    cols = ("image",) + tuple(result.methods)
    fig, axes = image_grid_axes(len(idx), len(cols), cell=1.6, title=title)
    for row, i in enumerate(idx):
        show_image(axes[row, 0], result.images[i])
        for col, method in enumerate(result.methods, start=1):
            _draw(axes[row, col], method, result, i)
        text, col = _row_label(result, i, class_names)
        axes[row, 0].set_ylabel(text, fontsize=9, color=col, rotation=0, ha="right", va="center")
    for col, name in enumerate(cols):
        label = "image" if name == "image" else METHOD_TITLES[name]
        if name == "gradcam" and result.layer:
            label += f"\n({result.layer.split('/')[-1]})"
        axes[0, col].set_title(label, fontsize=9)
    return save(fig, path)


def plot_clean_vs_adversarial(clean: SaliencyResult, adversarial: SaliencyResult, path: str, *, class_names=None,
                              indices=None, max_images: int = 4, title: str = "Saliency: clean vs adversarial") -> str:
    """Each image twice, clean row above adversarial row, with the same colour scale per pair.

    Args:
        clean: saliency of the clean images.
        adversarial: saliency of their adversarial versions (same order and methods), computed by
            the caller from the attacked images.
    """
    if len(clean) != len(adversarial) or tuple(clean.methods) != tuple(adversarial.methods):
        raise DataError(f"clean and adversarial results must match: {len(clean)} vs {len(adversarial)} images, "
                        f"methods {clean.methods} vs {adversarial.methods}")
    idx = _indices(clean, indices, max_images)
    cols = ("image",) + tuple(clean.methods)
    fig, axes = image_grid_axes(2 * len(idx), len(cols), cell=1.6, title=title)
    for k, i in enumerate(idx):
        tops = {m: max(float(np.percentile(r.maps[m][i], 99)) for r in (clean, adversarial))
                for m in clean.methods if m != "gradcam"}
        for r_off, (res, prefix) in enumerate(((clean, "clean: "), (adversarial, "adversarial: "))):
            row = 2 * k + r_off
            show_image(axes[row, 0], res.images[i])
            for col, method in enumerate(res.methods, start=1):
                _draw(axes[row, col], method, res, i, tops.get(method))
            text, colour = _row_label(res, i, class_names, prefix)
            axes[row, 0].set_ylabel(text, fontsize=9, color=colour, rotation=0, ha="right", va="center")
    for col, name in enumerate(cols):
        axes[0, col].set_title("image" if name == "image" else METHOD_TITLES[name], fontsize=9)
    return save(fig, path)
