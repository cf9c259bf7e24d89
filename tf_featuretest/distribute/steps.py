"""The replica steps of the distributed training loop: adversarial mixing, the update, the metrics.

Each function runs inside ``strategy.run`` on one replica's slice of a global batch (see
:mod:`.stream`). The loss is ``sum(per-image cross-entropy) / rows`` with ``rows`` the size of the
*global* batch (``tf.nn.compute_average_loss``), so the gradients the optimizer sums over the
replicas are those of the mean loss over the global batch: what one process computes.

**Adversarial mixing.** The images replaced by adversarial ones are the first ``round(ratio * rows)``
rows *of the global batch* (not of each replica's slice): a replica attacks its rows whose global
row index is below that count, possibly none. PGD's random start of global row ``i`` is row ``i`` of
one uniform draw over the attacked rows, seeded by the global step. So the mixed global batch is
the one a single process makes, whichever replica holds which rows.
"""
from __future__ import annotations

from dataclasses import dataclass

import tensorflow as tf

from .._util import checks
from ..attacks.fgsm import fgsm_tf
from ..attacks.pgd import pgd_tf
from ..errors import ConfigError

UNTARGETED = -1


@dataclass(frozen=True)
class Adversarial:
    """Adversarial training settings: ``attack`` ("fgsm" or "pgd"), L-inf ``eps``, the share ``ratio``
    of each global batch replaced, PGD ``steps`` and ``step_size`` (default ``2.5 eps / steps``)."""

    attack: str = "fgsm"
    eps: float = 0.1
    ratio: float = 0.5
    steps: int = 7
    step_size: float | None = None

    def __post_init__(self):
        if self.attack not in ("fgsm", "pgd"):
            raise ConfigError(f"adversarial training attack must be 'fgsm' or 'pgd', got {self.attack!r}")
        checks.fraction(self.eps, "eps")
        checks.fraction(self.ratio, "ratio")
        checks.positive_int(self.steps, "steps")
        if self.step_size is not None:
            checks.number(self.step_size, "step_size", low=0.0, low_open=True)

    @classmethod
    def from_settings(cls, attack, eps=0.1, ratio=0.5, **kw):
        """None for ``attack="none"``, else the settings (as the ``[[classifiers]]`` keys give them)."""
        return None if attack in (None, "none") else cls(attack, float(eps), float(ratio), **kw)

    @property
    def pgd_step_size(self) -> float:
        return float(self.step_size) if self.step_size is not None else 2.5 * float(self.eps) / int(self.steps)


def mix(model, adv: Adversarial, x, y, rows, offset, seed):
    """The replica's rows with those of global index below ``round(ratio * rows)`` made adversarial."""
    k_global = tf.cast(tf.round(adv.ratio * tf.cast(rows, tf.float32)), tf.int64)
    n = tf.shape(y, out_type=tf.int64)[0]
    a = tf.clip_by_value(k_global - offset, 0, n)
    xa, ya = x[:a], y[:a]
    untargeted = tf.constant(UNTARGETED, tf.int64)
    eps = tf.constant(adv.eps, tf.float32)

    def attack():
        if adv.attack == "fgsm":
            return fgsm_tf(model, xa, ya, eps, untargeted)
        shape = tf.concat([[k_global], tf.shape(x, out_type=tf.int64)[1:]], 0)
        noise = tf.random.stateless_uniform(shape, seed, -1.0, 1.0)[offset:offset + a]
        start = tf.clip_by_value(xa + eps * noise, 0.0, 1.0)
        return pgd_tf(model, xa, ya, eps, tf.constant(adv.pgd_step_size, tf.float32), adv.steps, untargeted,
                      start=start)

    # an empty slice skips the attack (its gradient of an empty batch does not build)
    xa = tf.cond(a > 0, attack, lambda: xa)
    return tf.ensure_shape(tf.concat([tf.stop_gradient(xa), x[a:]], axis=0), x.shape)


def sums(logits, y, k):
    """``[sum of cross-entropy, correct, top-k correct, count]`` of one slice, float64."""
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
    pred = tf.argmax(logits, axis=-1, output_type=tf.int64)
    in_top = tf.math.in_top_k(tf.cast(y, tf.int32), logits, k) if k > 1 else tf.equal(pred, y)
    return ce, tf.stack([tf.reduce_sum(tf.cast(ce, tf.float64)), tf.reduce_sum(tf.cast(tf.equal(pred, y), tf.float64)),
                         tf.reduce_sum(tf.cast(in_top, tf.float64)), tf.cast(tf.size(y), tf.float64)])


def train_replica(model, optimizer, adv, k, element, seed):
    """One replica's share of a training step; returns its metric sums (see :func:`sums`).

    A replica with no rows (the last batch of an epoch can have fewer rows than there are replicas)
    contributes zero gradients and zero sums: convolutions on an empty batch do not run on CPU.
    """
    x, y = element["x"], tf.cast(element["y"], tf.int64)
    variables = model.trainable_variables

    def step():
        xm = mix(model, adv, x, y, element["rows"], element["offset"], seed) if adv is not None and adv.ratio > 0 else x
        with tf.GradientTape() as tape:
            logits = model(xm, training=True)
            ce, out = sums(logits, y, k)
            loss = tf.nn.compute_average_loss(ce, global_batch_size=element["rows"])
            if model.losses:
                loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
        return [*tape.gradient(loss, variables), out]

    def nothing():
        return [*(tf.zeros_like(v) for v in variables), tf.zeros([4], tf.float64)]

    *grads, out = tf.cond(tf.size(y) > 0, step, nothing)
    optimizer.apply_gradients(zip(grads, variables))
    return out


def eval_replica(model, k, element):
    """One replica's metric sums on its validation rows (zeros for an empty slice)."""
    y = tf.cast(element["y"], tf.int64)
    return tf.cond(tf.size(y) > 0, lambda: sums(model(element["x"], training=False), y, k)[1],
                   lambda: tf.zeros([4], tf.float64))
