"""``featuretest run``: the whole job, stage by stage, ending in the HTML report.

Stages run in order: data, classifier, evaluate, attacks, noise, feature, lookalike, saliency,
export, report. A stage that fails is recorded (its error shows in the report, the exit status is
non-zero) and later stages that do not need it still run; the report is always written. Trained
models are reused from an earlier run when the configuration and the data are unchanged (a content
hash in the file name), unless ``retrain``.
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import platform
import shutil
import time
import traceback
from dataclasses import dataclass, field

from .errors import ConfigError

STAGES = ("data", "classifier", "evaluate", "attacks", "noise", "feature", "lookalike", "saliency", "export",
          "report")
TITLES = {"data": "Data", "classifier": "Classifiers", "evaluate": "Test accuracy", "attacks": "Adversarial attacks",
          "noise": "Noise robustness", "feature": "Feature-level tests", "lookalike": "Targeted look-alike images",
          "saliency": "Saliency maps", "export": "SavedModel export"}
NEEDS = {"classifier": ("data",), "evaluate": ("classifier",), "attacks": ("classifier",), "noise": ("classifier",),
         "feature": ("classifier",), "lookalike": ("classifier",), "saliency": ("classifier",),
         "export": ("classifier",), "report": ()}


# Stages whose results, report sections and figures are kept in runs/<name>/stage-cache and reused when
# the configuration, the data and the trained models are unchanged; the small artifacts later stages
# need are kept with them.
CACHED_STAGES = ("evaluate", "attacks", "noise", "feature", "lookalike", "saliency", "export")
CACHED_ARTIFACTS = {"feature": ("separation_radius",), "lookalike": ("centroids",)}


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
    """The outcome of :func:`run_pipeline`."""

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
        os.makedirs(os.path.dirname(path), exist_ok=True)
        return path, rel

    def content_hash(self, *parts) -> str:
        """A short hash of the data fingerprint, the seed, the package version and ``parts``."""
        from . import __version__

        info = self.data["info"]
        text = json.dumps([info.fingerprint, self.config.seed, __version__, *parts], sort_keys=True, default=str)
        return hashlib.sha1(text.encode()).hexdigest()[:12]

    def progress_bar(self, label: str):
        """A ``callable(done, total)`` drawing a Keras progress bar (nothing when quiet)."""
        if self.quiet:
            return None
        import keras

        state = {}

        def update(done, total):
            if "bar" not in state:
                print(label, flush=True)
                state["bar"] = keras.utils.Progbar(total, width=30, verbose=1)
            state["bar"].update(done)

        return update


def _peak_rss_reset():
    try:
        with open("/proc/self/clear_refs", "w") as fh:  # "5" resets the peak resident set size (Linux)
            fh.write("5")
    except OSError:
        pass


def _peak_rss_mb():
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def parse_stages(stages) -> tuple:
    """``"data,attacks"`` or a sequence -> the stages to run, in order, with the stages they need.

    The report is always included; ``attacks`` brings ``data`` and ``classifier`` along.
    """
    if stages in (None, "", ()):
        return STAGES
    names = [s.strip() for s in (stages.split(",") if isinstance(stages, str) else stages) if s.strip()]
    unknown = [s for s in names if s not in STAGES]
    if unknown:
        raise ConfigError(f"unknown stage {unknown[0]!r}; stages are {', '.join(STAGES)}")
    wanted, todo = set(), list(names) + ["report"]
    while todo:  # a stage brings the stages it needs
        stage = todo.pop()
        if stage not in wanted:
            wanted.add(stage)
            todo.extend(NEEDS.get(stage, ()))
    return tuple(s for s in STAGES if s in wanted)


def versions() -> dict:
    import keras
    import numpy
    import tensorflow as tf

    from . import __version__

    return {"tf_featuretest": __version__, "tensorflow": tf.__version__, "keras": keras.__version__,
            "numpy": numpy.__version__, "python": platform.python_version()}


def run_pipeline(config=None, *, stages=None, retrain=False, quiet=False, reports_root="reports", runs_root="runs",
                 export_root="saved_models") -> RunResult:
    """Run a pipeline configuration end to end and write its report.

    Args:
        config: a :class:`~tf_featuretest.config.PipelineConfig`, a TOML path, or None for the built-in digits.
        stages: a subset of :data:`STAGES` (comma-separated string or sequence); the report is always written.
        retrain: train models even when an earlier run left matching ones.
        quiet: no progress output.
        reports_root, runs_root, export_root: where the report, trained models and exports go; each
            gets a ``<pipeline name>`` subfolder.

    Returns:
        A :class:`RunResult`; ``ok`` is False when a stage failed.

    Example:
        >>> result = run_pipeline(stages="data,classifier,evaluate")  # doctest: +SKIP
        >>> result.report_path
        'reports/digits/index.html'
    """
    import keras
    import tensorflow as tf

    from . import stages_feature, stages_pixel
    from .config import PipelineConfig, load_config

    cfg = config if isinstance(config, PipelineConfig) else load_config(config)
    wanted = parse_stages(stages or cfg.stages)
    ctx = RunContext(config=cfg, report_dir=os.path.join(reports_root, cfg.name),
                     work_dir=os.path.join(runs_root, cfg.name), export_root=export_root, retrain=retrain, quiet=quiet)
    os.makedirs(ctx.report_dir, exist_ok=True)
    os.makedirs(ctx.work_dir, exist_ok=True)
    tf.config.experimental.enable_op_determinism()
    funcs = {**stages_pixel.STAGE_FUNCS, **stages_feature.STAGE_FUNCS}
    outcomes, done, t_run = [], set(), time.perf_counter()
    for i, name in enumerate(wanted, start=1):
        missing = [d for d in NEEDS.get(name, ()) if d not in done]
        if missing:
            outcomes.append(StageOutcome(name, "skipped", 0.0, error=f"needs the {missing[0]} stage, which did not finish"))
            ctx.say(f"[{i}/{len(wanted)}] {name}: skipped (needs {missing[0]})")
            continue
        ctx.say(f"[{i}/{len(wanted)}] {name} ...")
        keras.utils.set_random_seed(cfg.seed + i)
        _peak_rss_reset()
        t0 = time.perf_counter()
        reused = False
        try:
            if name == "report":
                _write_report(ctx, outcomes, time.perf_counter() - t_run)
            else:
                key = _stage_key(ctx, name) if name in CACHED_STAGES else None
                reused = key is not None and not retrain and _load_stage(ctx, name, key)
                if not reused:
                    before = len(ctx.sections)
                    funcs[name](ctx)
                    if key is not None:
                        _save_stage(ctx, name, key, ctx.sections[before:])
            done.add(name)
            status, err = "ok", None
        except Exception as exc:  # a failed stage is reported, and the run goes on
            status, err = "failed", f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            ctx.results.setdefault("errors", {})[name] = traceback.format_exc(limit=8)
            from .report.html import Section

            ctx.sections.append(Section(f"failed-{name}", TITLES.get(name, name), error=err))
        outcome = StageOutcome(name, status, time.perf_counter() - t0, _peak_rss_mb(), err, reused)
        outcomes.append(outcome)
        ctx.say(f"      {status}{' (reused)' if reused else ''} in {outcome.seconds:.1f} s" + (f": {err}" if err else ""))
    seconds = time.perf_counter() - t_run
    report = os.path.join(ctx.report_dir, "index.html")
    results = os.path.join(ctx.report_dir, "results.json")
    return RunResult(pipeline=cfg.name, report_path=report if os.path.exists(report) else None,
                     results_path=results if os.path.exists(results) else None, stages=tuple(outcomes),
                     seconds=seconds)


def _stage_key(ctx: RunContext, name: str) -> str:
    cfg = ctx.config.to_dict()
    cfg.pop("stages", None)
    cfg.pop("source_file", None)
    return ctx.content_hash("stage", name, cfg, sorted(ctx.model_keys.items()))


def _stage_dir(ctx: RunContext, name: str, key: str) -> str:
    return os.path.join(ctx.work_dir, "stage-cache", f"{name}-{key}")


def _save_stage(ctx: RunContext, name: str, key: str, sections) -> None:
    """Keep a finished stage's results, sections, figures and small artifacts (written atomically)."""
    final = _stage_dir(ctx, name, key)
    tmp = f"{final}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    figures = os.path.join(ctx.report_dir, name)
    if os.path.isdir(figures):
        shutil.copytree(figures, os.path.join(tmp, "figures"))
    state = {"results": ctx.results.get(name), "sections": list(sections),
             "artifacts": {k: ctx.artifacts[k] for k in CACHED_ARTIFACTS.get(name, ()) if k in ctx.artifacts}}
    with open(os.path.join(tmp, "state.pkl"), "wb") as fh:
        pickle.dump(state, fh)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)


