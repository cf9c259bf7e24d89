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
