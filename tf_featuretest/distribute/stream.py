"""The training data of a distributed run: the same global batches in every process, each replica a slice.

Every worker holds the whole split in memory and walks the same deterministic sequence of global
batches: epoch ``e`` visits the images in the order of a permutation seeded ``derive(seed, e)``,
``global_batch_size`` at a time (the last batch of an epoch may be smaller). Global replica ``g`` of
``R`` gets rows ``[floor(g b / R), floor((g + 1) b / R))`` of a global batch of ``b`` rows, so the
replicas together see exactly the batch one process would see, whatever the number of workers.
Because the order is a function of the epoch alone, a run resumed at batch ``k`` of epoch ``e``
starts there without replaying training (augmentation, if any, is replayed for the skipped batches
of that epoch so that its random draws stay in step).

Each replica's element is a dict: ``x``, ``y`` (its rows), ``rows`` (the global batch's size, the
loss's denominator) and ``offset`` (the global row index of its first row). A replica whose slice is
empty (a last batch with fewer rows than replicas) still gets an element, with zero rows.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from .._util import checks
from .._util.seeds import derive
from ..data import AugmentConfig
from ..errors import ConfigError


def augmenter(augment, seed=0):
    """``fn(epoch) -> callable(x) -> x'`` for :class:`GlobalBatches` from ``augment`` (True, an
    :class:`~tf_featuretest.data.AugmentConfig`, or None/False for none).

    Epoch ``e`` gets fresh Keras augmentation layers seeded ``derive(seed, e)``, applied to each
    global batch in order: every process draws the same augmentation for the same batch.
    """
    if not augment:
        return None
    cfg = AugmentConfig() if augment is True else augment
    if not isinstance(cfg, AugmentConfig):
        raise ConfigError(f"augment must be True, False or an AugmentConfig, got {augment!r}")

    def for_epoch(epoch):
        layers = cfg.layers(derive(seed, epoch))

        def apply(x):
            for layer in layers:
                x = layer(x, training=True)
            return x

        return apply

    return for_epoch


def replica_rows(batch_rows, replica, num_replicas):
    """``(lo, hi)`` rows of a global batch of ``batch_rows`` that global replica ``replica`` of ``num_replicas`` gets."""
    b = tf.cast(batch_rows, tf.int64)
    r, n = tf.cast(replica, tf.int64), tf.cast(num_replicas, tf.int64)
    return (b * r) // n, (b * (r + 1)) // n


class GlobalBatches:
    """Deterministic global batches of in-memory ``(x, y)`` arrays, sliced per replica.

    Args:
        x, y: images ``[N, H, W, C]`` float32 in [0, 1] and integer labels ``[N]``.
        global_batch_size: images per global step, over all replicas.
        shuffle: a new seeded order every epoch (False: the stored order, e.g. for validation).
        seed: the seed of the orders (and of the augmentation).
        augment: None, or ``fn(epoch) -> callable(x) -> x'`` making one epoch's augmentation of a
            global batch (called in order, batch after batch, in every process alike).

    Example:
        >>> stream = GlobalBatches(x, y, 64, seed=0)  # doctest: +SKIP
        >>> ds = strategy.distribute_datasets_from_function(stream.dataset_fn(epoch=0))  # doctest: +SKIP
    """

    def __init__(self, x, y, global_batch_size, *, shuffle=True, seed=0, augment=None):
        x, y = np.asarray(x), np.asarray(y, np.int64).reshape(-1)
        if x.ndim != 4 or len(x) != len(y):
            raise ConfigError(f"training images must be [N, H, W, C] with one label each, got {x.shape} and {y.shape}")
        if not len(y):
            raise ConfigError("no training images")
        self.global_batch_size = checks.positive_int(global_batch_size, "global_batch_size")
        self.num_examples = len(y)
        self.shuffle, self.seed, self.augment = bool(shuffle), int(seed), augment
        # held once per process; every epoch's pipeline reads them (variables are not copied into graphs)
        with tf.device("/cpu:0"):
            self._x = tf.Variable(x.astype(np.float32, copy=False), trainable=False, name="stream_images")
            self._y = tf.Variable(y, trainable=False, name="stream_labels")

    @property
    def num_batches(self) -> int:
        """Global batches per epoch."""
        return -(-self.num_examples // self.global_batch_size)

    def order(self, epoch: int) -> np.ndarray:
        """The image order of ``epoch``."""
        if not self.shuffle:
            return np.arange(self.num_examples, dtype=np.int64)
        return np.random.default_rng(derive(self.seed, epoch)).permutation(self.num_examples).astype(np.int64)

    def global_batch(self, epoch: int, batch: int):
        """``(x, y)`` of global batch ``batch`` of ``epoch`` as numpy arrays (without augmentation)."""
        idx = self.order(epoch)[batch * self.global_batch_size:(batch + 1) * self.global_batch_size]
        return self._x.numpy()[idx], self._y.numpy()[idx]

    def dataset_fn(self, epoch: int, start_batch: int = 0, num_replicas: int = 1):
        """``fn(input_context) -> tf.data.Dataset`` for ``distribute_datasets_from_function``.

        The dataset of input pipeline ``p`` yields, for each global batch from ``start_batch`` on,
        one element for each of its local replicas in order.
        """
        order = self.order(epoch)
        gb, n, nb = self.global_batch_size, self.num_examples, self.num_batches
        augment = self.augment(epoch) if self.augment is not None else None
        xs, ys = self._x, self._y

        def fn(ctx=None):
            pipelines = ctx.num_input_pipelines if ctx is not None else 1
            pipeline = ctx.input_pipeline_id if ctx is not None else 0
            if num_replicas % pipelines:
                raise ConfigError(f"{num_replicas} replicas do not split over {pipelines} input pipelines")
            local = num_replicas // pipelines
            order_t = tf.constant(order)

            def gather(b):
                idx = order_t[b * gb:tf.minimum((b + 1) * gb, n)]
                return tf.gather(xs, idx), tf.gather(ys, idx)

            ds = tf.data.Dataset.range(nb).map(gather)
            if augment is not None:
                ds = ds.map(lambda x, y: (tf.clip_by_value(augment(x), 0.0, 1.0), y))
            ds = ds.skip(start_batch)  # skip evaluates the maps above: the augmentation stays in step

            def slices(x, y):
                rows = tf.shape(y, out_type=tf.int64)[0]

                def one(j):
                    lo, hi = replica_rows(rows, pipeline * local + j, num_replicas)
                    return {"x": x[lo:hi], "y": y[lo:hi], "rows": rows, "offset": lo}

                return tf.data.Dataset.range(local).map(one)

            return ds.flat_map(slices).prefetch(2)

        return fn
