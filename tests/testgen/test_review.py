"""reviews.json: verdicts merged by case id, never lost on rerun; counts over the confirmed failures."""
import json

import pytest

from tf_featuretest.errors import DataError
from tf_featuretest.testgen.review import load_reviews, merge_reviews, record_reviews, review_counts

A, B, C = "a1b2c3d4e5f60718", "0123456789abcdef", "fedcba9876543210"


def test_record_merges_by_case_id(tmp_path):
    path = tmp_path / "reviews.json"
    assert load_reviews(path) == {}
    record_reviews(path, {A: "label right"})
    record_reviews(path, {B: {"verdict": "unclear", "note": "blurry"}})
    got = load_reviews(path)
    assert {k: v["verdict"] for k, v in got.items()} == {A: "label right", B: "unclear"}
    assert got[B]["note"] == "blurry"
    # a later verdict on the same case replaces the earlier one; an older one does not
    record_reviews(path, {A: {"verdict": "label wrong", "time": got[A]["time"] + 1}})
    record_reviews(path, {A: {"verdict": "unclear", "time": got[A]["time"] - 100}})
    assert load_reviews(path)[A]["verdict"] == "label wrong"
    # a payload in the file's own format (what the report page downloads) merges too
    record_reviews(path, {"format": 1, "reviews": {C: {"verdict": "label right"}}})
    assert set(load_reviews(path)) == {A, B, C}
    assert json.loads(path.read_text())["format"] == 1


def test_reviews_survive_a_rerun(tmp_path, digits, feature_results):
    """A rerun of the feature stage reads reviews.json and never rewrites it; counts follow the case ids."""
    from tf_featuretest.pipeline.stages.feature import refresh_reviews
    from tf_featuretest.report.html import Section
    from tf_featuretest.report.sections.review import review_block

    path = tmp_path / "reviews.json"
    record_reviews(path, {A: "label right", B: "label wrong"})
    before = path.read_bytes()
    failures = [{"case": A}, {"case": B}, {"case": C}]

    class Ctx:
        report_dir = str(tmp_path)
        results = {"feature": None}
        sections = []

    block = review_block([({"case": A, "anchor": 3, "label": 1, "predicted": 2, "origin": "random", "votes": [1, 1],
                            "confidences": [0.9, 0.8]}, digits["test"][0][0], digits["test"][0][3])],
                         members=["cnn", "knn"], reviews={})
    r = feature_results()
    r["review"] = {"file": "reviews.json", "cases": failures, **review_counts(failures, {})}
    Ctx.results["feature"] = r
    Ctx.sections = [Section("feature", "Feature-level tests", "old", html=block)]
    refresh_reviews(Ctx)
    assert r["review"]["human_confirmed"] == 1 and r["review"]["label_wrong"] == 1 and r["review"]["unreviewed"] == 1
    sec = Ctx.sections[0]
    assert "1 human-confirmed" in sec.reading and A in sec.html
    assert json.loads(sec.html.split('id="review-initial">')[1].split("</script>")[0])[A]["verdict"] == "label right"
    assert path.read_bytes() == before  # reading never rewrites the file


def test_counts_and_bad_files(tmp_path):
    reviews = {A: {"verdict": "label right", "time": 1.0}, C: {"verdict": "unclear", "time": 1.0}}
    counts = review_counts([{"case": A}, {"case": B}], reviews)
    assert counts == {"failures": 2, "reviewed": 1, "unreviewed": 1, "human_confirmed": 1, "label_wrong": 0,
                      "unclear": 0, "stored_reviews": 2}
    assert merge_reviews({}, reviews) == reviews
    with pytest.raises(DataError, match="verdict must be one of"):
        record_reviews(tmp_path / "r.json", {A: "maybe"})
    with pytest.raises(DataError, match="case id"):
        record_reviews(tmp_path / "r.json", {"../etc": "unclear"})
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(DataError):
        load_reviews(tmp_path / "bad.json")
    assert not (tmp_path / "r.json").exists()  # nothing written on a bad request
