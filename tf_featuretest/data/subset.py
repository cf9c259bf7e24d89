"""Evaluation subsets: stratified by class, seeded, deterministic, and balanced in every prefix.

Stages evaluate on a few hundred test images, never on "the first N" (on a class-sorted folder the
first N hold one or two classes). :func:`stratified_indices` picks ``n`` indices with each class
represented in proportion to its share of the split (largest remainders, ties to the smaller class
index) and orders them so that any prefix is proportional too: the first 8 images of a 270-image
subset of ten classes are 8 different classes.

Example:
    >>> y = np.repeat(np.arange(3), [50, 30, 20])        # a class-sorted split
    >>> idx = stratified_indices(y, 10, seed=0)
    >>> np.bincount(y[idx]).tolist()
    [5, 3, 2]
    >>> sorted(set(y[idx[:3]].tolist()))
    [0, 1, 2]
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._util import checks
from ..errors import DataError


def _allocate(counts: np.ndarray, n: int) -> np.ndarray:
    """Per-class sizes summing to ``n``, proportional to ``counts`` (largest remainder), at most ``counts``."""
    total = int(counts.sum())
    exact = counts * (n / total)
    take = np.minimum(np.floor(exact).astype(np.int64), counts)
    order = sorted(range(len(counts)), key=lambda c: (-(exact[c] - take[c]), c))
    i = 0
    while take.sum() < n:
        c = order[i % len(order)]
        if take[c] < counts[c]:
            take[c] += 1
        i += 1
    return take


def stratified_indices(labels, n: int | None, *, seed: int = 0, num_classes: int | None = None) -> np.ndarray:
    """Indices of a seeded, stratified subset of ``n`` items (all of them, reordered, when ``n`` is None or larger).

    Args:
        labels: integer labels ``[N]`` of the split.
        n: subset size.
        seed: the same seed gives the same indices.
        num_classes: number of classes (default: ``max(labels) + 1``).

    Returns:
        int64 indices into ``labels``; every prefix is as close to proportional as possible.
    """
    y = np.asarray(labels).astype(np.int64).reshape(-1)
    if y.size == 0:
        raise DataError("cannot take a subset of an empty split")
    if y.min() < 0:
        raise DataError(f"labels must be non-negative, got {int(y.min())}")
    seed = checks.seed(seed)
    n = len(y) if n is None else min(checks.positive_int(n, "n"), len(y))
    c = int(num_classes or y.max() + 1)
    counts = np.bincount(y, minlength=c)
    take = _allocate(counts, n)
    rng = np.random.default_rng(seed)
    picked, keys = [], []
    for k in range(c):
        if take[k] == 0:
            continue
        members = np.flatnonzero(y == k)
        chosen = members[rng.permutation(len(members))[: take[k]]]
        picked.append(chosen)
        # interleave: the j-th pick of class k goes at position (j + 0.5) / take[k] of the subset
        keys.append((np.arange(take[k]) + 0.5) / take[k] + k * 1e-9)
    picked, keys = np.concatenate(picked), np.concatenate(keys)
    return picked[np.argsort(keys, kind="stable")].astype(np.int64)


@dataclass(frozen=True)
class Subset:
    """A stratified evaluation subset of one split: which images, and how many of each class.

    Attributes:
        split: the split the indices point into.
        indices: int64 indices, prefix-balanced.
        per_class: images per class in the subset.
        split_per_class: images per class in the whole split.
        seed: the seed that chose them.
    """

    split: str
    indices: np.ndarray
    per_class: tuple
    split_per_class: tuple
    seed: int

    @property
    def size(self) -> int:
        return int(len(self.indices))

    def take(self, x, y, n: int | None = None):
        """``(x[idx], y[idx])`` for the first ``n`` indices (all by default)."""
        idx = self.indices if n is None else self.indices[:n]
        return np.asarray(x)[idx], np.asarray(y)[idx]

    def coverage(self) -> str:
        """One line for the report: how many images of how many classes, out of the split."""
        present = sum(1 for v in self.per_class if v)
        lo, hi = min(self.per_class), max(self.per_class)
        spread = f"{lo}" if lo == hi else f"{lo} to {hi}"
        return (f"{self.size} of the {sum(self.split_per_class)} {self.split} images, {spread} per class, "
                f"{present} of {len(self.per_class)} classes (stratified, seed {self.seed})")

    def to_dict(self) -> dict:
        return {"split": self.split, "size": self.size, "indices": self.indices.tolist(),
                "per_class": list(self.per_class), "split_per_class": list(self.split_per_class), "seed": self.seed}


def subset(labels, n: int | None, *, split: str = "test", seed: int = 0, num_classes: int | None = None) -> Subset:
    """A :class:`Subset` of ``n`` images of a split with these ``labels`` (see :func:`stratified_indices`)."""
    y = np.asarray(labels).astype(np.int64).reshape(-1)
    c = int(num_classes or (y.max() + 1 if y.size else 0))
    idx = stratified_indices(y, n, seed=seed, num_classes=c)
    return Subset(split=split, indices=idx, per_class=tuple(int(v) for v in np.bincount(y[idx], minlength=c)),
                  split_per_class=tuple(int(v) for v in np.bincount(y, minlength=c)), seed=int(seed))
