"""Number formatting shared by the section writers."""
from __future__ import annotations

from ..._util.io import nan_to_none


def pct(v) -> str:
    """``"97.8%"``; ``"n/a"`` for None or NaN."""
    v = nan_to_none(v)
    return "n/a" if v is None else f"{100 * v:.1f}%"


def interval(lo, hi):
    """``"0.120 to 0.180"``; an end that was not reached shows as ``"not reached"``; None when neither is known."""
    if lo is None and hi is None:
        return None
    return " to ".join("not reached" if v is None else f"{v:.3f}" for v in (lo, hi))


def plural(n: int, noun: str) -> str:
    """``"1 class"``, ``"3 classes"``, ``"2 images"``."""
    return f"{n:,} {noun if n == 1 else noun + ('es' if noun.endswith(('s', 'x')) else 's')}"


def share(rate, total: int, noun: str) -> str:
    """A success rate as a count that stays true at the ends.

    ``"none of the 16 images"``, ``"all of the 16 images"``, ``"4 (25.0%) of the 16 images"``,
    ``"the one image"``; a rate that could not be measured (None, NaN, no images) says so.
    """
    rate = nan_to_none(rate)
    if rate is None or not total:
        return f"no {noun} (nothing could be measured)"
    hits = round(rate * total)
    many = plural(total, noun).split(" ", 1)[1]
    if hits == 0:
        return f"none of the {total:,} {many}" if total > 1 else f"not the one {noun}"
    if hits == total:
        return f"all of the {total:,} {many}" if total > 1 else f"the one {noun}"
    return f"{hits:,} ({pct(rate)}) of the {total:,} {many}"
