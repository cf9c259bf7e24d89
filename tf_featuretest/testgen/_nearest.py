"""Exact nearest other-class neighbour search in TensorFlow, blocked so memory stays bounded.

For every query point we want the nearest reference point with a *different* label, under L2 or
L-inf. Queries are processed in blocks of ``rows`` so that no intermediate exceeds about
``rows x M`` floats (M = number of reference points).

L2: one matrix product per block gives ``|r|^2 - 2 q.r`` with a one-hot label term that pushes
same-label pairs to 1e30, so masking is part of the product; the ``k`` best candidates are then
re-measured directly (``sqrt(sum((q - r)^2))``), which removes the cancellation error of the
product form.

L-inf (exact, with pruning): (0) the L2 search gives 8 candidates per query whose exact L-inf
distance is an upper bound ``u``; (1) coordinates are ordered by decreasing variance and the
L-inf distance over the first ``s`` coordinates, a lower bound of the full distance, is computed
densely; only pairs with lower bound ``<= u`` survive (ties keep the smaller index); (2) the survivors' lower bound is refined
over coordinate ranges of doubling width, pruning after each, until the last range ends at ``d``
and the survivors' distances are exact. Ties keep the smaller reference index.
"""
from __future__ import annotations

import functools

import tensorflow as tf

BIG = 1e30
_K_L2 = 4
_K_UPPER = 8


def _augment(q, ql, r, rl, num_classes):
    """Operands whose product is ``|r|^2 - 2 q.r + BIG * [same label]``."""
    qa = tf.concat([-2.0 * q, tf.ones_like(q[:, :1]), BIG * tf.one_hot(ql, num_classes)], axis=1)
    ra = tf.concat([r, tf.reduce_sum(tf.square(r), axis=1, keepdims=True), tf.one_hot(rl, num_classes)], axis=1)
    return qa, ra


def _l2_candidates(q, ql, r_aug, k):
    scores = tf.matmul(q, r_aug, transpose_b=True)
    return tf.math.top_k(-scores, k=k, sorted=True).indices


def _exact_over(q, ql, r, rl, idx, norm):
    """Exact distances from each query to its candidate references ``idx [B, k]``; same label -> inf."""
    diff = q[:, None, :] - tf.gather(r, idx)
    if norm == "inf":
        dist = tf.reduce_max(tf.abs(diff), axis=2)
    else:
        dist = tf.sqrt(tf.reduce_sum(tf.square(diff), axis=2))
    same = tf.equal(tf.gather(rl, idx), ql[:, None])
    dist = tf.where(same, tf.constant(float("inf")), dist)
    # Smallest distance, ties to the smaller index.
    best = tf.reduce_min(dist, axis=1)
    cand = tf.where(tf.equal(dist, best[:, None]), idx, tf.int32.max)
    return best, tf.reduce_min(cand, axis=1)


def _segment_best(dist, qi, ri, n):
    best = tf.math.unsorted_segment_min(dist, qi, n)
    is_best = tf.equal(dist, tf.gather(best, qi))
    idx = tf.math.unsorted_segment_min(tf.where(is_best, ri, tf.int32.max), qi, n)
    return best, idx


def _range_max_abs(q, r, qi, ri, lo, hi, pair_chunk):
    """``max_{lo<=k<hi} |q[qi, k] - r[ri, k]|`` for pair lists, in chunks of ``pair_chunk`` pairs."""
    m = tf.shape(qi)[0]
    ta = tf.TensorArray(tf.float32, size=0, dynamic_size=True, infer_shape=False)

    def body(i, j, ta):
        a = tf.gather(q[:, lo:hi], qi[i:i + pair_chunk])
        b = tf.gather(r[:, lo:hi], ri[i:i + pair_chunk])
        return i + pair_chunk, j + 1, ta.write(j, tf.reduce_max(tf.abs(a - b), axis=1))

    _, _, ta = tf.while_loop(lambda i, j, ta: i < m, body, (tf.constant(0), tf.constant(0), ta))
    return tf.reshape(tf.cond(m > 0, lambda: ta.concat(), lambda: tf.zeros([0], tf.float32)), [-1])


