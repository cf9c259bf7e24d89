"""The noise section's text and tables on edge inputs: no baseline, undefined CE, frost skipped, partial mCE."""
from tf_featuretest.report.sections.noise import section


def _robustness(model, baseline=None, threshold=0.4):
    rank = {"rank_auc": 1, "name": "fog", "auc": 0.8, "threshold": threshold, "ci_low": None if threshold is None else 0.3,
            "ci_high": None if threshold is None else 0.5, "corruption_error": -0.01 if baseline is None else 0.9,
            "relative_corruption_error": -0.02 if baseline is None else 1.2}
    return {"model": model, "ranking": [rank], "thresholds": [{"name": "fog", "threshold": threshold}],
            "mean_corruption_error": 0.9, "relative_mean_corruption_error": 1.2,
            "baseline": None if baseline is None else {"model": baseline}}


def _preset(model, baseline=None, mce=None, rmce=None, count=15, skipped=()):
    return {"model": model, "preset": "cifar10-c", "clean_error": 0.05, "mean_error": 0.2, "benchmark_count": count,
            "mce": mce, "relative_mce": rmce, "baseline": baseline, "baseline_clean_error": 0.1,
            "rows": [{"name": "fog", "errors": [0.1, 0.2, 0.3, 0.4, 0.5], "mean_error": 0.3, "ce": mce,
                      "relative_ce": rmce}], "skipped": list(skipped)}


def test_absolute_columns_without_a_baseline_and_unreached_thresholds_explained():
    s = section({"classifiers": {"cnn": _robustness("cnn", threshold=None)}}, [], severities=11, baseline=None,
                coverage="all 10 images")
    cols = s.tables[0].columns
    assert "mean error" in cols and "error increase over clean" in cols and not any("CE" in c for c in cols)
    assert s.tables[0].rows[0][3] == "not reached" and s.tables[0].rows[0][4] is None
    assert '"not reached" means' in s.reading and "negative where a noise happens to help" in s.reading
    assert "Against" not in s.reading


def test_baseline_columns_named_and_the_preset_table_with_undefined_and_partial_mce():
    results = {"classifiers": {"base": _robustness("base"), "cnn": _robustness("cnn", "base")},
               "preset": {"preset": "cifar10-c", "classifiers": {
                   "base": _preset("base", count=14, skipped=[{"name": "frost", "reason": "not installed"}]),
                   "cnn": _preset("cnn", "base", mce=0.8, rmce=None, count=14,
                                  skipped=[{"name": "frost", "reason": "not installed"}])}}}
    s = section(results, [], severities=11, baseline="base", coverage="all 10 images")
    assert "CE vs base" in s.tables[1].columns and "relative CE vs base" in s.tables[1].columns
    assert "mean error" in s.tables[0].columns  # the baseline itself has no ratio
    assert "cnn: mCE 80.0%, relative mCE undefined" in s.reading
    assert "14 of the 15 benchmark corruptions, so not comparable" in s.reading
    assert "base: mean error 20.0%" in s.reading and "frost was skipped: not installed." in s.reading
    assert len(s.tables) == 4 and s.tables[3].columns[-1] == "relative CE vs base"
    assert s.tables[2].rows[0][1:6] == (10.0, 20.0, 30.0, 40.0, 50.0)
