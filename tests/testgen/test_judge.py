"""The label committee: verdict rule, the k-NN member against scikit-learn, accuracy of the trained members."""
import numpy as np
import pytest

from tf_featuretest.errors import ConfigError, DataError
from tf_featuretest.testgen.judge import LabelCommittee, PixelKNN, Votes, build_member, check_members


class Fixed:
    """A member answering fixed probabilities."""

    def __init__(self, probs):
        self.probs = np.asarray(probs, np.float32)

    def probabilities(self, images):
        return self.probs[: len(images)]


def _committee(*rows, agree=0.5):
    members = {f"m{i}": Fixed(r) for i, r in enumerate(rows)}
    return LabelCommittee(members, num_classes=3, agree=agree)


# one image; each member's probabilities over 3 classes; the label asked about; the verdict
VERDICT_CASES = [
    ([[0.9, 0.05, 0.05], [0.8, 0.1, 0.1], [0.6, 0.2, 0.2]], 0, "kept"),
    ([[0.9, 0.05, 0.05], [0.8, 0.1, 0.1], [0.45, 0.35, 0.2]], 0, "ambiguous"),  # one member unsure
    ([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.9, 0.05, 0.05]], 0, "ambiguous"),  # one member disagrees
    ([[0.1, 0.8, 0.1], [0.1, 0.7, 0.2], [0.2, 0.2, 0.6]], 0, "changed"),  # majority on 1, nobody on 0
    ([[0.1, 0.8, 0.1], [0.1, 0.2, 0.7], [0.2, 0.2, 0.6]], 0, "changed"),  # majority on 2
    ([[0.1, 0.8, 0.1], [0.1, 0.2, 0.7], [0.4, 0.3, 0.3]], 0, "ambiguous"),  # one votes 0 (unsure): not changed
    ([[0.1, 0.8, 0.1], [0.05, 0.05, 0.9], [0.3, 0.45, 0.25]], 0, "ambiguous"),  # no sure majority
]


@pytest.mark.parametrize("rows,label,want", VERDICT_CASES)
def test_verdict_rule(rows, label, want):
    com = _committee(*[[r] for r in rows])
    v = com.keeps(np.zeros((1, 2, 2, 1), np.float32), [label])
    assert v.status.tolist() == [want]
    assert v.kept[0] == (want == "kept") and v.changed[0] == (want == "changed")
    np.testing.assert_allclose(v.label_probability[0], [r[label] for r in rows], rtol=1e-6)
    np.testing.assert_array_equal(v.votes.labels[0], np.argmax(rows, axis=1))


def test_votes_shapes_and_majority():
    com = _committee([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1]], [[0.1, 0.2, 0.7], [0.2, 0.5, 0.3]])
    v = com.votes(np.zeros((2, 2, 2, 1), np.float32))
    assert isinstance(v, Votes) and v.members == ("m0", "m1")
    assert v.labels.tolist() == [[0, 2], [1, 1]] and v.probabilities.shape == (2, 2, 3)
    np.testing.assert_allclose(v.confidences, [[0.6, 0.7], [0.7, 0.5]], rtol=1e-6)
    assert v.majority().tolist() == [2, 1]  # mean probabilities (0.35, 0.25, 0.4) and (0.2, 0.6, 0.2)


def test_committee_needs_two_members_and_valid_kinds():
    with pytest.raises(ConfigError, match="at least two"):
        LabelCommittee({"a": Fixed([[1, 0, 0]])}, num_classes=3)
    with pytest.raises(ConfigError, match="at least two different"):
        check_members(("cnn", "cnn"))
    with pytest.raises(ConfigError, match=r"committee\[1\] must be one of"):
        check_members(("cnn", "forest"))
    with pytest.raises(ConfigError, match="agree must be"):
        _committee([[1, 0, 0]], [[1, 0, 0]], agree=0)


def test_pixel_knn_matches_scikit_learn(digits):
    from sklearn.neighbors import KNeighborsClassifier

    x, y = digits["train"]
    xt, _ = digits["test"]
    knn = PixelKNN(x, y, num_classes=10, k=5)
    assert knn.shift == 2  # 32 / 14, rounded
    pooled = lambda a: a.reshape(len(a), 16, 2, 16, 2, 1).mean(axis=(2, 4)).reshape(len(a), -1)  # noqa: E731
    padded = np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)))
    moved = [padded[:, 2 - dy:34 - dy, 2 - dx:34 - dx] for dy in range(-2, 3) for dx in range(-2, 3)]
    ref = KNeighborsClassifier(n_neighbors=5).fit(pooled(np.concatenate(moved)), np.tile(y, 25))
    dist, _ = ref.kneighbors(pooled(xt[:60]))
    np.testing.assert_allclose(knn.distances(xt[:60]), dist.mean(axis=1), rtol=1e-4, atol=1e-4)
    probs = knn.probabilities(xt[:60])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)
    agree = np.mean(np.argmax(probs, 1) == ref.predict(pooled(xt[:60])))
    assert agree >= 0.98  # ties between classes may break differently
    unshifted = PixelKNN(x, y, num_classes=10, k=5, shift=0)
    plain = KNeighborsClassifier(n_neighbors=5).fit(pooled(x), y)
    np.testing.assert_allclose(unshifted.distances(xt[:60]), plain.kneighbors(pooled(xt[:60]))[0].mean(axis=1),
                               rtol=1e-4, atol=1e-4)
    with pytest.raises(DataError, match="k = 2000"):
        PixelKNN(x, y, num_classes=10, k=2000)


@pytest.mark.parametrize("kind", ["cnn", "wide_cnn", "mlp"])
@pytest.mark.parametrize("shape", [(32, 32, 1), (64, 48, 3), (28, 28, 1)])
def test_members_take_any_image_size(kind, shape):
    model = build_member(kind, 7, shape, seed=1)
    assert model.output_shape == (None, 7)
    assert model(np.zeros((2, *shape), np.float32)).shape == (2, 7)


def test_trained_committee_is_accurate_and_independent(committee, digits, digits_cnn):
    xt, yt = digits["test"]
    acc = committee.accuracy(xt, yt)
    assert set(acc) == {"cnn", "wide_cnn", "knn", "committee kept"}
    assert min(acc["cnn"], acc["wide_cnn"], acc["knn"]) >= 0.96
    assert acc["committee kept"] >= 0.95
    assert all(m is not digits_cnn for m in committee.members.values())
    desc = committee.describe()
    assert [d["name"] for d in desc] == ["cnn", "wide_cnn", "knn"] and "k-NN" in desc[2]["kind"]
