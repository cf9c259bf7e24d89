"""Calibration of the case checker, measured in every run: does it accept what it should?

Five properties on held-out real images the checker's models never trained on:

============================  =========================================  ======
set                           passes when the checker ...                target
============================  =========================================  ======
real images, true label       accepts (valid)                            >= 95%
real images, a wrong label    rejects (not valid)                        >= 95%
uniform noise                 rejects                                    >= 95%
inverted images               rejects                                    >= 95%
shapes (another data set)     rejects                                    >= 95%
50/50 blends of two classes   flags invalid or ambiguous                 >= 80%
============================  =========================================  ======

Out-of-distribution images are given the label the committee itself finds most likely (the
hardest label to reject), wrong labels are drawn uniformly from the other classes, a blend
``0.5 a + 0.5 b`` of images of two classes gets ``a``'s label. The shapes are drawn here: ring,
square outline, disc and bar outlines of random size, position and stroke (a data set the models
have never seen, in the data's size and channels).

Example:
    >>> cal = calibrate(checker, x_test, y_test, seed=0)  # doctest: +SKIP
    >>> cal.passed, [r.name for r in cal.rows]  # doctest: +SKIP
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._util import checks
from ..errors import DataError

#: ``(set, what passing means, target share)``.
TARGETS = (("real images, true label", "accepted", 0.95), ("real images, a wrong label", "rejected", 0.95),
           ("uniform noise", "rejected", 0.95), ("inverted images", "rejected", 0.95),
           ("shapes (another data set)", "rejected", 0.95), ("50/50 blends of two classes", "invalid or ambiguous", 0.80))


def draw_shapes(n, image_shape, seed=0) -> np.ndarray:
    """``n`` images of simple shapes (rings, square outlines, discs, bars) in [0, 1], ``[n, H, W, C]``."""
    n = checks.positive_int(n, "n")
    h, w, c = (int(v) for v in image_shape)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    side = float(min(h, w))
    out = np.zeros((n, h, w, c), np.float32)
    for i in range(n):
        cy, cx = rng.uniform(0.3 * h, 0.7 * h), rng.uniform(0.3 * w, 0.7 * w)
        r = rng.uniform(0.15, 0.35) * side
        t = rng.uniform(0.05, 0.11) * side
        kind = i % 4
        if kind == 0:
            m = np.abs(np.hypot(yy - cy, xx - cx) - r) < t / 2
        elif kind == 1:
            inner = (np.abs(yy - cy) <= r - t) & (np.abs(xx - cx) <= r - t)
            m = (np.abs(yy - cy) <= r) & (np.abs(xx - cx) <= r) & ~inner
        elif kind == 2:
            m = np.hypot(yy - cy, xx - cx) < r
        else:
            a = rng.uniform(0, np.pi)
            m = (np.abs((yy - cy) * np.cos(a) - (xx - cx) * np.sin(a)) < t / 2) & (np.hypot(yy - cy, xx - cx) < 1.3 * r)
        colour = np.ones(c, np.float32) if c == 1 else rng.uniform(0.4, 1.0, c).astype(np.float32)
        out[i] = m[..., None].astype(np.float32) * colour
    return out


def calibration_sets(x, y, num_classes, seed=0, n=None) -> dict:
    """``{set name: (images, labels or None)}``; None labels mean "the committee's favourite label"."""
    x = np.asarray(x, np.float32)
    y = np.asarray(y, np.int64)
    if len(x) < 2 or len(x) != len(y):
        raise DataError(f"calibration needs at least two labelled images, got {len(x)} images and {len(y)} labels")
    rng = np.random.default_rng(seed)
    if n is not None and n < len(x):
        keep = np.sort(rng.choice(len(x), int(n), replace=False))
        x, y = x[keep], y[keep]
    wrong = (y + rng.integers(1, num_classes, len(y))) % num_classes
    pairs = rng.permutation(len(x))
    other = y != y[pairs]
    blends = 0.5 * x[other] + 0.5 * x[pairs][other]
    noise = rng.uniform(size=x.shape).astype(np.float32)
    return {TARGETS[0][0]: (x, y), TARGETS[1][0]: (x, wrong), TARGETS[2][0]: (noise, None),
            TARGETS[3][0]: (1.0 - x, None), TARGETS[4][0]: (draw_shapes(len(x), x.shape[1:], seed + 1), None),
            TARGETS[5][0]: (blends.astype(np.float32), y[other])}


@dataclass(frozen=True)
class CalibrationRow:
    """One calibration set: ``rate`` is the share that passed (accepted, rejected or flagged as ``goal`` says)."""

    name: str
    goal: str
    n: int
    rate: float
    target: float
    in_distribution: float
    kept: float
    ambiguous: float

    @property
    def passed(self) -> bool:
        return self.n > 0 and self.rate >= self.target

    def to_dict(self) -> dict:
        return {"set": self.name, "goal": self.goal, "n": self.n, "rate": self.rate, "target": self.target,
                "passed": self.passed, "in_distribution": self.in_distribution, "kept": self.kept,
                "ambiguous": self.ambiguous}


@dataclass(frozen=True)
class CalibrationResult:
    """The calibration table (:data:`TARGETS`), measured on ``split`` images."""

    rows: tuple
    split: str
    seed: int

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.rows)

    def failed(self) -> list:
        return [r.name for r in self.rows if not r.passed]

    def to_dict(self) -> dict:
        return {"rows": [r.to_dict() for r in self.rows], "passed": self.passed, "failed": self.failed(),
                "split": self.split, "seed": self.seed}

    def table(self) -> str:
        lines = [f"{'calibration set':<30}{'n':>6}{'goal':>22}{'rate':>8}{'target':>8}  ok"]
        for r in self.rows:
            lines.append(f"{r.name:<30}{r.n:>6}{r.goal:>22}{r.rate:>8.1%}{r.target:>8.0%}  {'yes' if r.passed else 'NO'}")
        return "\n".join(lines)


def calibrate(checker, x, y, *, seed=0, n=None, split="test") -> CalibrationResult:
    """Measure the checker on the calibration sets built from held-out ``(x, y)``.

    Args:
        checker: a :class:`~tf_featuretest.testgen.checker.CaseChecker`.
        x, y: held-out real images and labels (not used to train or calibrate the checker).
        seed: seed of the wrong labels, blend pairs, noise and shapes.
        n: use a seeded sample of at most ``n`` images (all by default).
        split: the name of the split ``x`` comes from (for reports).
    """
    sets = calibration_sets(x, y, checker.num_classes, seed=seed, n=n)
    rows = []
    for (name, goal, target) in TARGETS:
        images, labels = sets[name]
        if labels is None:
            labels = checker.favourite_labels(images)
        c = checker.check(images, labels)
        if goal == "accepted":
            ok = c.valid
        else:  # rejected, or flagged invalid / ambiguous: anything but a valid case
            ok = ~c.valid
        r = c.rates()
        rows.append(CalibrationRow(name=name, goal=goal, n=len(c), rate=float(np.mean(ok)) if len(c) else 0.0,
                                   target=target, in_distribution=r["in_distribution"], kept=r["kept"],
                                   ambiguous=r["ambiguous"]))
    return CalibrationResult(rows=tuple(rows), split=split, seed=int(seed))
