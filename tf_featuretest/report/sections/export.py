"""The export section: the SavedModels written for TF Serving."""
from __future__ import annotations

from ..html import Section, Table

#: How each artifact is named in the section's sentence.
WHAT = {"classifier": "the classifier", "attacks": "its attacks", "vae": "the VAE", "generator": "the DCGAN generator",
        "judge": "the label committee (with a few test images)"}


def _join(items) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def section(r: dict, *, root: str, pipeline: str) -> Section:
    """``r`` is ``results["export"]``: classifier and the written artifacts (``ExportResult.to_dict()``)."""
    arts = r["artifacts"]
    rows = tuple((d["artifact"], d["version"], ", ".join(d["signatures"]), round(d["size_bytes"] / 1e6, 2),
                  round(d["variable_bytes"] / 1e6, 2), d["path"]) for d in arts)
    if not arts:
        reading = f"Nothing was exported for {r['classifier']}."
    else:
        names = [WHAT.get(d["artifact"], d["artifact"]) for d in arts]
        count = "One versioned SavedModel was" if len(arts) == 1 else f"{len(arts)} versioned SavedModels were"
        reading = (f"{count} written for {r['classifier']} under {root}/{pipeline}/: {_join(names)}, in the layout "
                   "TF Serving loads (one folder per artifact, one integer folder per version). Each signature takes "
                   "named inputs and returns named outputs; docs/serving.md shows a request for each.")
    return Section("export", "SavedModel export", reading, tables=(
        Table(("artifact", "version", "signatures", "size (MB)", "variables (MB)", "path"), rows),))
