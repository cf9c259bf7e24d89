"""Noise robustness plots: accuracy vs severity, a severity grid of example images, threshold bars."""
from __future__ import annotations

import os

import numpy as np

from ..noise import get_noise
from .style import color, image_grid_axes, new_figure, save, show_image


def plot_accuracy_curves(result, path: str, title=None) -> str:
    """Accuracy vs severity, one line per noise; a baseline's curves dashed in the same colour."""
    fig, ax = new_figure(7.5, 4.8)
    for i, s in enumerate(result.sweeps):
        ax.plot(s.values, s.accuracy, marker="o", ms=3, color=color(i), label=s.name)
    for i, s in enumerate(result.baseline_sweeps):
        ax.plot(s.values, s.accuracy, ls="--", color=color(i), alpha=0.7)
    if result.baseline_sweeps:
        ax.plot([], [], ls="--", color="grey", label=f"{result.baseline_name} (dashed)")
    ax.axhline(result.thresholds[0].level, color="grey", lw=0.8, ls=":", label="failure criterion")
    ax.set_xlabel("severity")
    ax.set_ylabel("accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(title or f"{result.model_name}: accuracy under noise")
    ax.legend(fontsize=7, ncol=2, loc="lower left")
    return save(fig, path)


def plot_severity_grid(image, noises, severities, path: str, *, seed=0, title="noise at each severity") -> str:
    """One row per noise, one column per severity, all applied to the same ``image`` (HWC in [0, 1])."""
    fig, axes = image_grid_axes(len(noises), len(severities), cell=1.0, title=title)
    for r, name in enumerate(noises):
        fn = get_noise(name)
        for c, s in enumerate(severities):
            show_image(axes[r, c], fn(np.asarray(image, np.float32), float(s), seed=seed).numpy())
            if r == 0:
                axes[r, c].set_title(f"{s:g}", fontsize=8)
        axes[r, 0].set_ylabel(name, fontsize=7, rotation=0, ha="right", va="center")
    return save(fig, path)


def plot_thresholds(result, path: str, title=None) -> str:
    """Horizontal bars of failure thresholds with bootstrap intervals; noises never failing drawn hatched at 1."""
    names = [t.name for t in result.thresholds]
    series = [(result.model_name, result.thresholds)]
    if result.baseline_thresholds:
        series.append((result.baseline_name, result.baseline_thresholds))
    fig, ax = new_figure(7.0, 0.35 * len(names) * len(series) + 1.4)
    height = 0.8 / len(series)
    y = np.arange(len(names))
    for k, (label, ths) in enumerate(series):
        pos = y + (k - (len(series) - 1) / 2) * height
        vals = np.array([1.0 if t.threshold is None else t.threshold for t in ths])
        lo = np.array([v if t.ci_low is None else t.ci_low for v, t in zip(vals, ths)])
        hi = np.array([1.0 if t.ci_high is None else t.ci_high for t in ths])
        bars = ax.barh(pos, vals, height=height, color=color(k), label=label,
                       xerr=np.vstack([np.maximum(vals - lo, 0), np.maximum(hi - vals, 0)]), capsize=2)
        for bar, t in zip(bars, ths):
            if t.threshold is None:
                bar.set_hatch("//")
                bar.set_alpha(0.45)
    ax.set_yticks(y, names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.05)
    ax.set_xlabel(f"failure threshold (severity; hatched = not reached by 1); criterion {result.criterion}")
    ax.set_title(title or "failure threshold per noise (lower = more disruptive)")
    ax.legend(fontsize=8, loc="lower right")
    return save(fig, path)


def write_noise_plots(result, image, out_dir: str, *, seed=0) -> dict:
    """Write the three plots of a :class:`robustness.NoiseRobustnessResult` under ``out_dir``; return their paths."""
    names = [t.name for t in result.thresholds]
    grid_values = [round(v, 2) for v in np.linspace(0, 1, 6)]
    return {"accuracy_vs_severity": plot_accuracy_curves(result, os.path.join(out_dir, "noise_accuracy.png")),
            "severity_grid": plot_severity_grid(image, names, grid_values, os.path.join(out_dir, "noise_grid.png"),
                                                seed=seed),
            "thresholds": plot_thresholds(result, os.path.join(out_dir, "noise_thresholds.png"))}
