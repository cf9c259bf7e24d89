"""Shared plotting style: one colour per series everywhere, titles and labels, PNG saving.

Every plot module uses :func:`new_figure` and :func:`save` so that the report looks consistent and
matplotlib never needs a display.
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .._util.io import atomic_path  # noqa: E402

# A colour-blind-safe qualitative palette (Okabe & Ito), then matplotlib's tab20 for more series.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")


def color(i: int) -> str:
    """The colour of series ``i``, stable across plots."""
    if i < len(PALETTE):
        return PALETTE[i]
    return matplotlib.colors.to_hex(plt.get_cmap("tab20")(i % 20))


def new_figure(width=6.4, height=4.0, nrows=1, ncols=1, **kw):
    """A figure and axes with the report's defaults (constrained layout, 110 dpi)."""
    return plt.subplots(nrows, ncols, figsize=(width, height), dpi=110, layout="constrained", **kw)


def save(fig, path: str) -> str:
    """Write ``fig`` to ``path`` (PNG) through the atomic writer, close it, return the path."""
    try:
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
    return path


def short(name, width=18) -> str:
    """A class name cut to ``width`` characters (Tiny ImageNet names run long)."""
    name = str(name)
    return name if len(name) <= width else name[:width - 1] + "\u2026"


def class_label(class_names, k, width=None) -> str:
    """The name of class ``k`` (cut to ``width`` characters when given), or ``k`` itself without names."""
    k = int(k)
    if class_names is None or not 0 <= k < len(class_names):
        return str(k)
    return short(class_names[k], width) if width else str(class_names[k])


def image_grid_axes(rows: int, cols: int, cell=1.2, title=None):
    """A grid of image axes with ticks hidden."""
    fig, axes = plt.subplots(rows, cols, figsize=(max(cell * cols, 2.5), cell * rows + (0.4 if title else 0)),
                             dpi=110, squeeze=False, layout="constrained")
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    return fig, axes


def show_image(ax, img, **kw):
    """Show a [0,1] HWC image (1 or 3 channels) on ``ax``."""
    import numpy as np

    img = np.clip(np.asarray(img, dtype=np.float32), 0, 1)
    if img.ndim == 3 and img.shape[-1] == 1:
        ax.imshow(img[..., 0], cmap="gray", vmin=0, vmax=1, **kw)
    else:
        ax.imshow(img, **kw)
