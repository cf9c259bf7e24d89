"""Plots for the data and classifier sections: class counts, samples, augmentation and crop
examples, training curves, the confusion matrix heat map, and the per-class table.

Every function writes one PNG through :func:`tf_featuretest.report.style.save` and returns its path.

Example:
    >>> plot_training_curves(train_result.history, "reports/digits/classifier/curves.png")
    'reports/digits/classifier/curves.png'
"""
from __future__ import annotations

import numpy as np
from matplotlib.ticker import MaxNLocator

from .._util import checks
from ..data import AugmentConfig
from ..errors import ConfigError, DataError
from .html import Table
from .style import class_label, color, image_grid_axes, new_figure, save, short, show_image

TRAIN, VALIDATION = color(0), color(1)


# --------------------------------------------------------------------------- classifier


def plot_training_curves(history: dict, path: str, *, title: str = "Training curves") -> str:
    """Loss and each metric per epoch, training solid and validation dashed, best epoch marked.

    Args:
        history: Keras ``History.history`` style: ``{"loss": [...], "val_loss": [...], ...}``.
        path: PNG to write.
    """
    if not isinstance(history, dict) or not history:
        raise DataError("history must be a non-empty dict of metric name -> per-epoch values")
    bases = []
    for key in history:
        base = key[4:] if key.startswith("val_") else key
        if base not in bases and base not in ("learning_rate", "lr"):
            bases.append(base)
    bases.sort(key=lambda b: (b != "loss", b))
    fig, axes = new_figure(4.2 * len(bases), 3.4, 1, len(bases), squeeze=False)
    best = None
    if history.get("val_loss"):
        best = int(np.nanargmin(np.asarray(history["val_loss"], float))) + 1
    for ax, base in zip(axes[0], bases):
        for key, style, col, label in ((base, "-", TRAIN, "training"), ("val_" + base, "--", VALIDATION, "validation")):
            values = np.asarray(history.get(key, []), float)
            if values.size:
                ax.plot(np.arange(1, values.size + 1), values, style, color=col, marker="o", markersize=3, label=label)
        if best is not None:
            ax.axvline(best, color="#888888", linestyle=":", linewidth=1, label=f"best epoch ({best})")
        ax.set_title(base.replace("_", " "))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(base.replace("_", " "))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    return save(fig, path)


def plot_confusion_matrix(confusion, class_names, path: str, *, normalize: bool = True,
                          title: str = "Confusion matrix") -> str:
    """Heat map of a confusion matrix (rows: true class, columns: prediction).

    Colours show each row as a share of its true class when ``normalize``; counts are written in
    the cells for up to 20 classes; tick labels are thinned out for many classes.
    """
    cm = np.asarray(confusion, dtype=np.float64)
    k = len(class_names)
    if cm.ndim != 2 or cm.shape != (k, k):
        raise DataError(f"confusion matrix must be [{k}, {k}] for {k} class names, got shape {cm.shape}")
    shown = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1) if normalize else cm
    side = min(max(3.6, 0.3 * k + 1.6), 14.0)
    fig, ax = new_figure(side + 1.0, side)
    im = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else max(cm.max(), 1))
    fig.colorbar(im, ax=ax, shrink=0.8, label="share of true class" if normalize else "count")
    step = max(1, int(np.ceil(k / 40)))
    ticks = np.arange(0, k, step)
    names = [short(class_names[i], 14) for i in ticks]
    ax.set_xticks(ticks, names, rotation=90 if max(map(len, names)) > 3 else 0, fontsize=8 if k > 15 else 10)
    ax.set_yticks(ticks, names, fontsize=8 if k > 15 else 10)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if k <= 20:
        for i in range(k):
            for j in range(k):
                if cm[i, j]:
                    ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center", fontsize=9,
                            color="white" if shown[i, j] > 0.5 * (1 if normalize else cm.max()) else "#1d232b")
    ax.set_title(title)
    return save(fig, path)


def per_class_table(report, *, worst: int | None = None, caption: str = "Per-class results") -> Table:
    """A :class:`Table` of precision, recall, F1 and support per class.

    Args:
        report: a :class:`tf_featuretest.metrics.ClassificationReport` or its ``to_dict()``.
        worst: keep only this many classes with the lowest F1 (for data sets with many classes).
    """
    d = report.to_dict() if hasattr(report, "to_dict") else report
    if not isinstance(d, dict) or "per_class" not in d:
        raise DataError("per_class_table needs a ClassificationReport or its to_dict()")
    rows = [(r["class"], r["precision"], r["recall"], r["f1"], r["support"]) for r in d["per_class"]]
    if worst is not None:
        worst = checks.positive_int(worst, "worst")
        rows = sorted(rows, key=lambda r: (r[3], str(r[0])))[:worst]
        caption = f"{caption} ({len(rows)} classes with the lowest F1)"
    return Table(("class", "precision", "recall", "F1", "support"), rows, caption)


# --------------------------------------------------------------------------- data


