"""The classifier section: which models were trained here, reused from an earlier run, or given by the user."""
from __future__ import annotations

from ..html import Section, Table


def _source(v: dict) -> str:
    """``trained``, ``reused`` or ``user`` (results written before ``source`` existed have only ``reused``)."""
    return v.get("source") or ("reused" if v.get("reused") else "trained")


def _epochs(n: int) -> str:
    return f"{n} epoch{'s' if n != 1 else ''}"


def _sentence(n: str, v: dict) -> str:
    adv = f", adversarially trained with {v['adversarial'].upper()}" if v.get("adversarial", "none") != "none" else ""
    source = _source(v)
    if source == "user":
        how = v.get("adaptation") or {}
        note = f" {how['note']}" if how.get("note") else ""
        return (f"{n} is your own model ({v['model']}, {v['params']:,} parameters), loaded from your file and not "
                f"trained here.{note}")
    what = f"{n} ({v['model']}, {v['params']:,} parameters{adv})"
    if source == "reused":
        return f"{what} was trained for {_epochs(v['epochs'])} by an earlier run with the same data and settings and is reused."
    return f"{what} was trained here for {_epochs(v['epochs'])}."


def section(r: dict, figures) -> Section:
    """``r`` is ``results["classifier"]``: per name, model, params, source, epochs, adversarial, adaptation."""
    rows, parts = [], []
    for n, v in r.items():
        source = _source(v)
        how = v.get("adaptation") or {}
        rng = {"0-255": "[0, 255], rescaled", "0-1": "[0, 1]"}.get(how.get("expects"), "[0, 1]")
        rows.append((n, v["model"], v.get("adversarial", "none"), v["params"],
                     None if source == "user" else v["epochs"],
                     {"user": "your file", "reused": "reused", "trained": "trained"}[source], rng))
        parts.append(_sentence(n, v))
    lead = ("The package feeds every classifier images with pixels in [0, 1] and reads its logits (the scores "
            "before any softmax).")
    return Section("classifier", "Classifiers", " ".join([lead] + parts), figures=tuple(figures),
                   tables=(Table(("classifier", "architecture", "adversarial training", "parameters", "epochs",
                                  "source", "input range"), tuple(rows)),))