def _load_stage(ctx: RunContext, name: str, key: str) -> bool:
    """Restore a stage kept by :func:`_save_stage`; False when there is none (or its exports are gone)."""
    path = _stage_dir(ctx, name, key)
    try:
        with open(os.path.join(path, "state.pkl"), "rb") as fh:
            state = pickle.load(fh)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError):
        return False
    if name == "export" and not all(os.path.isdir(a["path"]) for a in state["results"]["artifacts"]):
        return False
    figures = os.path.join(ctx.report_dir, name)
    shutil.rmtree(figures, ignore_errors=True)
    if os.path.isdir(os.path.join(path, "figures")):
        shutil.copytree(os.path.join(path, "figures"), figures)
    ctx.results[name] = state["results"]
    ctx.sections.extend(state["sections"])
    ctx.artifacts.update(state["artifacts"])
    if name == "feature":  # later stages (export) need the generative models; they load from runs/
        from .stages_feature import _generative

        ctx.artifacts["vae"] = _generative(ctx, "vae")[0]
        ctx.artifacts["gan"] = _generative(ctx, "gan")[0]
    ctx.say(f"      reusing results from {path}")
    return True


def _write_report(ctx: RunContext, outcomes, seconds):
    from .report.html import write_report

    cfg = ctx.config
    results = {"pipeline": cfg.name, "seed": cfg.seed, "config": cfg.to_dict(), "versions": versions(),
               "stages": [o.to_dict() for o in outcomes], **ctx.results}
    summary = {"pipeline": cfg.name, "data": cfg.data.source,
               "classifiers": ", ".join(c.name for c in cfg.classifiers)}
    ev = ctx.results.get("evaluate", {})
    for name, rep in ev.get("classifiers", {}).items():
        summary[f"{name} test top-1"] = f"{rep['accuracy']:.4f}"
    failed = [o.name for o in outcomes if o.status == "failed"]
    summary["stages"] = f"{len(outcomes) - len(failed)} finished" + (f", failed: {', '.join(failed)}" if failed else "")
    path = write_report(ctx.report_dir, results, ctx.sections, title=f"tf-featuretest report: {cfg.name}",
                        summary=summary)
    ctx.say(f"      report: {path}")
