"""Failure thresholds (bisection, bootstrap), ranking, corruption error and the full noise analysis."""
import json
import math

import numpy as np
import pytest

from tf_featuretest.errors import ConfigError
from tf_featuretest.evaluation import (
    SweepResult,
    bisect_threshold,
    corruption_error,
    curve_auc,
    curve_crossing,
    failure_threshold,
    noise_robustness,
    rank_noises,
    threshold_from_probes,
)


def test_bisection_finds_known_threshold_of_a_synthetic_accuracy():
    values, correct = bisect_threshold(lambda v: [1.0 - v], 0.3, tol=1e-3)
    t, lo, hi, level, reached = threshold_from_probes(values, correct, accuracy=0.3, bootstrap=0)
    assert abs(t - 0.7) < 1e-3 and level == 0.3 and reached == 1.0
    values, correct = bisect_threshold(lambda v: [0.9 if v < 0.37 else 0.1], 0.45, tol=1e-3)
    t = threshold_from_probes(values, correct, fraction=0.5, bootstrap=0)[0]
    assert 0.37 - 1e-3 <= t <= 0.37 + 1e-3
    assert len(values) < 11 + 12  # the grid plus about log2(0.1 / 1e-3) bisection steps


def test_bisection_takes_the_first_crossing_and_reports_unreached():
    dip = lambda v: [0.2 if 0.25 <= v <= 0.35 or v > 0.8 else 1.0]  # noqa: E731
    values, correct = bisect_threshold(dip, 0.5, tol=1e-3)
    t = threshold_from_probes(values, correct, accuracy=0.5, bootstrap=0)[0]
    assert 0.2 < t <= 0.25 + 1e-3
    values, correct = bisect_threshold(lambda v: [0.9], 0.5)
    assert threshold_from_probes(values, correct, accuracy=0.5, bootstrap=50)[:3] == (None, None, None)


def test_per_image_thresholds_and_bootstrap_interval():
    t_true = np.random.default_rng(0).uniform(0.2, 0.8, 400)
    values, correct = bisect_threshold(lambda v: t_true > v, 0.5, tol=1e-3)
    t, lo, hi, level, reached = threshold_from_probes(values, correct, accuracy=0.5, bootstrap=300, seed=1)
    assert abs(t - np.median(t_true)) < 0.01
    assert lo < t < hi and hi - lo < 0.15 and reached == 1.0
    again = threshold_from_probes(values, correct, accuracy=0.5, bootstrap=300, seed=1)
    assert again == (t, lo, hi, level, reached)
    half = threshold_from_probes(values, correct, fraction=0.5, bootstrap=0)
    assert half[3] == 0.5 * correct[0].mean()


def _sweep(name, acc, clean=None):
    vals = tuple(np.linspace(0, 1, len(acc)))
    return SweepResult(name=name, param="severity", values=vals, clean_accuracy=clean or acc[0], accuracy=tuple(acc),
                       success_rate=(0.0,) * len(acc), mean_linf=(0.0,) * len(acc), mean_l2=(0.0,) * len(acc),
                       per_class_accuracy=(), num_examples=10)


def test_corruption_error_and_ranking_on_synthetic_curves():
    a = _sweep("a", [1.0, 0.8, 0.4])
    b = _sweep("b", [1.0, 0.9, 0.9])
    base = _sweep("a", [0.9, 0.5, 0.3])
    assert curve_auc(a) == pytest.approx(0.75)
    assert corruption_error(a) == pytest.approx((0.4, 0.4))
    ce, rce = corruption_error(a, base)
    assert ce == pytest.approx(0.8 / 1.2) and rce == pytest.approx(0.8 / 1.0)
    with pytest.raises(ConfigError, match="severities"):
        corruption_error(a, _sweep("a", [1.0, 0.5]))

    class T:
        def __init__(self, t):
            self.threshold, self.ci_low, self.ci_high = t, t, t

    rows = rank_noises([b, a], [T(None), T(0.6)])
    assert [r.name for r in rows] == ["a", "b"]
    assert [(r.rank_auc, r.rank_threshold) for r in rows] == [(1, 1), (2, 2)]


def test_failure_threshold_on_the_digits_cnn(digits_cnn, digits):
    x, y = digits["test"]
    res = failure_threshold(digits_cnn, (x[:96], y[:96]), "rotation", tol=0.02, bootstrap=50, seed=0)
    assert res.name == "rotation" and res.criterion == "relative"
    assert res.level == pytest.approx(0.5 * res.clean_accuracy) and res.clean_accuracy > 0.9
    assert 0 < res.threshold < 1 and res.ci_low <= res.threshold <= res.ci_high
    acc = dict(zip(res.values, res.accuracy))
    assert all(a >= res.level for v, a in acc.items() if v < res.threshold - 1e-9)
    assert any(a < res.level for v, a in acc.items() if v <= res.threshold + res.tol)
    absolute = failure_threshold(digits_cnn, (x[:96], y[:96]), "rotation", accuracy=0.8, tol=0.02, bootstrap=0)
    assert absolute.criterion == "absolute" and absolute.threshold < res.threshold
    json.dumps(res.to_dict())
    with pytest.raises(ConfigError, match="fraction"):
        failure_threshold(digits_cnn, (x[:8], y[:8]), "rotation", fraction=0.0)


