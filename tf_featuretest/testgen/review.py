"""Human review of confirmed failures: ``reviews.json`` beside ``results.json``, merged by case id.

A confirmed failure (valid case, committee keeps the label, model wrong) is still a machine's
verdict. The report and the web page show each one with three buttons; a person's verdict is
stored here:

- ``label right``: the image shows its label, so the model's answer is a real failure
  (a *human-confirmed* failure);
- ``label wrong``: the image does not show its label (the checker was wrong);
- ``unclear``.

The file is ``{"format": 1, "reviews": {case id: {"verdict", "time", ...}}}``. It is never
written by a run, only by :func:`record_reviews` (the service's review route, or merging a file
the static report page downloaded); every write reads the current file, merges by case id (the
newer ``time`` wins) and replaces it atomically, so a rerun loses nothing. Case ids come from
where a case came from (:func:`~tf_featuretest.testgen.cases.case_id`), so the same seed gives the
same ids and old verdicts attach to the same cases.

Example:
    >>> record_reviews("reports/digits/reviews.json", {"3f2a...": "label right"})  # doctest: +SKIP
    >>> review_counts(failures, load_reviews("reports/digits/reviews.json"))  # doctest: +SKIP
"""
from __future__ import annotations

import os
import re
import threading
import time

from .._util.io import read_json, write_json
from ..errors import ConfigError, DataError

VERDICTS = ("label right", "label wrong", "unclear")
FORMAT = 1
FILENAME = "reviews.json"
_ID = re.compile(r"^[0-9a-f]{6,64}$")
_LOCK = threading.Lock()


def reviews_path(report_dir) -> str:
    """``<report_dir>/reviews.json``."""
    return os.path.join(os.fspath(report_dir), FILENAME)


def _check_entry(case, entry) -> dict:
    if not isinstance(case, str) or not _ID.match(case):
        raise ConfigError(f"case id must be 6-64 lowercase hex characters, got {case!r}")
    if isinstance(entry, str):
        entry = {"verdict": entry}
    if not isinstance(entry, dict):
        raise ConfigError(f"review of case {case} must be a verdict or an object, got {entry!r}")
    verdict = entry.get("verdict")
    if verdict not in VERDICTS:
        raise ConfigError(f"verdict must be one of {', '.join(VERDICTS)}, got {verdict!r}")
    out = {"verdict": verdict, "time": float(entry.get("time") or time.time())}
    for k in ("label", "predicted", "source", "note", "reviewer"):
        if entry.get(k) is not None:
            out[k] = entry[k] if isinstance(entry[k], (int, float)) else str(entry[k])[:500]
    return out


def parse_reviews(payload, what="reviews") -> dict:
    """``{case id: entry}`` from a reviews.json payload (or a bare ``{case: verdict}`` mapping)."""
    if isinstance(payload, dict) and "reviews" in payload:
        if payload.get("format", FORMAT) != FORMAT:
            raise DataError(f"{what} has format {payload.get('format')!r}, this version reads {FORMAT}")
        payload = payload["reviews"]
    if not isinstance(payload, dict):
        raise DataError(f"{what} must be an object of case id -> review, got {type(payload).__name__}")
    try:
        return {case: _check_entry(case, entry) for case, entry in payload.items()}
    except ConfigError as exc:
        raise DataError(f"{what}: {exc}") from None


def load_reviews(path) -> dict:
    """The reviews stored at ``path`` (``{}`` when there is no file yet)."""
    if not os.path.exists(path):
        return {}
    return parse_reviews(read_json(path, what="reviews file"), what=str(path))


def merge_reviews(old: dict, new: dict) -> dict:
    """``old`` updated by ``new``, case by case; the entry with the later ``time`` wins."""
    out = dict(old)
    for case, entry in new.items():
        if case not in out or entry["time"] >= out[case]["time"]:
            out[case] = entry
    return out


def record_reviews(path, updates) -> dict:
    """Merge ``updates`` (``{case: verdict or entry}`` or a reviews.json payload) into ``path``; return all reviews."""
    new = parse_reviews(updates, what="the new reviews")
    with _LOCK:
        merged = merge_reviews(load_reviews(path), new)
        write_json(path, {"format": FORMAT, "reviews": dict(sorted(merged.items()))}, indent=1)
    return merged


def review_counts(failures, reviews: dict) -> dict:
    """How the confirmed ``failures`` (dicts with ``case``) were reviewed.

    ``human_confirmed`` counts failures a person marked ``label right``.
    """
    counts = {v: 0 for v in VERDICTS}
    for f in failures:
        r = reviews.get(f["case"])
        if r is not None:
            counts[r["verdict"]] += 1
    reviewed = sum(counts.values())
    return {"failures": len(failures), "reviewed": reviewed, "unreviewed": len(failures) - reviewed,
            "human_confirmed": counts["label right"], "label_wrong": counts["label wrong"], "unclear": counts["unclear"],
            "stored_reviews": len(reviews)}
