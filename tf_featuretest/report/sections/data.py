"""The data section: what the data set holds, and how its image size and channels were decided."""
from __future__ import annotations

from ..html import Section
from .common import plural as _plural


def section(r: dict, figures) -> Section:
    """``r`` is ``results["data"]``: source, class_names, image_shape, counts, sizes, skipped_files, shape."""
    sizes, counts, shape = r["sizes"], r["counts"], r["image_shape"]
    skipped = r["skipped_files"]
    k = len(r["class_names"])
    parts = [f"The data set {r['source']!r} has {_plural(k, 'class')} of {shape[0]}x{shape[1]} images with "
             f"{_plural(shape[2], 'channel')} ({'grayscale' if shape[2] == 1 else 'colour'}): "
             f"{sizes['train']:,} for training, {sizes['validation']:,} for validation and {sizes['test']:,} for "
             f"testing."]
    note = (r.get("shape") or {}).get("note")
    if note:
        parts.append(note)
    train = counts["train"]
    if k > 1:
        lo, hi = min(train), max(train)
        parts.append(f"Every class has {lo:,} training images." if lo == hi
                     else f"The smallest class has {lo:,} training images and the largest {hi:,}.")
    else:
        parts.append("With a single class every prediction is that class: accuracies here say nothing about "
                     "telling classes apart.")
    for split in ("validation", "test"):
        missing = [r["class_names"][i] for i, n in enumerate(counts[split]) if n == 0]
        if missing:
            shown = ", ".join(repr(str(m)) for m in missing[:5]) + (f" and {len(missing) - 5} more"
                                                                    if len(missing) > 5 else "")
            parts.append(f"The {split} split has no images of {_plural(len(missing), 'class')} ({shown}).")
    if skipped:
        parts.append(f"{_plural(skipped, 'unreadable file')} {'was' if skipped == 1 else 'were'} skipped.")
    return Section("data", "Data", " ".join(parts), figures=tuple(figures))
