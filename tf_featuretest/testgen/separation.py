"""r-separation of a labelled data set, in pixel space or any encoder's feature space.

Yang et al. (NeurIPS 2020, "A Closer Look at Accuracy vs. Robustness") call a data set
r-separated when any two points with different labels are at least 2r apart. They measure, with
images in [0, 1] under L-inf, each training point's distance to the nearest training point of
another class (train-train) and each test point's distance to the nearest training point of
another class (test-train). :func:`r_separation` computes both exactly (blocked TensorFlow search,
see :mod:`tf_featuretest.testgen._nearest`), the distribution of those distances, each point's own
margin ``r_i`` (half its distance) and the closest cross-label pairs, which are often duplicates
or mislabelled images.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._util import checks
from ..errors import ConfigError, DataError
from ._nearest import block_search_fn

PERCENTILES = (0, 1, 5, 10, 25, 50, 75, 90, 95, 99, 100)


@dataclass(frozen=True)
class ClosestPair:
    """A cross-label pair: ``query`` (in the ``kind``'s query set) and its nearest other-class ``ref``."""

    kind: str  # "train-train" or "test-train"
    query: int
    ref: int
    distance: float
    query_label: int
    ref_label: int

    def to_dict(self) -> dict:
        return {"kind": self.kind, "query": self.query, "ref": self.ref, "distance": self.distance,
                "query_label": self.query_label, "ref_label": self.ref_label}


@dataclass(frozen=True)
class SeparationResult:
    """Exact nearest other-class distances of a data set.

    Attributes:
        norm: ``"inf"`` or ``"2"``.
        space: ``"pixel"`` or the encoder's name.
        r: half the smallest inter-class distance (train-train and, when given, test-train).
        train_train_min, test_train_min: the smallest distances (``test_train_min`` None without test).
        train_distances, train_nearest: per training point, distance to and index of the nearest
            training point of another class.
        test_distances, test_nearest: the same for test points (empty without a test set).
        percentiles: ``{"train": {p: value}, "test": {...}}`` of those distances.
        histogram: ``{"edges": [...], "train": counts, "test": counts}`` on shared edges.
        closest_pairs: the closest cross-label pairs, train-train (each unordered pair once) then test-train.
        seconds: wall time of the search.
    """

    norm: str
    space: str
    r: float
    train_train_min: float
    test_train_min: float | None
    train_distances: np.ndarray
    train_nearest: np.ndarray
    test_distances: np.ndarray
    test_nearest: np.ndarray
    percentiles: dict
    histogram: dict
    closest_pairs: tuple
    seconds: float = 0.0

    @property
    def train_margins(self) -> np.ndarray:
        """``r_i`` of each training point: half its distance to the nearest other-class training point."""
        return self.train_distances / 2.0

    @property
    def test_margins(self) -> np.ndarray:
        """``r_i`` of each test point: half its distance to the nearest other-class training point."""
        return self.test_distances / 2.0

    def to_dict(self) -> dict:
        return {"norm": self.norm, "space": self.space, "r": self.r, "train_train_min": self.train_train_min,
                "test_train_min": self.test_train_min, "num_train": int(len(self.train_distances)),
                "num_test": int(len(self.test_distances)), "percentiles": self.percentiles,
                "histogram": self.histogram, "closest_pairs": [p.to_dict() for p in self.closest_pairs],
                "seconds": self.seconds}


def _norm_name(norm) -> str:
    if norm in ("inf", np.inf, float("inf"), "linf", "Linf"):
        return "inf"
    if norm in (2, "2", "l2", "L2"):
        return "2"
    raise ConfigError(f"norm must be 'inf' or 2, got {norm!r}")


def encode_features(space, x, batch_size=256) -> np.ndarray:
    """Flattened features of ``x`` in ``space``: ``"pixel"``, a callable, or a VAE (its ``z_mean``)."""
    if isinstance(space, str):
        if space != "pixel":
            raise ConfigError(f"space must be 'pixel', a VAE or an encoder function, got {space!r}")
        return np.asarray(x, np.float32).reshape(len(x), -1)
    fn = space.encode if hasattr(space, "encode") else space
    if not callable(fn):
        raise ConfigError(f"space must be 'pixel', a VAE or an encoder function, got {space!r}")
    out = []
    for i in range(0, len(x), batch_size):
        f = fn(x[i:i + batch_size])
        if isinstance(f, (tuple, list)):
            f = f[0]  # (z_mean, z_log_var): the mean
        out.append(np.asarray(f, np.float32).reshape(len(x[i:i + batch_size]), -1))
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def _space_name(space) -> str:
    if isinstance(space, str):
        return space
    if hasattr(space, "encode"):
        return "latent"
    return getattr(space, "name", None) or getattr(space, "__name__", None) or "encoder"


def nearest_other_class(q, ql, r, rl, *, norm="inf", budget=2 ** 23):
    """Exact distance and index of the nearest point of ``r`` with a label different from each ``q``'s.

    Args:
        q, ql: query points ``[N, D]`` and labels ``[N]``.
        r, rl: reference points ``[M, D]`` and labels ``[M]``.
        norm: ``"inf"`` or 2.
        budget: about how many floats one block's intermediates may hold; queries are processed in
            blocks of ``max(1, budget // M)`` rows.

    Returns:
        ``(distances float32 [N], indices int64 [N])``; ``inf`` and ``-1`` where no reference has
        another label.
    """
    import tensorflow as tf

    norm = _norm_name(norm)
    q = np.ascontiguousarray(q, np.float32)
    r = np.ascontiguousarray(r, np.float32)
    classes, inv = np.unique(np.concatenate([np.asarray(ql), np.asarray(rl)]), return_inverse=True)
    qli, rli = inv[:len(q)].astype(np.int32), inv[len(q):].astype(np.int32)
    dim = q.shape[1]
    if norm == "inf" and dim > 1:
        order = np.argsort(-r.var(axis=0), kind="stable")
        q, r = np.ascontiguousarray(q[:, order]), np.ascontiguousarray(r[:, order])
    first = dim if dim <= 32 else 16
    fn = block_search_fn(norm, dim, len(classes), first, int(budget))
    rows = int(max(1, min(len(q), budget // max(1, len(r)))))
    r_t, rl_t, rT = tf.constant(r), tf.constant(rli), tf.constant(np.ascontiguousarray(r.T))
    dist, idx = [], []
    for i in range(0, len(q), rows):
        d, j = fn(tf.constant(q[i:i + rows]), tf.constant(qli[i:i + rows]), r_t, rl_t, rT)
        dist.append(d.numpy())
        idx.append(j.numpy())
    dist = np.concatenate(dist).astype(np.float32) if dist else np.zeros(0, np.float32)
    idx = np.concatenate(idx).astype(np.int64) if idx else np.zeros(0, np.int64)
    idx[~np.isfinite(dist)] = -1
    return dist, idx


def _check(x, y, what):
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim < 2 or len(x) == 0:
        raise DataError(f"{what} must be a non-empty array of points or images, got shape {x.shape}")
    if y.ndim != 1 or len(y) != len(x):
        raise DataError(f"{what} labels must be 1-D with {len(x)} entries, got shape {y.shape}")
    if not np.all(np.isfinite(x)):
        raise DataError(f"{what} contains NaN or infinite values")
    return x, y.astype(np.int64)


def _pairs(kind, dist, idx, ql, rl, n_pairs, dedupe):
    order = np.argsort(dist, kind="stable")
    out, seen = [], set()
    for i in order:
        if len(out) >= n_pairs or not np.isfinite(dist[i]):
            break
        key = (min(i, idx[i]), max(i, idx[i])) if dedupe else (i, idx[i])
        if key in seen:
            continue
        seen.add(key)
        out.append(ClosestPair(kind, int(i), int(idx[i]), float(dist[i]), int(ql[i]), int(rl[idx[i]])))
    return out


def r_separation(x, y, *, x_test=None, y_test=None, norm="inf", space="pixel", block=2 ** 23, bins=30,
                 num_pairs=10, batch_size=256) -> SeparationResult:
    """Exact r-separation of ``(x, y)`` (and of ``(x_test, y_test)`` against it).

    Args:
        x, y: training images ``[N, ...]`` (or feature vectors) and integer labels.
        x_test, y_test: optional test set, measured against the training set.
        norm: ``"inf"`` (the paper's choice) or 2.
        space: ``"pixel"``, a VAE (distances between latent means ``z_mean``) or any encoder
            function ``f(x) -> features`` (a tuple's first element is used).
        block: about how many floats a search block may hold (bounds memory).
        bins: histogram bins.
        num_pairs: closest cross-label pairs to keep per kind.
        batch_size: encoder batch size.

    Returns:
        :class:`SeparationResult`.

    Example:
        >>> from tf_featuretest.data import load_arrays
        >>> x, y, _ = load_arrays("digits", "train", image_size=(8, 8))
        >>> res = r_separation(x, y, norm="inf")
        >>> res.train_train_min  # 7/16: the closest pair of differently labelled digits
        0.4375
    """
    import time

    x, y = _check(x, y, "x")
    if len(np.unique(y)) < 2:
        raise DataError(f"r-separation needs at least two classes, got labels {np.unique(y).tolist()}")
    if (x_test is None) != (y_test is None):
        raise ConfigError("give both x_test and y_test, or neither")
    block = checks.positive_int(block, "block")
    norm = _norm_name(norm)
    start = time.perf_counter()
    fx = encode_features(space, x, batch_size)
    tr_d, tr_i = nearest_other_class(fx, y, fx, y, norm=norm, budget=int(block))
    te_d, te_i = np.zeros(0, np.float32), np.zeros(0, np.int64)
    yt = np.zeros(0, np.int64)
    if x_test is not None:
        xt, yt = _check(x_test, y_test, "x_test")
        if xt.shape[1:] != x.shape[1:]:
            raise DataError(f"x_test has shape {xt.shape[1:]} per item, x has {x.shape[1:]}")
        te_d, te_i = nearest_other_class(encode_features(space, xt, batch_size), yt, fx, y, norm=norm,
                                         budget=int(block))
    seconds = time.perf_counter() - start
    tt_min = float(np.min(tr_d))
    te_min = float(np.min(te_d)) if len(te_d) else None
    r = min(tt_min, te_min if te_min is not None else np.inf) / 2.0
    finite = np.concatenate([tr_d[np.isfinite(tr_d)], te_d[np.isfinite(te_d)]])
    edges = np.histogram_bin_edges(finite, bins=bins)
    pct = {"train": {str(p): float(v) for p, v in zip(PERCENTILES, np.percentile(tr_d, PERCENTILES))}}
    hist = {"edges": edges.tolist(), "train": np.histogram(tr_d, edges)[0].tolist()}
    if len(te_d):
        pct["test"] = {str(p): float(v) for p, v in zip(PERCENTILES, np.percentile(te_d, PERCENTILES))}
        hist["test"] = np.histogram(te_d, edges)[0].tolist()
    pairs = _pairs("train-train", tr_d, tr_i, y, y, num_pairs, True) + _pairs("test-train", te_d, te_i, yt, y,
                                                                             num_pairs, False)
    return SeparationResult(norm=norm, space=_space_name(space), r=float(r), train_train_min=tt_min,
                            test_train_min=te_min, train_distances=tr_d, train_nearest=tr_i, test_distances=te_d,
                            test_nearest=te_i, percentiles=pct, histogram=hist, closest_pairs=tuple(pairs),
                            seconds=float(seconds))