def plot_class_counts(labels_by_split: dict, class_names, path: str, *, title: str = "Images per class") -> str:
    """Grouped bars: images per class in each split.

    Args:
        labels_by_split: ``{"train": y_train, ...}`` with label arrays.
    """
    k = len(class_names)
    if not labels_by_split:
        raise DataError("labels_by_split must name at least one split")
    counts = {}
    for split, y in labels_by_split.items():
        y = np.asarray(y, np.int64)
        if y.size and (y.min() < 0 or y.max() >= k):
            raise DataError(f"split {split!r} has label {int(y.max() if y.max() >= k else y.min())} "
                            f"outside 0..{k - 1}")
        counts[split] = np.bincount(y, minlength=k)
    width = min(max(6.0, 0.35 * k + 2.0), 16.0)
    fig, ax = new_figure(width, 3.6)
    bar = 0.8 / len(counts)
    for i, (split, c) in enumerate(counts.items()):
        ax.bar(np.arange(k) + (i - (len(counts) - 1) / 2) * bar, c, bar, color=color(i),
               label=f"{split} ({int(c.sum())})")
    step = max(1, int(np.ceil(k / 40)))
    ticks = np.arange(0, k, step)
    names = [short(class_names[i], 12) for i in ticks]
    ax.set_xticks(ticks, names, rotation=90 if max(map(len, names)) > 3 else 0, fontsize=8 if k > 15 else 10)
    ax.set_xlabel("class")
    ax.set_ylabel("images")
    ax.set_title(title)
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    return save(fig, path)


def plot_class_samples(x, y, class_names, path: str, *, per_class: int = 8, max_classes: int = 20, seed: int = 0,
                       title: str = "Sample images per class") -> str:
    """A grid with one row per class (up to ``max_classes``) of ``per_class`` images chosen with ``seed``."""
    x, y = np.asarray(x), np.asarray(y, np.int64)
    if x.ndim != 4 or len(x) != len(y):
        raise DataError(f"need images [N, H, W, C] and N labels, got {x.shape} and {y.shape}")
    rng = np.random.default_rng(seed)
    classes = [c for c in range(len(class_names)) if np.any(y == c)][:max_classes]
    fig, axes = image_grid_axes(len(classes), per_class, cell=1.0, title=title)
    for row, c in enumerate(classes):
        idx = np.flatnonzero(y == c)
        pick = rng.choice(idx, size=min(per_class, idx.size), replace=False)
        for col in range(per_class):
            ax = axes[row, col]
            if col < pick.size:
                show_image(ax, x[pick[col]])
            else:
                ax.axis("off")
        axes[row, 0].set_ylabel(short(class_names[c], 14), rotation=0, ha="right", va="center", fontsize=9)
    return save(fig, path)


def plot_augmentation_examples(x, path: str, *, augment=True, variants: int = 5, seed: int = 0,
                               title: str = "Training augmentation") -> str:
    """Each image (rows) next to ``variants`` random augmentations of it, as training sees them.

    Args:
        x: a few images ``[N, H, W, C]`` in [0, 1].
        augment: ``True`` (the defaults) or an :class:`tf_featuretest.data.AugmentConfig`.
    """
    cfg = AugmentConfig() if augment is True else augment
    if not isinstance(cfg, AugmentConfig):
        raise ConfigError(f"augment must be True or an AugmentConfig, got {augment!r}")
    x = np.asarray(x, np.float32)
    if x.ndim != 4 or not len(x):
        raise DataError(f"need images [N, H, W, C], got shape {x.shape}")
    layers = cfg.layers(seed)
    fig, axes = image_grid_axes(len(x), variants + 1, cell=1.2, title=title)
    for col in range(variants + 1):
        batch = x
        if col:
            for layer in layers:
                batch = layer(batch, training=True)
            batch = np.clip(np.asarray(batch), 0, 1)
        for row in range(len(x)):
            show_image(axes[row, col], batch[row])
        axes[0, col].set_title("original" if col == 0 else f"augmented {col}", fontsize=9)
    return save(fig, path)


def plot_crop_examples(originals, crops, path: str, *, labels=None, class_names=None, max_images: int = 6,
                       title: str = "Bounding-box crops") -> str:
    """Pairs of full image and its bounding-box crop (as loaded with ``crop="box"``), one pair per column."""
    originals, crops = np.asarray(originals), np.asarray(crops)
    if originals.ndim != 4 or crops.ndim != 4 or len(originals) != len(crops):
        raise DataError(f"need matching image batches, got shapes {originals.shape} and {crops.shape}")
    n = min(max_images, len(originals))
    fig, axes = image_grid_axes(2, n, cell=1.5, title=title)
    for i in range(n):
        show_image(axes[0, i], originals[i])
        show_image(axes[1, i], crops[i])
        if labels is not None:
            axes[0, i].set_title(class_label(class_names, int(labels[i]), 18), fontsize=9)
    axes[0, 0].set_ylabel("full image", fontsize=9)
    axes[1, 0].set_ylabel("box crop", fontsize=9)
    return save(fig, path)
