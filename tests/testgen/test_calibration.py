"""The case checker: in-distribution thresholds, and its calibration properties on digits."""
import numpy as np
import pytest

from tf_featuretest.errors import DataError
from tf_featuretest.testgen.calibration import TARGETS, calibrate, calibration_sets, draw_shapes
from tf_featuretest.testgen.distribution import DistributionCheck


class Scores:
    """A stand-in k-NN whose "distance" is the image mean."""

    def distances(self, images):
        return np.asarray(images, np.float64).reshape(len(images), -1).mean(axis=1)


def test_threshold_is_the_percentile_plus_slack():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(400, 4, 4, 1)).astype(np.float32)
    check = DistributionCheck.calibrate(x, knn=Scores(), percentile=99.0, slack=0.1)
    d = x.reshape(400, -1).mean(axis=1)
    lo, hi = np.percentile(d, [5, 95])
    assert check.thresholds["knn_distance"] == pytest.approx(np.percentile(d, 99.0) + 0.1 * (hi - lo))
    ok, scores = check.evaluate(x)
    np.testing.assert_array_equal(ok, d <= check.thresholds["knn_distance"])
    assert check.held_out["accepted"]["knn_distance"] == pytest.approx(ok.mean()) and ok.mean() >= 0.99
    assert not check.evaluate(np.ones((3, 4, 4, 1), np.float32))[0].any()
    with pytest.raises(DataError, match="at least 10"):
        DistributionCheck.calibrate(x[:5], knn=Scores())


def test_shapes_are_drawn_in_the_data_shape():
    gray = draw_shapes(8, (32, 32, 1), seed=0)
    rgb = draw_shapes(8, (20, 24, 3), seed=0)
    assert gray.shape == (8, 32, 32, 1) and rgb.shape == (8, 20, 24, 3)
    assert gray.min() >= 0 and gray.max() == 1 and all(0.01 < im.mean() < 0.6 for im in gray)
    np.testing.assert_array_equal(gray, draw_shapes(8, (32, 32, 1), seed=0))


def test_calibration_sets(digits):
    x, y = digits["test"]
    sets = calibration_sets(x, y, 10, seed=1)
    assert [k for k in sets] == [t[0] for t in TARGETS]
    _, wrong = sets["real images, a wrong label"]
    assert np.all(wrong != y) and wrong.min() >= 0 and wrong.max() <= 9
    blends, blend_labels = sets["50/50 blends of two classes"]
    assert len(blends) == len(blend_labels) and len(blends) > 0.8 * len(x)
    inverted, labels = sets["inverted images"]
    np.testing.assert_allclose(inverted, 1 - x)
    assert labels is None


def test_checker_meets_the_calibration_targets_on_digits(checker, digits):
    """Real images with their label accepted, wrong labels / noise / inverted / shapes rejected, blends flagged."""
    x, y = digits["test"]
    cal = calibrate(checker, x, y, seed=0)
    rates = {r.name: r.rate for r in cal.rows}
    assert rates["real images, true label"] >= 0.95
    assert rates["real images, a wrong label"] >= 0.95
    assert rates["uniform noise"] >= 0.95 and rates["inverted images"] >= 0.95
    assert rates["shapes (another data set)"] >= 0.95
    assert rates["50/50 blends of two classes"] >= 0.80
    assert cal.passed and cal.failed() == []
    # the rates are what the checker says, recomputed here
    c = checker.check(x, y)
    assert rates["real images, true label"] == pytest.approx(np.mean(c.in_distribution & c.kept))
    d = cal.to_dict()
    assert d["passed"] and len(d["rows"]) == 6 and "calibration set" in cal.table()


def test_a_checker_that_accepts_everything_fails_calibration(committee, digits):
    from tf_featuretest.testgen.checker import CaseChecker

    class Everything:
        def evaluate(self, images, batch_size=256):
            return np.ones(len(images), bool), {}

    class Yes:
        def __init__(self, k):
            self.num_classes, self.agree = k, 0.5

        def keeps(self, images, labels, batch_size=256):
            from tf_featuretest.testgen.judge import Verdicts, Votes

            n = len(labels)
            votes = Votes(("yes",), np.asarray(labels)[:, None], np.ones((n, 1), np.float32),
                          np.eye(self.num_classes, dtype=np.float32)[np.asarray(labels)][:, None, :])
            return Verdicts(np.zeros(n, np.int8), votes, np.ones((n, 1), np.float32))

        def votes(self, images, batch_size=256):
            return self.keeps(images, np.zeros(len(images), np.int64)).votes

    x, y = digits["test"]
    cal = calibrate(CaseChecker(Yes(10), Everything()), x, y)
    assert not cal.passed
    assert set(cal.failed()) == {t[0] for t in TARGETS[1:]}
