"""``featuretest run``: the whole job, stage by stage, ending in the HTML report.

Stages run in order: data, classifier, evaluate, attacks, noise, advgan, feature, lookalike,
saliency, export, report. A stage that fails is recorded (its error shows in the report, the exit status is
non-zero) and later stages that do not need it still run; the report is always written. Trained
models are reused from an earlier run when the configuration and the data are unchanged (a content
hash in the file name), unless ``retrain``; finished stages are reused from the stage cache
(:mod:`.cache`).

One run at a time per ``runs/<name>/`` (a :class:`~tf_featuretest._util.locks.FolderLock`; a second
run fails at once with a one-line error naming the holder). Temporaries that a killed run left are
removed at start, this run's own at exit. The report is written into a staging copy and published
whole (:mod:`.staging`), so ``index.html``, ``results.json`` and the figures always belong to one run.
"""
from __future__ import annotations

import os
import sys
import time

import keras
import tensorflow as tf

from .._util.io import clean_leftovers, restore_previous
from .._util.locks import FolderLock
from ..config import PipelineConfig, load_config
from ..distribute.ray_sweep import RaySweepBackend
from ..errors import ConfigError
from ..evaluation.sweep import sweep_backend
from ..export.layout import NAME
from ..report.html import Section, write_report
from . import cache, models, staging
from .context import RunContext, RunResult, StageOutcome, peak_rss_mb, peak_rss_reset, versions
from .failure import describe_failure
from .stages import STAGE_FUNCS
from .stages.feature import refresh_reviews

STAGES = ("data", "classifier", "evaluate", "attacks", "noise", "advgan", "feature", "lookalike", "saliency", "export",
          "report")
TITLES = {"data": "Data", "classifier": "Classifiers", "evaluate": "Test accuracy", "attacks": "Adversarial attacks",
          "noise": "Noise robustness", "advgan": "Learned adversarial noise (AdvGAN)", "feature": "Feature-level tests",
          "lookalike": "Targeted look-alike images", "saliency": "Saliency maps", "export": "SavedModel export"}
NEEDS = {"classifier": ("data",), "evaluate": ("classifier",), "attacks": ("classifier",), "noise": ("classifier",),
         "advgan": ("classifier",),
         "feature": ("classifier",), "lookalike": ("classifier",), "saliency": ("classifier",),
         "export": ("classifier",), "report": ()}
#: Temporaries older than this (seconds) are removed at start even when their pid is alive (a reused pid).
LEFTOVER_AGE_S = 24 * 3600
#: How many frames of a failed stage's traceback results.json keeps.
TRACEBACK_FRAMES = 8


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
    cfg = config if isinstance(config, PipelineConfig) else load_config(config)
    wanted = parse_stages(stages or cfg.stages)
    if "classifier" in wanted:
        models.check_user_models(cfg)  # a model file that does not fit the data: one line, before any stage
    if not isinstance(cfg.name, str) or not NAME.match(cfg.name):  # a PipelineConfig built in code is unchecked
        raise ConfigError(f"pipeline name must be a folder name of letters, digits, '_', '-' and '.', got {cfg.name!r}")
    work_dir, final_report = os.path.join(runs_root, cfg.name), os.path.join(reports_root, cfg.name)
    lock = FolderLock(work_dir, what="featuretest run").acquire()  # one run per runs/<name>/ (exit 2 otherwise)
    try:
        folders = _clean_start(work_dir, final_report, os.path.join(export_root, cfg.name))
        started = time.time()
        ctx = RunContext(config=cfg, report_dir=staging.open_staging(final_report), work_dir=work_dir,
                         export_root=export_root, retrain=retrain, quiet=quiet)
        ctx.artifacts.update(report_final=final_report, run_started=started)  # where and since when to publish
        try:
            return _run_stages(ctx, cfg, wanted, retrain)
        finally:
            staging.discard(ctx.report_dir)
            for folder in folders:
                clean_leftovers(folder, own=True)
    finally:
        lock.release()


def _clean_start(*folders) -> tuple:
    """Remove temporaries a killed earlier run left in the run's folders (their writer is gone)."""
    for folder in folders:
        restore_previous(folder)
        clean_leftovers(folder, older_than=LEFTOVER_AGE_S)
        parent = os.path.dirname(os.path.abspath(folder))  # staging folders of killed runs sit beside it
        clean_leftovers(parent, older_than=LEFTOVER_AGE_S, recursive=False)
    return folders


