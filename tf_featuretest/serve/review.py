"""Review routes: human verdicts on confirmed failures, stored in the latest report's ``reviews.json``.

- ``GET /v1/reviews``: the stored reviews and how the report's confirmed failures were reviewed.
- ``POST /v1/reviews``: a JSON body ``{"reviews": {case id: {"verdict": ...}}}`` (or ``{"case": id,
  "verdict": ...}``); verdicts are ``label right``, ``label wrong`` or ``unclear``. They are merged
  into ``reviews.json`` beside the report's ``results.json`` by case id (the newer one wins), and
  the file is replaced atomically (:func:`tf_featuretest.testgen.review.record_reviews`).
- ``GET /review``: the report's review block (``/report/#review``).

The report page served under ``/report/`` posts its buttons here.

Example:
    >>> register_review_routes(app, lambda: latest_report("reports"))  # doctest: +SKIP
"""
from __future__ import annotations

import json
import os

from fastapi import Body, HTTPException
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from ..errors import FeatureTestError
from ..testgen.review import load_reviews, record_reviews, review_counts, reviews_path

#: The largest review body accepted (bytes of JSON).
MAX_BODY = 256 * 1024
_BODY = Body(..., description='{"reviews": {case: {"verdict": ...}}} or {"case": id, "verdict": ...}')


def _failures(folder) -> list:
    path = os.path.join(folder, "results.json")
    if not os.path.isfile(path):
        return []
    try:
        with open(path, encoding="utf-8") as fh:
            results = json.load(fh)
    except (OSError, ValueError):
        return []
    return ((results.get("feature") or {}).get("review") or {}).get("cases") or []


def register_review_routes(app, report_folder):
    """Add the review routes to ``app``; ``report_folder()`` gives the latest report's folder or None."""

    def folder_or_404():
        folder = report_folder()
        if folder is None:
            raise HTTPException(404, "no report found to review")
        return folder

    @app.get("/v1/reviews", tags=["report"])
    async def get_reviews():
        """The stored reviews of the latest report and the counts over its confirmed failures."""
        folder = folder_or_404()
        try:
            reviews = await run_in_threadpool(load_reviews, reviews_path(folder))
        except FeatureTestError as exc:
            raise HTTPException(500, str(exc)) from None
        return {"file": reviews_path(folder), "reviews": reviews, "counts": review_counts(_failures(folder), reviews)}

    @app.post("/v1/reviews", tags=["report"])
    async def post_reviews(payload: dict = _BODY):
        """Merge verdicts into the latest report's reviews.json (by case id); answers the new counts."""
        folder = folder_or_404()
        if len(json.dumps(payload)) > MAX_BODY:
            raise HTTPException(413, f"review body over {MAX_BODY} bytes")
        if "case" in payload:
            payload = {str(payload["case"]): {k: v for k, v in payload.items() if k != "case"}}
        known = {f["case"] for f in _failures(folder)}
        updates = payload.get("reviews", payload) if isinstance(payload, dict) else payload
        unknown = sorted(set(updates) - known) if isinstance(updates, dict) and known else []
        if unknown:
            raise HTTPException(422, f"case {unknown[0]!r} is not a confirmed failure of the latest report")
        try:
            merged = await run_in_threadpool(record_reviews, reviews_path(folder), payload)
        except FeatureTestError as exc:
            raise HTTPException(422, str(exc)) from None
        return {"file": reviews_path(folder), "stored": len(merged), "counts": review_counts(_failures(folder), merged)}

    @app.get("/review", include_in_schema=False)
    async def review_page():
        folder_or_404()
        return RedirectResponse("/report/#review")

    return app
