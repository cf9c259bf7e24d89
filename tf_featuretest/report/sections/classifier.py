"""The classifier section: which models were trained, reused or given."""
from __future__ import annotations

from ..html import Section, Table


def section(r: dict, figures) -> Section:
    """``r`` is ``results["classifier"]``: per name, model, params, reused, epochs, adversarial."""
    rows, parts = [], []
    for n, v in r.items():
        rows.append((n, v["model"], v["adversarial"], v["params"], v["epochs"], "reused" if v["reused"] else "trained"))
        adv = f", adversarially trained with {v['adversarial'].upper()}" if v["adversarial"] != "none" else ""
        how = ("was reused from an earlier run with the same data and settings" if v["reused"]
               else f"was trained for {v['epochs']} epochs")
        parts.append(f"{n} ({v['model']}, {v['params']:,} parameters{adv}) {how}.")
    reading = "Each classifier maps images in [0, 1] to logits. " + " ".join(parts)
    return Section("classifier", "Classifiers", reading, figures=tuple(figures),
                   tables=(Table(("classifier", "architecture", "adversarial training", "parameters", "epochs",
                                  "source"), tuple(rows)),))