def _run_stages(ctx, cfg, wanted, retrain) -> RunResult:
    tf.config.experimental.enable_op_determinism()
    outcomes, done, t_run = [], set(), time.perf_counter()
    for i, name in enumerate(wanted, start=1):
        missing = [d for d in NEEDS.get(name, ()) if d not in done]
        if missing:
            outcomes.append(StageOutcome(name, "skipped", 0.0, error=f"needs the {missing[0]} stage, which did not finish"))
            ctx.say(f"[{i}/{len(wanted)}] {name}: skipped (needs {missing[0]})")
            continue
        ctx.say(f"[{i}/{len(wanted)}] {name} ...")
        keras.utils.set_random_seed(cfg.seed + i)
        peak_rss_reset()
        t0 = time.perf_counter()
        reused = False
        try:
            if name == "report":
                _write_report(ctx, outcomes, time.perf_counter() - t_run)
            else:
                key = cache.stage_key(ctx, name) if name in cache.CACHED_STAGES else None
                reused = key is not None and not retrain and _reuse_stage(ctx, name, key)
                if not reused:
                    before = len(ctx.sections)
                    with sweep_backend(_sweep_backend(cfg, name)):
                        STAGE_FUNCS[name](ctx)
                    if key is not None:
                        cache.save_stage(ctx, name, key, ctx.sections[before:])
            done.add(name)
            status, err = "ok", None
        except Exception as exc:  # a failed stage is reported, and the run goes on
            failure = describe_failure(exc, limit=TRACEBACK_FRAMES)
            status, err = "failed", failure.summary()
            ctx.results.setdefault("errors", {})[name] = failure.traceback
            ctx.results.setdefault("failures", {})[name] = failure.to_dict()
            ctx.sections.append(Section(f"failed-{name}", TITLES.get(name, name), error=failure.details()))
            print(f"error: stage {name} failed: {failure.details()}", file=sys.stderr, flush=True)
        outcome = StageOutcome(name, status, time.perf_counter() - t0, peak_rss_mb(), err, reused)
        outcomes.append(outcome)
        ctx.say(f"      {status}{' (reused)' if reused else ''} in {outcome.seconds:.1f} s" + (f": {err}" if err else ""))
    seconds = time.perf_counter() - t_run
    report = os.path.join(ctx.artifacts["report_final"], "index.html")
    results = os.path.join(ctx.artifacts["report_final"], "results.json")
    return RunResult(pipeline=cfg.name, report_path=report if os.path.exists(report) else None,
                     results_path=results if os.path.exists(results) else None, stages=tuple(outcomes),
                     seconds=seconds)


#: Stages whose sweeps run on Ray when the pipeline sets ``ray``.
RAY_STAGES = ("attacks", "noise")


def _sweep_backend(cfg, name):
    """The sweep backend of stage ``name``: Ray for the sweep stages when ``ray`` is set, else this process."""
    return RaySweepBackend(cfg.ray, actors=cfg.ray_actors) if cfg.ray and name in RAY_STAGES else None


def _reuse_stage(ctx: RunContext, name: str, key: str) -> bool:
    """Restore a stage from the stage cache; False when there is nothing to reuse."""
    state = cache.load_stage(ctx, name, key)
    if state is None:
        return False
    ctx.results[name] = state["results"]
    ctx.sections.extend(state["sections"])
    ctx.artifacts.update(state["artifacts"])
    if name == "feature":  # later stages (export) need the generative models; they load from runs/
        ctx.artifacts["vae"] = models.generative(ctx, "vae")[0]
        ctx.artifacts["gan"] = models.generative(ctx, "gan")[0]
        refresh_reviews(ctx)  # reviews.json may have changed since the cached run: recount
    if name == "feature" or (name == "lookalike" and ctx.config.lookalike.judge):
        models.committee(ctx)  # the export stage ships the committee as the judge; members load from runs/
    if name == "advgan":  # the export stage signs the generator; it loads from runs/
        ctx.artifacts["advgan_generator"] = models.advgan_generator(ctx, "pixel")[0]
    ctx.say(f"      reusing results from {state['path']}")
    return True


def _write_report(ctx: RunContext, outcomes, seconds):
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
    write_report(ctx.report_dir, results, ctx.sections, title=f"tf-featuretest report: {cfg.name}", summary=summary)
    final = staging.publish(ctx.report_dir, ctx.artifacts["report_final"], since=ctx.artifacts["run_started"])
    ctx.say(f"      report: {os.path.join(final, 'index.html')}")
