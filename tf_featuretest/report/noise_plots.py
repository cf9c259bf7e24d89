"""Noise robustness plots: accuracy vs severity, a severity grid of example images, threshold bars."""
from __future__ import annotations

import os

import numpy as np

from ..noise import get_noise
from .style import color, image_grid_axes, new_figure, save, show_image


def plot_accuracy_curves(result, path: str, title=None, *, ncols=5) -> str:
    """Accuracy vs severity in small multiples: one panel per noise, the model solid and a baseline dashed.

    One panel per noise keeps every curve readable however many noises there are (a single panel with
    one line per noise and model overlays dozens of lines); the legend sits below the panels.
    """
    sweeps, base = list(result.sweeps), {s.name: s for s in result.baseline_sweeps}
    ncols = max(1, min(ncols, len(sweeps)))
    nrows = int(np.ceil(len(sweeps) / ncols))
    fig, axes = new_figure(2.1 * ncols, 1.55 * nrows + 0.9, nrows=nrows, ncols=ncols, sharex=True, sharey=True,
                           squeeze=False)
    level = result.thresholds[0].level
    for i, ax in enumerate(axes.ravel()):
        if i >= len(sweeps):
            ax.set_visible(False)
            continue
        s = sweeps[i]
        ax.plot(s.values, s.accuracy, marker="o", ms=2.5, color=color(0), label=result.model_name)
        if s.name in base:
            ax.plot(base[s.name].values, base[s.name].accuracy, ls="--", color=color(1), label=result.baseline_name)
        ax.axhline(level, color="grey", lw=0.8, ls=":", label="failure criterion")
        ax.set_title(s.name, fontsize=8)
        ax.set_ylim(-0.02, 1.02)
        ax.tick_params(labelsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("severity", fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel("accuracy", fontsize=8)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), fontsize=8, frameon=False)
    fig.suptitle(title or f"{result.model_name}: accuracy under noise", fontsize=10)
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
    fig.legend(loc="outside lower center", ncol=len(series), fontsize=8, frameon=False)
    return save(fig, path)


def write_noise_plots(result, image, out_dir: str, *, seed=0) -> dict:
    """Write the three plots of a :class:`robustness.NoiseRobustnessResult` under ``out_dir``; return their paths."""
    names = [t.name for t in result.thresholds]
    grid_values = [round(v, 2) for v in np.linspace(0, 1, 6)]
    return {"accuracy_vs_severity": plot_accuracy_curves(result, os.path.join(out_dir, "noise_accuracy.png")),
            "severity_grid": plot_severity_grid(image, names, grid_values, os.path.join(out_dir, "noise_grid.png"),
                                                seed=seed),
            "thresholds": plot_thresholds(result, os.path.join(out_dir, "noise_thresholds.png"))}
