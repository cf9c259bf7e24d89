"""``featuretest run``: the whole job, stage by stage, ending in the HTML report.

Stages run in order: data, classifier, evaluate, attacks, noise, feature, lookalike, saliency,
export, report. A stage that fails is recorded (its error shows in the report, the exit status is
non-zero) and later stages that do not need it still run; the report is always written. Trained
models are reused from an earlier run when the configuration and the data are unchanged (a content
hash in the file name), unless ``retrain``; finished stages are reused from the stage cache
(:mod:`.cache`).
"""
from __future__ import annotations

import os
import time
import traceback

import keras
import tensorflow as tf

from ..config import PipelineConfig, load_config
from ..errors import ConfigError, first_line
from ..report.html import Section, write_report
from . import cache, models
from .context import RunContext, RunResult, StageOutcome, peak_rss_mb, peak_rss_reset, versions
from .stages import STAGE_FUNCS

STAGES = ("data", "classifier", "evaluate", "attacks", "noise", "feature", "lookalike", "saliency", "export",
          "report")
TITLES = {"data": "Data", "classifier": "Classifiers", "evaluate": "Test accuracy", "attacks": "Adversarial attacks",
          "noise": "Noise robustness", "feature": "Feature-level tests", "lookalike": "Targeted look-alike images",
          "saliency": "Saliency maps", "export": "SavedModel export"}
NEEDS = {"classifier": ("data",), "evaluate": ("classifier",), "attacks": ("classifier",), "noise": ("classifier",),
         "feature": ("classifier",), "lookalike": ("classifier",), "saliency": ("classifier",),
         "export": ("classifier",), "report": ()}
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
    ctx = RunContext(config=cfg, report_dir=os.path.join(reports_root, cfg.name),
                     work_dir=os.path.join(runs_root, cfg.name), export_root=export_root, retrain=retrain, quiet=quiet)
    os.makedirs(ctx.report_dir, exist_ok=True)
    os.makedirs(ctx.work_dir, exist_ok=True)
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
                    STAGE_FUNCS[name](ctx)
                    if key is not None:
                        cache.save_stage(ctx, name, key, ctx.sections[before:])
            done.add(name)
            status, err = "ok", None
        except Exception as exc:  # a failed stage is reported, and the run goes on
            status, err = "failed", f"{type(exc).__name__}: {first_line(exc) if str(exc).strip() else ''}"
            ctx.results.setdefault("errors", {})[name] = traceback.format_exc(limit=TRACEBACK_FRAMES)
            ctx.sections.append(Section(f"failed-{name}", TITLES.get(name, name), error=err))
        outcome = StageOutcome(name, status, time.perf_counter() - t0, peak_rss_mb(), err, reused)
        outcomes.append(outcome)
        ctx.say(f"      {status}{' (reused)' if reused else ''} in {outcome.seconds:.1f} s" + (f": {err}" if err else ""))
    seconds = time.perf_counter() - t_run
    report = os.path.join(ctx.report_dir, "index.html")
    results = os.path.join(ctx.report_dir, "results.json")
    return RunResult(pipeline=cfg.name, report_path=report if os.path.exists(report) else None,
                     results_path=results if os.path.exists(results) else None, stages=tuple(outcomes),
                     seconds=seconds)


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
    path = write_report(ctx.report_dir, results, ctx.sections, title=f"tf-featuretest report: {cfg.name}",
                        summary=summary)
    ctx.say(f"      report: {path}")
