"""The export section: the SavedModels written for TF Serving."""
from __future__ import annotations

from ..html import Section, Table


def section(r: dict, *, root: str, pipeline: str) -> Section:
    """``r`` is ``results["export"]``: classifier and the written artifacts (``ExportResult.to_dict()``)."""
    rows = tuple((d["artifact"], d["version"], ", ".join(d["signatures"]), round(d["size_bytes"] / 1e6, 2),
                  round(d["variable_bytes"] / 1e6, 2), d["path"]) for d in r["artifacts"])
    reading = (f"{r['classifier']} and its generators were written as versioned SavedModels under {root}/{pipeline}/, "
               "the layout TF Serving loads (one folder per artifact, one integer folder per version). Each signature "
               "takes named inputs and returns named outputs; docs/serving.md shows a request for each.")
    return Section("export", "SavedModel export", reading, tables=(
        Table(("artifact", "version", "signatures", "size (MB)", "variables (MB)", "path"), rows),))
