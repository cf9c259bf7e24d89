"""The feature section's text stays true on edge inputs (nothing valid, all correct, r from test-train, ...)."""
import json
import re

import numpy as np

from tf_featuretest.report.html import Section, render_html
from tf_featuretest.report.sections.feature import reading, section
from tf_featuretest.report.sections.review import png_data_url, review_block


def test_default_reading(feature_results):
    text = reading(feature_results())
    assert "90 of 100 latent cases are valid (yield 90.0%). Of the 10 others, 6 are ambiguous" in text
    assert "cnn gets 90.0% of the valid cases right: 9 confirmed failures" in text
    assert "2 wrong answers on ambiguous cases do not count" in text
    assert "6 of 6 targets met" in text and "real images with their true label are accepted 97.0%" in text
    assert "random 2 (120 per minute), gradient 8 (480 per minute)" in text
    assert "n/a" not in text and "nan" not in text.lower()


def test_r_is_attributed_to_the_distance_it_came_from(feature_results):
    r = feature_results()
    text = reading(r)
    # pixel: train-train 0.4375 < test-train 0.5 -> train-train; latent: test-train 0.6 < 1.0 -> test-train
    assert "r = 0.2188, half of the closest pair of training images of different classes (0.438)" in text
    assert "r = 0.3000, half of the closest test image to a training image of another class (0.600)" in text


def test_nothing_valid_says_nothing_about_accuracy(feature_results):
    text = reading(feature_results(valid=0, confirmed=0, per=[0] * 10, wrong_amb=0))
    assert "0 of 100 latent cases are valid (yield 0.0%)" in text
    assert "With no valid case, nothing is said about cnn's accuracy" in text
    assert "n/a" not in text and "cnn gets" not in text and "per class range" not in text


def test_no_cases_at_all(feature_results):
    r = feature_results(n=0, valid=0, confirmed=0, per=[0] * 10, ambiguous=0, wrong_amb=0)
    r["search"] = []
    text = reading(r)
    assert "No latent cases were generated" in text and "Searching" not in text


def test_all_correct_and_one_failure(feature_results):
    text = reading(feature_results(acc=1.0, confirmed=0, wrong_amb=0))
    assert "gets 100.0% of the valid cases right: 0 confirmed failures." in text
    assert "do not count" not in text
    assert "1 confirmed failure;" in reading(feature_results(confirmed=1))


def test_missed_calibration_and_health_warning(feature_results):
    r = feature_results()
    r["calibration"]["rows"][5].update(rate=0.7, passed=False)
    r["calibration"]["failed"] = ["50/50 blends of two classes"]
    r["warnings"] = ["vae: reconstruction error 0.04 is 90% of the mean-image baseline"]
    sec = section(r, [])
    assert "5 of 6 targets met" in sec.reading and "missed: 50/50 blends of two classes" in sec.reading
    page = render_html([sec])
    first = page.index('class="warning"')
    assert first < page.index('class="reading"') and "90% of the mean-image baseline" in page


def test_reviews_counted_in_text(feature_results):
    r = feature_results()
    r["review"].update(reviewed=3, human_confirmed=2, label_wrong=1)
    assert "All 9 confirmed failures are shown below for review; 3 have a human verdict in reviews.json: " \
           "2 human-confirmed (label right), 1 label wrong, 0 unclear." in reading(r)
    r["review"].update(total_confirmed=140)
    assert "9 of the 140 confirmed failures (one per anchor in turn) are shown below" in reading(r)
    r["review"].update(failures=0)
    assert "There is no confirmed failure to review." in reading(r)


def test_section_survives_the_stage_cache(feature_results):
    img = np.random.default_rng(0).uniform(size=(8, 8, 1)).astype(np.float32)
    f = {"case": "0123456789abcdef", "anchor": 4, "label": 3, "predicted": 5, "origin": "gradient",
         "votes": [3, 3], "confidences": [0.91, 0.8]}
    sec = section(feature_results(), [], review_cases=[(f, img, img)], class_names=[str(i) for i in range(10)],
                  reviews={f["case"]: {"verdict": "unclear", "time": 1.0}})
    back = Section.from_dict(json.loads(json.dumps(sec.to_dict())))
    assert back == sec
    html = back.html
    assert html.count('data-verdict="') == 3 and 'data-case="0123456789abcdef"' in html
    assert "cnn: 3 (0.91), knn: 3 (0.80)" in html and "model says <b>5</b>" in html
    initial = re.search(r'id="review-initial">(.*?)</script>', html).group(1)
    assert json.loads(initial)["0123456789abcdef"]["verdict"] == "unclear"


def test_review_block_escapes_and_png():
    img = np.zeros((4, 4, 3), np.float32)
    f = {"case": "0123456789abcdef", "anchor": -1, "label": 0, "predicted": 1, "origin": "dcgan", "votes": [0],
         "confidences": [1.0]}
    html = review_block([(f, img, None)], members=["<b>x</b>"], class_names=["<cat>", "dog"],
                        reviews={"0123456789abcdef": {"verdict": "unclear", "note": "</script><script>"}})
    assert "<cat>" not in html and "&lt;cat&gt;" in html and "&lt;b&gt;x" in html
    assert "</script><script>" not in html.split('id="review-initial">')[1].split("</script>")[0]
    assert "anchor #" not in html  # DCGAN cases have no anchor
    assert png_data_url(img).startswith("data:image/png;base64,")
    assert review_block([], members=["a"]) == ""
