"""Comparing targeted attacks on the same images: success, distortion (L-inf, L2, PSNR, SSIM) and time.

Example:
    >>> cmp = compare_with_pgd(model, x, y, target=t, eps=0.2, centroids=class_centroids(model, xt, yt))  # doctest: +SKIP
    >>> print(cmp.table())  # doctest: +SKIP
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from ..attacks.feature_space import feature_space
from ..attacks.pgd import pgd
from ..attacks.similarity import image_stats
from ..errors import DataError
from ..models.introspection import compiled_predict


@dataclass(frozen=True)
class AttackStats:
    """How one targeted attack did on a set of images (means over all images)."""

    method: str
    success_rate: float  # fraction predicted as the target
    linf: float
    l2: float
    psnr: float  # dB; identical images count as 100 dB
    ssim: float
    seconds: float
    num_examples: int

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class AttackComparison:
    """The feature-space attack and targeted PGD on the same images at the same budget."""

    eps: float
    targets: tuple
    feature_space: AttackStats
    pgd: AttackStats

    def to_dict(self) -> dict:
        return {"eps": self.eps, "targets": list(self.targets), "feature_space": self.feature_space.to_dict(),
                "pgd": self.pgd.to_dict()}

    def table(self) -> str:
        head = f"{'method':<14}{'success':>9}{'L-inf':>8}{'L2':>8}{'PSNR':>8}{'SSIM':>8}{'seconds':>9}"
        rows = [f"{s.method:<14}{s.success_rate:>9.3f}{s.linf:>8.4f}{s.l2:>8.3f}{s.psnr:>8.2f}{s.ssim:>8.4f}"
                f"{s.seconds:>9.2f}" for s in (self.feature_space, self.pgd)]
        return "\n".join([head] + rows)


def _stats(method, model, x, x_adv, tgt, seconds):
    predict = compiled_predict(model)
    pred = np.concatenate([np.argmax(predict(tf.constant(x_adv[i:i + 256])).numpy(), 1)
                           for i in range(0, len(x_adv), 256)])
    linf, l2, psnr, ssim_ = image_stats(x, x_adv)
    return AttackStats(method, float(np.mean(pred == tgt)), float(linf.mean()), float(l2.mean()),
                       float(psnr.mean()), float(ssim_.mean()), float(seconds), int(len(x)))


def compare_with_pgd(model, x, y, *, target, eps=0.1, centroids, steps=60, confidence=0.9, pgd_steps=40,
                     seed=0) -> AttackComparison:
    """Run the feature-space attack and targeted PGD (:func:`~tf_featuretest.attacks.pgd.pgd`) on the same images.

    Images whose label already is the target are left out. Each attack is traced once on two images
    before it is timed, so ``seconds`` is attack time, not tracing time.

    Args:
        model: classifier returning logits.
        x, y: images in [0, 1] and labels.
        target: target class (int) or one per image.
        eps: L-inf budget shared by both attacks.
        centroids: :class:`ClassCentroids` of the training data.
        steps: feature-space steps; pgd_steps: PGD steps (PGD stops early once it hits the target).
        confidence: feature-space stopping confidence.
        seed: PGD random-start seed.

    Returns:
        An :class:`AttackComparison`.
    """
    x = np.asarray(x, np.float32)
    y = np.asarray(y).astype(np.int64)
    tgt = np.broadcast_to(np.asarray(target, np.int64), (len(x),))
    keep = y != tgt
    x, y, tgt = x[keep], y[keep], tgt[keep]
    if len(x) == 0:
        raise DataError(f"no image has a label other than the target {target!r}")
    runs = {
        "feature_space": lambda a, b, t: feature_space(model, a, b, target=t, eps=eps, centroids=centroids,
                                                       steps=steps, confidence=confidence, seed=seed),
        "pgd": lambda a, b, t: pgd(model, a, b, eps=eps, steps=pgd_steps, target=t, early_stop=True, seed=seed),
    }
    stats = {}
    for name, run in runs.items():
        run(x[:2], y[:2], tgt[:2])
        t0 = time.perf_counter()
        x_adv = np.asarray(run(x, y, tgt), np.float32)
        stats[name] = _stats(name, model, x, x_adv, tgt, time.perf_counter() - t0)
    return AttackComparison(float(eps), tuple(sorted(set(int(t) for t in tgt))), stats["feature_space"], stats["pgd"])
