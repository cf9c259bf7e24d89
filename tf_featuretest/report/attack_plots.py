"""Plots for the attack sections of the report: robustness curves and image grids.

Every function takes results or arrays, writes one PNG through :mod:`.style` and returns its path.
"""
from __future__ import annotations

import numpy as np

from .style import class_label, color, image_grid_axes, new_figure, save, show_image


def plot_accuracy_vs_eps(results, path, *, title="Accuracy under attack"):
    """Accuracy (solid) and attack success rate (dashed) against eps, one colour per result.

    Args:
        results: a :class:`~tf_featuretest.evaluate.SweepResult`, a list of them, or a dict
            ``label -> SweepResult`` (e.g. ``{"clean": r1, "adversarially trained": r2}``).
        path: PNG path.

    Example:
        >>> plot_accuracy_vs_eps({"pgd": result}, "out/pgd.png")  # doctest: +SKIP
    """
    if not isinstance(results, dict):
        results = results if isinstance(results, (list, tuple)) else [results]
        results = {r.name: r for r in results}
    fig, ax = new_figure()
    for i, (label, r) in enumerate(results.items()):
        ax.plot(r.values, r.accuracy, "o-", color=color(i), label=f"{label}: accuracy")
        ax.plot(r.values, r.success_rate, "s--", color=color(i), alpha=0.7, label=f"{label}: success rate")
    ax.set_xlabel("eps (perturbation budget)")
    ax.set_ylabel("fraction of images")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return save(fig, path)


def plot_adversarial_triplets(x, x_adv, y, pred_clean, pred_adv, path, *, class_names=None, max_rows=8,
                              title="Original / perturbation / adversarial"):
    """One row per image: the original, the perturbation (amplified to fill [0, 1]) and the adversarial image.

    Args:
        x, x_adv: ``[N, H, W, C]`` images in [0, 1].
        y: true labels; pred_clean, pred_adv: the model's predictions on ``x`` and ``x_adv``.
        path: PNG path.
        class_names: optional names shown instead of class numbers.
        max_rows: at most this many images.
    """
    x, x_adv = np.asarray(x, np.float32), np.asarray(x_adv, np.float32)
    rows = max(1, min(len(x), max_rows))
    fig, axes = image_grid_axes(rows, 3, cell=1.5, title=title)
    for i in range(rows):
        delta = x_adv[i] - x[i]
        scale = float(np.abs(delta).max())
        amp = 0.5 + 0.5 * delta / scale if scale > 0 else np.full_like(delta, 0.5)
        show_image(axes[i, 0], x[i])
        show_image(axes[i, 1], amp)
        show_image(axes[i, 2], x_adv[i])
        axes[i, 0].set_title(f"true {class_label(class_names, y[i])}, pred {class_label(class_names, pred_clean[i])}", fontsize=7)
        axes[i, 1].set_title(f"|d|inf={scale:.3f} (x{0.5 / scale if scale else 0:.0f})", fontsize=7)
        ok = int(pred_adv[i]) != int(y[i])
        axes[i, 2].set_title(f"pred {class_label(class_names, pred_adv[i])}" + (" (fooled)" if ok else ""), fontsize=7,
                             color=color(3) if ok else "black")
    return save(fig, path)


def plot_one_pixel(result, x, y, path, *, class_names=None, max_images=12, title="One-pixel attack: successes"):
    """Successful one-pixel (k-pixel) images with each changed pixel circled, labelled true -> predicted.

    Args:
        result: a :class:`~tf_featuretest.attacks.OnePixelResult`.
        x, y: the attacked images and labels (for the "before" labels).
        path: PNG path.
    """
    idx = np.flatnonzero(result.success)[:max_images]
    if len(idx) == 0:  # show the closest attempts when nothing succeeded
        idx = np.arange(min(len(result.success), max_images))
        title = f"{title} (none: closest attempts shown)"
    cols = min(6, max(1, len(idx)))
    rows = int(np.ceil(len(idx) / cols))
    fig, axes = image_grid_axes(rows, cols, cell=1.5, title=title)
    for ax in axes.flat[len(idx):]:
        ax.set_axis_off()
    for ax, i in zip(axes.flat, idx):
        show_image(ax, result.images[i])
        for r, c in result.pixels[i]:
            ax.add_patch(_circle(c, r))
        ax.set_title(f"{class_label(class_names, y[i])} -> {class_label(class_names, result.predicted[i])}", fontsize=8,
                     color=color(3) if result.success[i] else "black")
    return save(fig, path)


def _circle(col, row):
    from matplotlib.patches import Circle

    return Circle((col, row), radius=1.5, fill=False, edgecolor=color(3), linewidth=1.5)


def plot_fooling_grid(result, path, *, class_names=None, title=None):
    """Fooling images in a grid, one row per class, each labelled with the model's confidence.

    Args:
        result: a :class:`~tf_featuretest.attacks.FoolingResult`.
        path: PNG path.
    """
    classes = sorted(set(int(c) for c in result.classes))
    per = max(int(np.sum(result.classes == c)) for c in classes)
    title = title or f"Fooling images (>= {result.threshold:.0%} confidence)"
    fig, axes = image_grid_axes(len(classes), per, cell=1.4, title=title)
    for r, c in enumerate(classes):
        where = np.flatnonzero(result.classes == c)
        for j in range(per):
            ax = axes[r, j]
            if j >= len(where):
                ax.set_axis_off()
                continue
            i = where[j]
            show_image(ax, result.images[i])
            ax.set_title(f"{class_label(class_names, c)}: {result.confidence[i]:.3f}", fontsize=7,
                         color="black" if result.success[i] else color(3))
    return save(fig, path)


def plot_lookalike_methods(x, y, targets, runs: dict, path, *, class_names=None, max_rows=6,
                           title="Original and each method's look-alike"):
    """One row per image: the original, then each method's look-alike at the same scale (no amplification).

    Args:
        x, y, targets: originals in [0, 1], their labels and the wanted labels.
        runs: ``{method: (images, predictions, ssim, looks_same or None)}``, arrays aligned with ``x``.
        path: PNG path.
    """
    x = np.asarray(x, np.float32)
    rows = max(1, min(len(x), max_rows))
    cols = 1 + len(runs)
    fig, axes = image_grid_axes(rows, cols, cell=1.6, title=title)
    for i in range(rows):
        show_image(axes[i, 0], x[i])
        axes[i, 0].set_title(f"{class_label(class_names, y[i])}, want {class_label(class_names, targets[i])}",
                             fontsize=7)
        for j, (name, (images, pred, ssim_, same)) in enumerate(runs.items(), start=1):
            show_image(axes[i, j], np.asarray(images[i], np.float32))
            hit = int(pred[i]) == int(targets[i])
            verdict = "" if same is None else (", judge: same" if same[i] else ", judge: differs")
            axes[i, j].set_title(f"{name}: {class_label(class_names, pred[i])}\nSSIM {float(ssim_[i]):.2f}{verdict}",
                                 fontsize=6, color=color(2) if hit else "black")
    return save(fig, path)
