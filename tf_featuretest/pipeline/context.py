"""What one run of a pipeline shares between its stages, and how each stage went.

A *run* is one execution of a pipeline configuration (``featuretest run``): its stages fill a
:class:`RunContext` in order and the report is written from it. Trained models are kept under
``runs/<pipeline>/``, the report under ``reports/<pipeline>/``.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

from .. import __version__
from .._util.io import makedirs
from ..data.subset import Subset, subset


@dataclass(frozen=True)
class StageOutcome:
    """How one stage went: ``status`` is ``ok``, ``failed`` or ``skipped``; ``reused`` when it came from the cache."""

    name: str
    status: str
    seconds: float
    peak_rss_mb: float | None = None
    error: str | None = None
    reused: bool = False

    def to_dict(self) -> dict:
        return {"name": self.name, "status": self.status, "seconds": round(self.seconds, 3),
                "peak_rss_mb": self.peak_rss_mb, "error": self.error, "reused": self.reused}


@dataclass(frozen=True)
class RunResult:
    """The outcome of :func:`~tf_featuretest.pipeline.runner.run_pipeline`."""

    pipeline: str
    report_path: str | None
    results_path: str | None
    stages: tuple
    seconds: float

    @property
    def ok(self) -> bool:
        return all(s.status != "failed" for s in self.stages)

    def to_dict(self) -> dict:
        return {"pipeline": self.pipeline, "report": self.report_path, "results": self.results_path,
                "stages": [s.to_dict() for s in self.stages], "seconds": self.seconds, "ok": self.ok}


@dataclass
class RunContext:
    """State shared by the stages of one run (mutable on purpose: stages fill it in)."""

    config: object
    report_dir: str
    work_dir: str
    export_root: str
    retrain: bool = False
    quiet: bool = False
    data: dict = field(default_factory=dict)  # split -> (x, y); "info" -> DatasetInfo
    models: dict = field(default_factory=dict)  # classifier name -> keras model
    model_keys: dict = field(default_factory=dict)  # classifier name -> SHA-1 of its saved file
    histories: dict = field(default_factory=dict)
    artifacts: dict = field(default_factory=dict)  # e.g. vae, gan, centroids, separation
    results: dict = field(default_factory=dict)  # stage -> JSON-able results
    sections: list = field(default_factory=list)  # report Sections, in order

    def say(self, message: str):
        if not self.quiet:
            print(message, flush=True)

    def figure_path(self, stage: str, name: str) -> tuple:
        """``(absolute path, path relative to the report)`` for a figure of ``stage``."""
        rel = f"{stage}/{name}"
        path = os.path.join(self.report_dir, rel)
        makedirs(os.path.dirname(path))
        return path, rel

    def content_hash(self, *parts) -> str:
        """A short hash of the data fingerprint, the seed, the package version and ``parts``."""
        info = self.data["info"]
        text = json.dumps([info.fingerprint, self.config.seed, __version__, *parts], sort_keys=True, default=str)
        return hashlib.sha1(text.encode()).hexdigest()[:12]

    def subset(self, split: str, n: int | None) -> Subset:
        """The run's stratified, seeded subset of ``n`` images of ``split``: the same for every stage and model."""
        key = ("subset", split, n)
        if key not in self.artifacts:
            y = self.data[split][1]
            self.artifacts[key] = subset(y, n, split=split, seed=self.config.seed,
                                         num_classes=self.data["info"].num_classes)
        return self.artifacts[key]

    def first_model(self) -> tuple:
        """``(name, model)`` of the first classifier (the one the single-model stages use)."""
        return next(iter(self.models.items()))

    def progress_bar(self, label: str):
        """A ``callable(done, total)`` drawing a Keras progress bar (nothing when quiet)."""
        if self.quiet:
            return None
        state = {}

        def update(done, total):
            if "bar" not in state:
                print(label, flush=True)
                state["bar"] = keras.utils.Progbar(total, width=30, verbose=1)
            state["bar"].update(done)

        return update


def peak_rss_reset():
    """Reset the peak resident set size of this process (Linux; nothing elsewhere)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:  # "5" resets the peak resident set size (Linux)
            fh.write("5")
    except OSError:
        pass


def peak_rss_mb():
    """Peak resident set size of this process since the last reset, in MiB (None when unknown)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def versions() -> dict:
    """Versions of the package and of the libraries behind the numbers."""
    return {"tf_featuretest": __version__, "tensorflow": tf.__version__, "keras": keras.__version__,
            "numpy": np.__version__, "python": platform.python_version()}
