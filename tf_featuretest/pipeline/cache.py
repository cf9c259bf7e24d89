"""The stage cache: a finished stage's results, report sections, figures and small artifacts, reused.

A stage's entry lives in ``runs/<pipeline>/stage-cache/<stage>-<key>/``, where the key hashes the
configuration, the data and the trained models. It holds ``state.json`` (results, sections and
artifacts, plain JSON: nothing is unpickled) and ``figures/``, and is written as one folder through
:func:`~tf_featuretest._util.io.atomic_dir`. An entry that cannot be read back (missing, truncated,
of another version) is ignored with a warning and the stage runs again.
"""
from __future__ import annotations

import os
import shutil
import warnings

from .._util.io import atomic_dir, read_json, write_json
from ..attacks.feature_space import ClassCentroids
from ..errors import first_line
from ..export.layout import is_complete
from ..report.html import Section

#: Stages whose results, report sections and figures are kept and reused when nothing changed.
CACHED_STAGES = ("evaluate", "attacks", "noise", "advgan", "feature", "lookalike", "saliency", "export")
#: The small artifacts later stages need, kept with the stage that makes them.
CACHED_ARTIFACTS = {"feature": ("separation_radius",), "lookalike": ("centroids",)}
FORMAT = 1


#: Artifacts of earlier stages a stage's output depends on: which of them exist is part of its key
#: (an export after ``--stages classifier,export`` has no VAE; one after a full run must not reuse it).
INPUT_ARTIFACTS = {"export": ("vae", "gan", "committee", "advgan_generator", "centroids", "separation_radius")}


def stage_key(ctx, name: str) -> str:
    """The content key of a stage: configuration (without stage selection), data, seed, models, inputs present."""
    cfg = ctx.config.to_dict()
    cfg.pop("stages", None)
    cfg.pop("source_file", None)
    present = [k for k in INPUT_ARTIFACTS.get(name, ()) if k in ctx.artifacts]
    return ctx.content_hash("stage", name, cfg, sorted(ctx.model_keys.items()), present)


def stage_dir(ctx, name: str, key: str) -> str:
    return os.path.join(ctx.work_dir, "stage-cache", f"{name}-{key}")


def _artifact_to_json(name, value):
    if isinstance(value, ClassCentroids):
        return {"type": "ClassCentroids", "value": value.to_dict()}
    return {"type": "float", "value": float(value)}


def _artifact_from_json(d):
    if d["type"] == "ClassCentroids":
        return ClassCentroids.from_dict(d["value"])
    if d["type"] == "float":
        return float(d["value"])
    raise ValueError(f"unknown artifact type {d['type']!r}")


def save_stage(ctx, name: str, key: str, sections) -> str:
    """Keep a finished stage (written as one folder, atomically); returns the entry's folder."""
    final = stage_dir(ctx, name, key)
    with atomic_dir(final) as tmp:
        figures = os.path.join(ctx.report_dir, name)
        if os.path.isdir(figures):
            shutil.copytree(figures, os.path.join(tmp, "figures"))
        state = {"format": FORMAT, "stage": name, "results": ctx.results.get(name),
                 "sections": [s.to_dict() for s in sections],
                 "artifacts": {k: _artifact_to_json(k, ctx.artifacts[k]) for k in CACHED_ARTIFACTS.get(name, ())
                               if k in ctx.artifacts}}
        write_json(os.path.join(tmp, "state.json"), state)
    return final


def load_stage(ctx, name: str, key: str) -> dict | None:
    """The kept state of a stage (``results``, ``sections``, ``artifacts``), or None to run it again.

    Copies the kept figures into the report folder. A broken entry gives a warning and None.
    """
    path = stage_dir(ctx, name, key)
    if not os.path.isfile(os.path.join(path, "state.json")):
        return None
    try:
        state = read_json(os.path.join(path, "state.json"), what="stage cache")
        if state.get("format") != FORMAT or state.get("stage") != name:
            raise ValueError(f"format {state.get('format')!r} of stage {state.get('stage')!r}")
        sections = [Section.from_dict(s) for s in state["sections"]]
        artifacts = {k: _artifact_from_json(v) for k, v in state["artifacts"].items()}
    except Exception as exc:  # any damage: recompute rather than fail the stage
        warnings.warn(f"ignoring the damaged stage cache {path} ({first_line(exc)}); running {name} again",
                      stacklevel=2)
        return None
    if name == "export" and not all(is_complete(a["path"]) for a in (state["results"] or {}).get("artifacts", ())):
        return None  # an export folder was removed or damaged since: export again
    figures = os.path.join(ctx.report_dir, name)
    shutil.rmtree(figures, ignore_errors=True)
    if os.path.isdir(os.path.join(path, "figures")):
        shutil.copytree(os.path.join(path, "figures"), figures)
    return {"results": state["results"], "sections": sections, "artifacts": artifacts, "path": path}
