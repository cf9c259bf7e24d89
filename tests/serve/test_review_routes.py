"""Review routes: verdicts posted by the report page land in the latest report's reviews.json, merged."""
import json
import os

import pytest
from serve_helpers import make_export

A, B = "a1b2c3d4e5f60718", "0123456789abcdef"


@pytest.fixture(scope="module")
def backend(tmp_path_factory, digits, digits_cnn):
    from tf_featuretest.serve.backend import ExportBackend

    x, y = digits["train"]
    return ExportBackend(make_export(digits_cnn, x, y, tmp_path_factory.mktemp("exports")))


def _client(backend, reports):
    from fastapi.testclient import TestClient

    from tf_featuretest.serve.app import create_app

    return TestClient(create_app(backend=backend, reports_dir=str(reports), api_key=None))


def test_reviews_are_merged_into_the_latest_report(backend, tmp_path):
    report = tmp_path / "reports" / "digits"
    os.makedirs(report)
    (report / "index.html").write_text("<html></html>")
    failures = [{"case": A, "label": 1, "predicted": 2}, {"case": B, "label": 3, "predicted": 5}]
    (report / "results.json").write_text(json.dumps({"feature": {"review": {"cases": failures}}}))
    with _client(backend, tmp_path / "reports") as c:
        assert c.get("/v1/reviews").json()["counts"]["reviewed"] == 0
        r = c.post("/v1/reviews", json={"reviews": {A: {"verdict": "label right"}}})
        assert r.status_code == 200, r.text
        assert r.json()["counts"]["human_confirmed"] == 1
        r = c.post("/v1/reviews", json={"case": B, "verdict": "label wrong"})
        assert r.status_code == 200 and r.json()["counts"] == {
            "failures": 2, "reviewed": 2, "unreviewed": 0, "human_confirmed": 1, "label_wrong": 1, "unclear": 0,
            "stored_reviews": 2}
        stored = json.loads((report / "reviews.json").read_text())
        assert {k: v["verdict"] for k, v in stored["reviews"].items()} == {A: "label right", B: "label wrong"}
        # bad verdicts and unknown cases are refused; nothing stored changes
        assert c.post("/v1/reviews", json={"case": A, "verdict": "maybe"}).status_code == 422
        assert c.post("/v1/reviews", json={"case": "ffffffffffffffff", "verdict": "unclear"}).status_code == 422
        assert json.loads((report / "reviews.json").read_text()) == stored
        assert c.get("/review", follow_redirects=False).headers["location"] == "/report/#review"
        assert c.get("/report/reviews.json").status_code == 200


def test_no_report_to_review(backend, tmp_path):
    with _client(backend, tmp_path / "none") as c:
        assert c.get("/v1/reviews").status_code == 404
        assert c.post("/v1/reviews", json={"case": A, "verdict": "unclear"}).status_code == 404
