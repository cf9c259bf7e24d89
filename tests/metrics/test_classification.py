"""Classification metrics agree with scikit-learn number for number."""
import numpy as np
import pytest
from sklearn.metrics import classification_report as sk_report
from sklearn.metrics import confusion_matrix as sk_confusion
from sklearn.metrics import top_k_accuracy_score

from tf_featuretest.errors import DataError
from tf_featuretest.metrics import classification_report, confusion_matrix, top_k_accuracy


@pytest.mark.parametrize("seed,n,c", [(0, 200, 5), (1, 57, 10), (2, 30, 7)])
def test_report_equals_sklearn(seed, n, c):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    scores = rng.normal(size=(n, c)) + 2.0 * np.eye(c)[y] * rng.random((n, 1))
    if c == 7:
        y[y == 3] = 4  # a class with no support, and precision 0/0 cases
    ours = classification_report(y, scores, [f"c{i}" for i in range(c)], ks=(1, 3, 5))
    ref = sk_report(y, scores.argmax(1), labels=list(range(c)), output_dict=True, zero_division=0)
    for i in range(c):
        assert ours.precision[i] == pytest.approx(ref[str(i)]["precision"], abs=1e-12)
        assert ours.recall[i] == pytest.approx(ref[str(i)]["recall"], abs=1e-12)
        assert ours.f1[i] == pytest.approx(ref[str(i)]["f1-score"], abs=1e-12)
        assert ours.support[i] == ref[str(i)]["support"]
    for avg, key in ((ours.macro, "macro avg"), (ours.weighted, "weighted avg")):
        assert avg["precision"] == pytest.approx(ref[key]["precision"], abs=1e-12)
        assert avg["recall"] == pytest.approx(ref[key]["recall"], abs=1e-12)
        assert avg["f1"] == pytest.approx(ref[key]["f1-score"], abs=1e-12)
    assert ours.accuracy == pytest.approx((scores.argmax(1) == y).mean())
    for k in (3, 5):
        assert ours.top_k[k] == pytest.approx(top_k_accuracy_score(y, scores, k=k, labels=list(range(c))))
    np.testing.assert_array_equal(np.array(ours.confusion), sk_confusion(y, scores.argmax(1), labels=list(range(c))))
    cm = np.array(ours.confusion)
    fp = cm.sum(0) - np.diag(cm)
    np.testing.assert_allclose(ours.fpr, fp / (n - cm.sum(1)))
    assert "macro avg" in ours.format() and "c0" in ours.format()


def test_predicted_labels_and_errors():
    rep = classification_report([0, 1, 1], [0, 1, 0], ["a", "b"])
    assert rep.recall == (1.0, 0.5) and rep.top_k == {}
    with pytest.raises(DataError, match="label 3 outside 0..1"):
        confusion_matrix([0, 3], [0, 1], 2)
    with pytest.raises(DataError, match="3 columns for 2 class names"):
        classification_report([0, 1], np.zeros((2, 3)), ["a", "b"])
    with pytest.raises(DataError, match="NaN"):
        classification_report([0, 1], np.array([[0.0, np.nan], [1.0, 0.0]]), ["a", "b"])
    assert top_k_accuracy([2, 0], np.array([[0.1, 0.2, 0.7], [0.5, 0.4, 0.1]]), k=1) == 1.0
