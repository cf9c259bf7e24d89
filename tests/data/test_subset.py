"""Stratified, seeded evaluation subsets, checked against scikit-learn's stratified split."""
import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from tf_featuretest.data.subset import stratified_indices, subset
from tf_featuretest.errors import ConfigError, DataError


@pytest.mark.parametrize("sizes, n", [((50, 30, 20), 10), ((178, 182, 177, 183, 181, 182, 181, 179, 174, 180), 270),
                                      ((5, 2, 300), 40), ((7, 7, 7, 7), 9)])
def test_per_class_counts_are_within_one_of_sklearns_stratified_split(sizes, n):
    y = np.repeat(np.arange(len(sizes)), sizes)  # class-sorted, like a folder read class by class
    idx = stratified_indices(y, n, seed=0)
    assert len(idx) == n and len(set(idx.tolist())) == n
    ours = np.bincount(y[idx], minlength=len(sizes))
    _, picked = train_test_split(np.arange(len(y)), test_size=n, stratify=y, random_state=0)
    ref = np.bincount(y[picked], minlength=len(sizes))
    assert np.all(np.abs(ours - ref) <= 1), (ours, ref)


def test_every_prefix_is_balanced_on_a_class_sorted_split():
    y = np.repeat(np.arange(10), 100)
    idx = stratified_indices(y, 270, seed=3)
    for k in (8, 10, 20, 100, 270):
        counts = np.bincount(y[idx[:k]], minlength=10)
        assert counts.max() - counts.min() <= 1, (k, counts)
    assert stratified_indices(y, 270, seed=3).tolist() == idx.tolist()
    assert stratified_indices(y, 270, seed=4).tolist() != idx.tolist()


def test_subset_records_its_coverage():
    y = np.repeat(np.arange(3), [50, 30, 20])
    s = subset(y, 10, split="test", seed=0)
    assert s.per_class == (5, 3, 2) and s.split_per_class == (50, 30, 20)
    assert s.coverage() == "10 of the 100 test images, 2 to 5 per class, 3 of 3 classes (stratified, seed 0)"
    d = s.to_dict()
    assert d["indices"] == s.indices.tolist() and d["size"] == 10
    assert subset(y, None).size == 100 and subset(y, 500).size == 100


def test_bad_input():
    with pytest.raises(DataError, match="empty"):
        stratified_indices(np.zeros(0, np.int64), 3)
    with pytest.raises(ConfigError, match="positive integer"):
        stratified_indices(np.zeros(5, np.int64), 0)