@functools.lru_cache(maxsize=16)
def block_search_fn(norm: str, dim: int, num_classes: int, first: int, budget: int):
    """A compiled ``fn(q, ql, r, rl, rT) -> (dist [B], index [B])`` for one query block."""
    spec = [tf.TensorSpec([None, dim], tf.float32), tf.TensorSpec([None], tf.int32),
            tf.TensorSpec([None, dim], tf.float32), tf.TensorSpec([None], tf.int32),
            tf.TensorSpec([dim, None], tf.float32)]

    def l2(q, ql, r, rl, rT):
        _, r_aug = _augment(q[:1], ql[:1], r, rl, num_classes)
        q_aug, _ = _augment(q, ql, r[:1], rl[:1], num_classes)
        k = tf.minimum(_K_L2, tf.shape(r)[0])
        idx = _l2_candidates(q_aug, ql, r_aug, k)
        return _exact_over(q, ql, r, rl, idx, "2")

    def dense_inf(q, ql, rT, hi):
        """L-inf over coordinates ``[0, hi)``, shape ``[B, M]``, one coordinate at a time."""
        qT = tf.transpose(q)
        acc0 = tf.zeros([tf.shape(q)[0], tf.shape(rT)[1]], tf.float32)

        def body(k, acc):
            return k + 1, tf.maximum(acc, tf.abs(qT[k][:, None] - rT[k][None, :]))

        _, acc = tf.while_loop(lambda k, acc: k < hi, body, (tf.constant(0), acc0), parallel_iterations=1)
        return acc

    def linf(q, ql, r, rl, rT):
        n = tf.shape(q)[0]
        different = tf.not_equal(ql[:, None], rl[None, :])
        if first >= dim:  # low dimension: dense exact
            dist = tf.where(different, dense_inf(q, ql, rT, dim), float("inf"))
            best = tf.reduce_min(dist, axis=1)
            cand = tf.where(tf.equal(dist, best[:, None]), tf.range(tf.shape(r)[0])[None, :], tf.int32.max)
            return best, tf.reduce_min(cand, axis=1)
        # (0) upper bound from L2 candidates.
        _, r_aug = _augment(q[:1], ql[:1], r, rl, num_classes)
        q_aug, _ = _augment(q, ql, r[:1], rl[:1], num_classes)
        idx = _l2_candidates(q_aug, ql, r_aug, tf.minimum(_K_UPPER, tf.shape(r)[0]))
        upper, upper_idx = _exact_over(q, ql, r, rl, idx, "inf")
        # (1) dense lower bound over the first coordinates.
        lb = dense_inf(q, ql, rT, first)
        pairs = tf.cast(tf.where(different & (lb <= upper[:, None])), tf.int32)
        qi, ri = pairs[:, 0], pairs[:, 1]
        lbv = tf.gather_nd(lb, pairs)
        # (2) refine over doubling coordinate ranges.
        lo = first
        while lo < dim:
            hi = min(dim, 2 * lo)
            part = _range_max_abs(q, r, qi, ri, lo, hi, max(1, budget // (hi - lo)))
            lbv = tf.maximum(lbv, part)
            keep = lbv <= tf.gather(upper, qi)
            qi, ri, lbv = tf.boolean_mask(qi, keep), tf.boolean_mask(ri, keep), tf.boolean_mask(lbv, keep)
            lo = hi
        best, best_idx = _segment_best(lbv, qi, ri, n)
        better = (best < upper) | (tf.equal(best, upper) & (best_idx < upper_idx))
        return tf.where(better, best, upper), tf.where(better, best_idx, upper_idx)

    return tf.function(l2 if norm == "2" else linf, input_signature=spec, autograph=False)
