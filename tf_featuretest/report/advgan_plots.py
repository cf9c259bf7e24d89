"""Plots for the AdvGAN section: success against the budget per family, and example images.

Every function takes numbers or arrays (what the stage measured), writes one PNG through
:mod:`.style` and returns its path.
"""
from __future__ import annotations

import numpy as np

from .style import class_label, color, image_grid_axes, new_figure, save, show_image


def plot_success_vs_budget(pixel: dict, families: list, path: str, *, classifier: str = "the classifier"):
    """Learned (solid) and random (dashed) success against the budget: pixel eps left, families right.

    Args:
        pixel: ``{"values": [eps], "learned": [success], "random": [mean success of the random draws]}``.
        families: ``[{"family", "noise", "values": [severity], "learned": [...], "random": [...]}]``.
        path: PNG path.
    """
    fig, axes = new_figure(9.6, 3.8, 1, 2 if families else 1, squeeze=False)
    ax = axes[0, 0]
    ax.plot(pixel["values"], pixel["learned"], "o-", color=color(0), label="AdvGAN (learned)")
    ax.plot(pixel["values"], pixel["random"], "s--", color=color(0), alpha=0.6, label="uniform noise, same L-inf")
    ax.set_xlabel("eps (L-inf budget)")
    ax.set_ylabel(f"success rate on {classifier}")
    ax.set_title("Pixel budget")
    if families:
        ax2 = axes[0, 1]
        for i, f in enumerate(families, start=1):
            ax2.plot(f["values"], f["learned"], "o-", color=color(i), label=f"{f['family']} (learned)")
            ax2.plot(f["values"], f["random"], "s--", color=color(i), alpha=0.6, label=f"{f['noise']} (random)")
        ax2.set_xlabel("severity (noise scale)")
        ax2.set_title("Structured families")
    for a in axes.flat:
        a.set_ylim(-0.02, 1.02)
        a.grid(alpha=0.3)
        a.legend(fontsize=6)
    return save(fig, path)


def plot_family_examples(rows: list, path: str, *, class_names=None):
    """One row per family: the original, the learned worst case and one random draw, with predictions.

    Args:
        rows: ``[{"family", "noise", "x", "learned", "random", "y", "pred_clean", "pred_learned",
            "pred_random"}]`` (images HWC in [0, 1]).
        path: PNG path.
    """
    fig, axes = image_grid_axes(max(1, len(rows)), 3, cell=1.6, title="Original / learned worst case / random draw")
    for i, r in enumerate(rows):
        for j, (key, who) in enumerate((("x", "clean"), ("learned", "learned"), ("random", "random"))):
            show_image(axes[i, j], r[key])
            pred = class_label(class_names, r[f"pred_{who}"], 8)
            head = {"x": f"true {class_label(class_names, r['y'], 8)}, pred {pred}",
                    "learned": f"{r['family']}: pred {pred}", "random": f"{r['noise']}: pred {pred}"}[key]
            axes[i, j].set_title(head, fontsize=6)
    return save(fig, path)


def plot_targeted_grid(x, adversarial, predicted, path, *, class_names=None, title="One generator, every target"):
    """Rows: test images; columns: the original, then the adversarial image for each target class.

    Args:
        x: ``[N, H, W, C]`` originals.
        adversarial: ``[N, K, H, W, C]``: image ``i`` aimed at class ``k``.
        predicted: ``[N, K]`` the classifier's labels of those images.
        path: PNG path.
    """
    x, adversarial = np.asarray(x), np.asarray(adversarial)
    n, k = adversarial.shape[:2]
    fig, axes = image_grid_axes(n, k + 1, cell=0.95, title=title)
    for i in range(n):
        show_image(axes[i, 0], x[i])
        axes[0, 0].set_title("original", fontsize=6)
        for t in range(k):
            show_image(axes[i, t + 1], adversarial[i, t])
            hit = int(predicted[i, t]) == t  # a miss is drawn in orange
            axes[i, t + 1].set_title(f"to {class_label(class_names, t, 5)}: {class_label(class_names, predicted[i, t], 5)}",
                                     fontsize=6, color="black" if hit else "#D55E00")
    return save(fig, path)
