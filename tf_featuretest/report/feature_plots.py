"""Plots for feature-level testing: r-separation, the latent map, generated and failing cases, found radii,
the failure searches and DCGAN samples."""
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
    fig, ax = new_figure(width=6.6, height=4.6)
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
    ax.legend(fontsize=7, markerscale=2, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    return save(fig, path)


STATUS_COLOUR = {"valid": 2, "ambiguous": 1, "changed": 3, "out": 7}


def _frame(ax, key):
    for s in ax.spines.values():
        s.set_edgecolor(color(STATUS_COLOUR[key]))
        s.set_linewidth(2.5)


def _case_key(cases, i):
    if not cases.checks.in_distribution[i]:
        return "out"
    return {0: "valid", 1: "changed", 2: "ambiguous"}[int(cases.checks.code[i])]


def spread_anchors(anchor, labels, rows):
    """Up to ``rows`` distinct anchors, one per class in turn (not the first anchors in index order)."""
    anchor, labels = np.asarray(anchor), np.asarray(labels)
    firsts = {}
    for a, y in zip(anchor, labels):
        firsts.setdefault(int(y), [])
        if a not in firsts[int(y)]:
            firsts[int(y)].append(int(a))
    out, k = [], 0
    while len(out) < rows and any(len(v) > k for v in firsts.values()):
        for y in sorted(firsts):
            if len(firsts[y]) > k and len(out) < rows:
                out.append(firsts[y][k])
        k += 1
    return out


def plot_generated_gallery(cases, anchor_images, path, *, class_names=None, rows=10, cols=6, title=None):
    """One row per anchor, one anchor per class: the anchor, then cases sampled around it, framed by verdict.

    ``anchor_images`` maps an anchor's split index to its image. Frames: green valid, orange
    ambiguous, red label changed, black out of distribution.
    """
    chosen = spread_anchors(cases.anchor, cases.labels, rows)
    nrows = max(1, len(chosen))
    fig, axes = image_grid_axes(nrows, cols + 1, cell=1.05, title=title or "Latent cases around one anchor per class\n"
                                "frame: green valid, orange ambiguous, red label changed, black out of distribution")
    for r in range(nrows):
        for c in range(cols + 1):
            axes[r, c].axis("off")
    for r, a in enumerate(chosen):
        idx = np.flatnonzero(cases.anchor == a)[:cols]
        axes[r, 0].axis("on")
        show_image(axes[r, 0], anchor_images[a])
        axes[r, 0].set_title(f"anchor #{a}: {class_label(class_names, cases.labels[idx[0]], 10)}", fontsize=8)
        for c, i in enumerate(idx, start=1):
            ax = axes[r, c]
            ax.axis("on")
            show_image(ax, cases.images[i])
            _frame(ax, _case_key(cases, i))
            ax.set_title(f"pred {class_label(class_names, cases.predictions[i], 8)}", fontsize=8,
                         color=color(3) if cases.predictions[i] != cases.labels[i] else "black")
    return save(fig, path)


def plot_failing_cases(cases, anchor_images, path, *, class_names=None, max_images=12, title=None):
    """Confirmed failures: the anchor above (when there is one), the case below with the model's answer."""
    fail = cases.failure_order()[:max_images]
    cols = max(1, len(fail))
    fig, axes = image_grid_axes(2, cols, cell=1.45, title=title or f"Confirmed failures ({int(cases.confirmed.sum())})")
    if len(fail) == 0:
        axes[0, 0].text(0.5, 0.5, "none", ha="center", va="center")
    for j, i in enumerate(fail):
        a = int(cases.anchor[i])
        if a >= 0 and anchor_images is not None:
            show_image(axes[0, j], anchor_images[a])
            axes[0, j].set_title(f"anchor #{a}", fontsize=8)
        else:
            axes[0, j].axis("off")
        show_image(axes[1, j], cases.images[i])
        axes[1, j].set_title(f"{cases.origin[i]}\nlabel {class_label(class_names, cases.labels[i], 8)}\n"
                             f"pred {class_label(class_names, cases.predictions[i], 8)}", fontsize=8, color=color(3))
    return save(fig, path)


def plot_radii(found, path, *, title="Found radii"):
    """Left: the found radius against the anchor's margin r_i; right: histogram of radius / r_i."""
    use = np.asarray(found.usable, bool)
    fig, axes = new_figure(width=9.0, height=3.6, ncols=2)
    ax = axes[0]
    ax.scatter(found.upper[use], found.radius[use], s=12, color=color(0), label="usable anchors")
    skipped = ~use
    ax.scatter(found.upper[skipped], np.zeros(int(skipped.sum())), s=16, marker="x", color=color(3),
               label="skipped (reconstruction not valid or no radius)")
    hi = float(found.upper.max()) if len(found.upper) else 1.0
    ax.plot([0, hi], [0, hi], linestyle="--", color="grey", linewidth=1, label="radius = margin r_i")
    ax.set_xlabel("margin r_i (latent L2)")
    ax.set_ylabel("found radius")
    ax.legend(fontsize=7, loc="upper left")
    ax = axes[1]
    ratio = found.radius[use] / np.maximum(found.upper[use], 1e-12)
    ax.hist(ratio, bins=np.linspace(0, 1, 11), color=color(0))
    ax.set_xlabel("found radius / r_i")
    ax.set_ylabel("anchors")
    fig.suptitle(f"{title}: at least {found.target:.0%} of {found.probes} samples valid")
    return save(fig, path)


def plot_search(rows, path, *, title="Confirmed failures at equal model calls"):
    """Bars: confirmed failures per method, annotated with failures per minute."""
    fig, ax = new_figure(width=5.6, height=3.4)
    names = [r["method"] for r in rows]
    vals = [r["confirmed"] for r in rows]
    bars = ax.bar(names, vals, color=[color(i) for i in range(len(rows))])
    for b, r in zip(bars, rows):
        pm = r.get("confirmed_per_minute")
        ax.annotate(f"{r['confirmed']}\n({pm:.0f}/min)" if pm is not None else str(r["confirmed"]),
                    (b.get_x() + b.get_width() / 2, b.get_height()), ha="center", va="bottom", fontsize=8)
    ax.set_ylabel("confirmed failures (deduplicated)")
    ax.set_ylim(0, max(vals + [1]) * 1.3)
    calls = rows[0]["budget_per_anchor"] if rows else 0
    ax.set_title(f"{title} ({calls} per anchor)", fontsize=10)
    return save(fig, path)


def plot_dcgan_samples(samples, labels, path, *, class_names=None, per_row=8, title="DCGAN samples, one row per class"):
    """Generated images, one row per class, the class name readable at the left of each row."""
    labels = np.asarray(labels)
    classes = list(dict.fromkeys(labels.tolist()))
    fig, axes = image_grid_axes(len(classes), per_row, cell=1.0, title=title)
    for r, c in enumerate(classes):
        idx = np.flatnonzero(labels == c)[:per_row]
        for j in range(per_row):
            ax = axes[r, j]
            if j < len(idx):
                show_image(ax, samples[idx[j]])
            else:
                ax.axis("off")
        axes[r, 0].set_ylabel(class_label(class_names, c, 12), fontsize=10, rotation=0, ha="right", va="center")
    return save(fig, path)