def test_noise_robustness_with_baseline(digits_cnn, digits, tmp_path):
    x, y = digits["test"]
    data = (x[:64], y[:64])
    res = noise_robustness(digits_cnn, data, "rotation,brightness", baseline=digits_cnn, severities=(0, 0.5, 1),
                           bootstrap=20, tol=0.05, model_name="cnn", baseline_name="same")
    assert [t.name for t in res.thresholds] == ["rotation", "brightness"]
    assert len(res.sweeps[0].accuracy) == 3 and len(res.baseline_sweeps) == 2
    assert [r.rank_auc for r in res.ranking] == [1, 2]
    for r in res.ranking:
        assert r.corruption_error == pytest.approx(1.0) and r.baseline_auc == pytest.approx(r.auc)
    assert res.mean_corruption_error == pytest.approx(1.0)
    d = json.loads(json.dumps(res.to_dict()))
    assert d["baseline"]["model"] == "same" and len(d["ranking"]) == 2
    table = res.table()
    assert "rotation" in table and "mCE vs same" in table

    from tf_featuretest.report.noise_plots import write_noise_plots

    paths = write_noise_plots(res, x[0], str(tmp_path))
    for p in paths.values():
        with open(p, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ConfigError, match="severities"):
        noise_robustness(digits_cnn, data, "rotation", severities=(0.5, 1))


def test_noise_cli(digits_cnn, tmp_path):
    from click.testing import CliRunner

    from tf_featuretest.cli import cli
    from tf_featuretest.models import save_model_atomic

    path = save_model_atomic(digits_cnn, str(tmp_path / "cnn.keras"))
    out = tmp_path / "noise"
    runner = CliRunner()
    res = runner.invoke(cli, ["noise", "--model", path, "--noises", "rotation,gaussian", "--severities", "0,0.5,1",
                              "--max-examples", "48", "--bootstrap", "10", "--tol", "0.05", "--baseline", path,
                              "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    assert "rotation" in res.output and "gaussian" in res.output and "mCE vs cnn" in res.output
    d = json.loads((out / "noise.json").read_text())
    assert [t["name"] for t in d["thresholds"]] == ["rotation", "gaussian"] and d["baseline"]["model"] == "cnn"
    assert {p.name for p in out.glob("*.png")} == {"noise_accuracy.png", "noise_grid.png", "noise_thresholds.png"}
    table = tmp_path / "preset"
    res = runner.invoke(cli, ["noise", "--model", path, "--preset", "cifar10-c", "--noises", "gaussian_noise,fog,patches",
                              "--max-examples", "30", "--baseline", path, "--out", str(table), "--quiet"])
    assert res.exit_code == 0, res.output
    assert "mCE 100.0%" in res.output and "2 of the 15 benchmark corruptions" in res.output  # fog, gaussian
    d = json.loads((table / "noise.json").read_text())["preset"]
    assert [r["name"] for r in d["rows"]] == ["gaussian_noise", "fog"] and d["benchmark_count"] == 2
    assert "not comparable" in res.output
    bad = runner.invoke(cli, ["noise", "--model", path, "--noises", "hail", "--out", str(out)])
    assert bad.exit_code == 2 and "hail" in bad.output


def test_with_baseline_equals_analysing_the_baseline_again(digits_cnn, digits):
    from tf_featuretest.evaluation import noise_robustness, with_baseline
    from tf_featuretest.models import build_classifier

    x, y = digits["test"]
    data = (x[:64], y[:64])
    weak = build_classifier("small_cnn", 10, x.shape[1:])  # untrained: a very different baseline
    kw = dict(severities=(0.0, 0.5, 1.0), bootstrap=20, seed=0)
    direct = noise_robustness(digits_cnn, data, ("gaussian", "black_rows"), baseline=weak, model_name="m",
                              baseline_name="weak", **kw)
    base = noise_robustness(weak, data, ("gaussian", "black_rows"), model_name="weak", **kw)
    alone = noise_robustness(digits_cnn, data, ("gaussian", "black_rows"), model_name="m", **kw)
    combined = with_baseline(alone, base)
    def numbers(tree):  # everything but wall-clock timings
        if isinstance(tree, dict):
            return {k: numbers(v) for k, v in tree.items() if k != "seconds"}
        return [numbers(v) for v in tree] if isinstance(tree, list) else tree

    assert numbers(combined.to_dict()) == numbers(direct.to_dict())
    assert combined.relative_mean_corruption_error != alone.relative_mean_corruption_error


def test_curve_crossing_interpolates_between_the_swept_values():
    assert curve_crossing([0.1, 0.2, 0.4], [0.9, 0.7, 0.3], 0.5) == pytest.approx(0.3)
    assert curve_crossing([0.1, 0.2], [0.4, 0.3], 0.5) == 0.1
    assert curve_crossing([0.1, 0.2], [0.9, 0.8], 0.5) == math.inf
