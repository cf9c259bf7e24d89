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
    looks_same: float | None = None  # of the successful ones, the share an independent judge still labels as before
    looks_same_overall: float | None = None  # of all images: reached the target and still looks the same

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


@dataclass(frozen=True)
class TargetedRun:
    """One targeted method on a set of images: its stats, per-image outcomes and the images it made."""

    stats: AttackStats
    images: np.ndarray  # [N, H, W, C] the method's output
    predictions: np.ndarray  # [N] the model's labels for them
    success: np.ndarray  # [N] bool: predicted as the target
    looks_same: np.ndarray | None  # [N] bool: the judge still gives the original label (None: no judge)
    ssim: np.ndarray  # [N]

    def per_target(self, targets) -> list:
        """``[{"target", "images", "success", "looks_same", "ssim"}]``, one row per target class."""
        targets = np.asarray(targets)
        rows = []
        for t in sorted(set(int(v) for v in targets)):
            m = targets == t
            hit = m & self.success
            same = None if self.looks_same is None or not hit.any() else float(np.mean(self.looks_same[hit]))
            rows.append({"target": t, "images": int(m.sum()), "success": float(np.mean(self.success[m])),
                         "looks_same": same, "ssim": float(np.mean(self.ssim[m]))})
        return rows


def compare_targeted(model, x, y, *, target, methods: dict, judge=None) -> dict:
    """Run several targeted attacks on the same images and score them the same way.

    Each method is traced once on two images before it is timed, so ``seconds`` is attack time.
    A look-alike *looks the same* when ``judge`` (e.g. the label committee of
    :mod:`tf_featuretest.testgen.judge`, models that are not the one under test) still gives it
    the original label; ``AttackStats.looks_same`` is that share among the successful ones, and
    ``looks_same_overall`` the share of all images that both reached the target and look the same.

    Args:
        model: the classifier under test.
        x, y: images in [0, 1] and their labels; images whose label is the target must be left out
            by the caller (an error names them).
        target: one target class per image.
        methods: ``{name: fn(x, y, target) -> x_adv}``.
        judge: optional ``fn(images, labels) -> bool [N]`` ("still shows that label").

    Returns:
        ``{name: TargetedRun}`` in the order of ``methods``.
    """
    x = np.asarray(x, np.float32)
    y = np.asarray(y).astype(np.int64)
    tgt = np.broadcast_to(np.asarray(target, np.int64), (len(x),)).copy()
    if len(x) == 0:
        raise DataError("compare_targeted needs at least one image, got none")
    same = np.flatnonzero(y == tgt)
    if len(same):
        raise DataError(f"images {same[:5].tolist()} already have their target label {int(tgt[same[0]])}")
    predict = compiled_predict(model)
    out = {}
    for name, run in methods.items():
        run(x[:2], y[:2], tgt[:2])
        t0 = time.perf_counter()
        x_adv = np.asarray(run(x, y, tgt), np.float32)
        seconds = time.perf_counter() - t0
        pred = np.concatenate([np.argmax(predict(tf.constant(x_adv[i:i + 256])).numpy(), 1)
                               for i in range(0, len(x_adv), 256)])
        linf, l2, psnr, ssim_ = image_stats(x, x_adv)
        success = pred == tgt
        looks = None if judge is None else np.asarray(judge(x_adv, y), bool)
        stats = AttackStats(name, float(success.mean()), float(linf.mean()), float(l2.mean()), float(psnr.mean()),
                            float(ssim_.mean()), float(seconds), int(len(x)),
                            looks_same=None if looks is None or not success.any() else float(looks[success].mean()),
                            looks_same_overall=None if looks is None else float((looks & success).mean()))
        out[name] = TargetedRun(stats, x_adv, pred, success, looks, ssim_)
    return out
