"""Plots for feature-level testing: r-separation, the latent map, generated and failing test cases."""
from __future__ import annotations

import numpy as np

from .style import class_label, color, image_grid_axes, new_figure, save, show_image


def plot_separation_histograms(results, path, *, title="Distance to the nearest other-class training point"):
    """One panel per :class:`SeparationResult` (e.g. pixel and latent): train-train and test-train histograms.

    Each panel marks ``2r`` (the smallest inter-class distance) with a dashed line.
    """
    results = list(results)
    fig, axes = new_figure(width=4.2 * len(results), height=3.4, ncols=len(results), squeeze=False)
    for ax, res in zip(axes[0], results):
        edges = np.asarray(res.histogram["edges"])
        for i, kind in enumerate(("train", "test")):
            counts = res.histogram.get(kind)
            if counts is not None:
                ax.stairs(counts, edges, color=color(i), fill=i == 0, alpha=0.55 if i == 0 else 1.0,
                          label=f"{kind}-train (n={int(np.sum(counts))})")
        ax.axvline(2 * res.r, color=color(3), linestyle="--", label=f"2r = {2 * res.r:.4g}")
        norm = "L-inf" if res.norm == "inf" else "L2"
        ax.set_title(f"{res.space} space, {norm}")
        ax.set_xlabel(f"{norm} distance")
        ax.set_ylabel("points")
        ax.legend(fontsize=7)
    fig.suptitle(title)
    return save(fig, path)


def plot_closest_pairs(result, x_train, y_train, path, *, x_test=None, class_names=None, max_pairs=8):
    """The closest cross-label pairs as image pairs (top: query, bottom: its nearest other-class point)."""
    pairs = [p for p in result.closest_pairs if p.kind == "train-train" or x_test is not None][:max_pairs]
    cols = max(1, len(pairs))
    fig, axes = image_grid_axes(2, cols, cell=1.4, title=f"Closest cross-label pairs ({result.space}, "
                                                         f"{'L-inf' if result.norm == 'inf' else 'L2'})")
    for j, p in enumerate(pairs):
        query = (x_test if p.kind == "test-train" else x_train)[p.query]
        show_image(axes[0, j], query)
        show_image(axes[1, j], x_train[p.ref])
        axes[0, j].set_title(f"{p.kind.split('-')[0]} #{p.query}: {class_label(class_names, p.query_label)}", fontsize=7)
        axes[1, j].set_title(f"train #{p.ref}: {class_label(class_names, p.ref_label)}\nd={p.distance:.3g}", fontsize=7)
    return save(fig, path)


def pca_2d(z):
    """``(projection [N, 2], mean, basis [2, D])``: the first two principal components of ``z`` (fixed signs)."""
    z = np.asarray(z, np.float64)
    mean = z.mean(axis=0)
    _, _, vt = np.linalg.svd(z - mean, full_matrices=False)
    basis = vt[:2]
    basis = basis * np.sign(basis[np.arange(len(basis)), np.argmax(np.abs(basis), axis=1)])[:, None]
    if len(basis) < 2:
        basis = np.vstack([basis, np.zeros((2 - len(basis), z.shape[1]))])
    return (z - mean) @ basis.T, mean, basis


def plot_latent_map(z, y, path, *, class_names=None, generated=None, title="Latent means (PCA, 2-D)"):
    """Training latent means projected on their first two principal components, coloured by class.

    ``generated`` = optional ``(z_generated, valid)``: drawn on the same axes, invalid ones as crosses.
    """
    y = np.asarray(y)
    p, mean, basis = pca_2d(z)
    fig, ax = new_figure(width=5.6, height=4.6)
    for i, c in enumerate(np.unique(y)):
        m = y == c
        ax.scatter(p[m, 0], p[m, 1], s=6, color=color(i), alpha=0.7, label=class_label(class_names, c))
    if generated is not None:
        zg, valid = np.asarray(generated[0]), np.asarray(generated[1], bool)
        pg = (zg - mean) @ basis.T
        ax.scatter(pg[valid, 0], pg[valid, 1], s=14, facecolors="none", edgecolors="k", label="generated, valid")
        ax.scatter(pg[~valid, 0], pg[~valid, 1], s=14, marker="x", color="k", label="generated, invalid")
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title(title)
    ax.legend(fontsize=7, markerscale=2, ncol=2)
    return save(fig, path)


def _frame(ax, ok):
    for s in ax.spines.values():
        s.set_edgecolor(color(2) if ok else color(3))
        s.set_linewidth(2.5)


def plot_generated_gallery(result, path, *, class_names=None, max_images=40, cols=10, title=None):
    """Generated cases with their label; green frame = valid, red = invalid (failed checks shown)."""
    n = min(max_images, result.num_cases)
    rows = max(1, -(-n // cols))
    fig, axes = image_grid_axes(rows, cols, cell=1.1, title=title or f"{result.source} cases: validity "
                                f"{result.validity_rate:.0%} of {result.num_cases} (green valid, red invalid)")
    for k in range(rows * cols):
        ax = axes.flat[k]
        if k >= n:
            ax.axis("off")
            continue
        show_image(ax, result.images[k])
        _frame(ax, bool(result.valid[k]))
        ax.set_title(f"{class_label(class_names, result.labels[k])}{'' if result.valid[k] else ' (x)'}", fontsize=7)
    return save(fig, path)


def plot_failing_cases(result, path, *, class_names=None, max_images=12, title=None):
    """Valid cases the classifier gets wrong: the anchor (latent cases) above the generated image."""
    fail = result.failing()[:max_images]
    cols = max(1, len(fail))
    has_anchor = result.anchors is not None
    rows = 2 if has_anchor else 1
    fig, axes = image_grid_axes(rows, cols, cell=1.4, title=title or f"Failing valid {result.source} cases "
                                f"({len(result.failing())} of {result.num_valid} valid)")
    if len(fail) == 0:
        axes[0, 0].text(0.5, 0.5, "none", ha="center", va="center")
    for j, i in enumerate(fail):
        if has_anchor:
            show_image(axes[0, j], result.anchors[result.anchor_index[i]])
            axes[0, j].set_title(f"anchor: {class_label(class_names, result.labels[i])}", fontsize=7)
        ax = axes[rows - 1, j]
        show_image(ax, result.images[i])
        ax.set_title(f"true {class_label(class_names, result.labels[i])}\npred {class_label(class_names, result.predictions[i])}",
                     fontsize=7, color=color(3))
    return save(fig, path)
