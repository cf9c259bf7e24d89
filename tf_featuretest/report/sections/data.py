"""The data section: what the data set holds."""
from __future__ import annotations

from ..html import Section


def section(r: dict, figures) -> Section:
    """``r`` is ``results["data"]``: source, class_names, image_shape, counts, sizes, skipped_files."""
    sizes, counts, shape = r["sizes"], r["counts"], r["image_shape"]
    skipped = r["skipped_files"]
    reading = (f"The data set {r['source']!r} has {len(r['class_names'])} classes of {shape[0]}x{shape[1]} "
               f"images with {shape[2]} channel(s): {sizes['train']} for training, {sizes['validation']} "
               f"for validation and {sizes['test']} for testing. The smallest class has "
               f"{min(counts['train'])} training images and the largest {max(counts['train'])}"
               + (f"; {skipped} unreadable files were skipped." if skipped else "."))
    return Section("data", "Data", reading, figures=tuple(figures))
