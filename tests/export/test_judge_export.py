"""The label committee exported as the ``judge`` SavedModel answers as the committee in process."""
import numpy as np
import pytest
import tensorflow as tf

from tf_featuretest.errors import ConfigError
from tf_featuretest.export.artifacts import export_judge
from tf_featuretest.export.layout import load_artifact
from tf_featuretest.testgen.judge import train_committee


@pytest.fixture(scope="module")
def small_committee(digits):
    x, y = digits["train"]
    return train_committee(x[:400], y[:400], num_classes=10, epochs=1, seed=0)


def test_exported_votes_equal_the_committee(small_committee, digits, tmp_path):
    xs, ys = digits["test"]
    res = export_judge(small_committee, tmp_path, "digits", image_shape=xs.shape[1:], class_names=list("0123456789"),
                       samples=(xs[:6], ys[:6]))
    loaded, meta = load_artifact(tmp_path / "digits", "judge")
    assert res.version == meta["version"] == 1 and meta["members"] == ["cnn", "wide_cnn", "knn"]
    assert meta["samples"] == 6 and meta["agree"] == small_committee.agree
    probs = loaded.signatures["votes"](image=tf.constant(xs[:40]))["probabilities"].numpy()
    ref = small_committee.votes(xs[:40]).probabilities
    assert probs.shape == ref.shape == (40, 3, 10)
    np.testing.assert_allclose(probs, ref, atol=1e-5)
    images, labels = (v.numpy() for v in loaded.samples)
    np.testing.assert_array_equal(images, xs[:6])
    np.testing.assert_array_equal(labels, ys[:6])


def test_bad_samples_named(small_committee, digits, tmp_path):
    xs, ys = digits["test"]
    with pytest.raises(ConfigError, match=r"samples must be \[N, 32, 32, 1\]"):
        export_judge(small_committee, tmp_path, "digits", image_shape=xs.shape[1:], class_names=list("0123456789"),
                     samples=(xs[:6, :16], ys[:6]))
