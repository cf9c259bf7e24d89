"""Found radii: per anchor, the largest latent radius whose samples still pass the checker.

A guessed radius is either too small (cases are copies of the anchor) or too large (labels no
longer hold). For each anchor ``a`` with latent mean ``z_a`` and an upper bound ``u_a`` (its
margin r_i: half its latent distance to the nearest training point of another class), we search
the largest ``rho <= u_a`` at which at least ``target`` of ``probes`` points drawn uniformly from
the ball of radius ``rho`` around ``z_a`` decode to valid cases (in distribution, label kept).
First ``rho = u_a`` is tried; anchors that fail it are bisected on ``[0, u_a]`` for ``steps``
steps, keeping the largest radius that passed. Anchors whose own reconstruction is not a valid
case are skipped (reported), and so are anchors where no tried radius passed.

Example:
    >>> found = find_radii(checker, vae, z_anchor, labels, margins, target=0.9)  # doctest: +SKIP
    >>> found.radius[found.usable]  # doctest: +SKIP
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from .._util import checks, seeds
from ..errors import DataError

#: Radius percentiles reported.
PERCENTILES = (0, 10, 25, 50, 75, 90, 100)


def sample_ball(centers, count, radius, seed) -> np.ndarray:
    """``count`` points per centre, uniform in the Euclidean ball of ``radius`` (per centre), anchor-major."""
    centers = np.asarray(centers, np.float32)
    a, d = centers.shape
    radius = np.broadcast_to(np.asarray(radius, np.float32).reshape(-1), (a,))
    g = tf.random.stateless_normal([a * count, d], seed=[int(seed) % (2 ** 31 - 1), 11]).numpy()
    g /= np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-12)
    u = tf.random.stateless_uniform([a * count, 1], seed=[int(seed) % (2 ** 31 - 1), 12]).numpy()
    scale = u ** (1.0 / d) * np.repeat(radius, count)[:, None]
    return (np.repeat(centers, count, axis=0) + g * scale).astype(np.float32)


def decode(vae, z, batch_size=256) -> np.ndarray:
    """Decoded images of latent points ``z`` (float32, [0, 1])."""
    z = np.asarray(z, np.float32)
    out = [np.asarray(vae.decode(tf.constant(z[i:i + batch_size])), np.float32) for i in range(0, len(z), batch_size)]
    return np.concatenate(out) if out else np.zeros((0,), np.float32)


@dataclass(frozen=True)
class FoundRadii:
    """Per anchor: the found radius, its upper bound, and why an anchor was skipped.

    Attributes:
        radius: ``[A]`` found radius (0 where skipped).
        upper: ``[A]`` the bound searched under (the anchor's margin).
        share: ``[A]`` share of the probes that passed at the found radius.
        reconstruction_valid: ``[A]`` whether the anchor's own reconstruction is a valid case.
        reconstruction_status: ``[A]`` the committee's verdict code on the reconstruction.
        usable: ``[A]`` anchors to sample around (reconstruction valid and a radius found).
        target, probes, steps: the search's settings; checks: images the checker looked at.
    """

    radius: np.ndarray
    upper: np.ndarray
    share: np.ndarray
    reconstruction_valid: np.ndarray
    reconstruction_status: np.ndarray
    usable: np.ndarray
    target: float
    probes: int
    steps: int
    checks: int

    def to_dict(self) -> dict:
        use = self.usable
        ratio = self.radius[use] / np.maximum(self.upper[use], 1e-12)
        pct = (lambda v: {str(p): float(q) for p, q in zip(PERCENTILES, np.percentile(v, PERCENTILES))}
               if len(v) else {})
        return {"target": self.target, "probes": self.probes, "steps": self.steps, "checks": self.checks,
                "anchors": int(len(self.radius)), "usable": int(use.sum()),
                "skipped_reconstruction": int((~self.reconstruction_valid).sum()),
                "skipped_no_radius": int((self.reconstruction_valid & ~use).sum()),
                "at_upper_bound": int(np.sum(use & (self.radius >= self.upper * (1 - 1e-6)))),
                "radius_percentiles": pct(self.radius[use]), "ratio_to_margin_percentiles": pct(ratio),
                "margin_percentiles": pct(self.upper), "radius": self.radius.tolist(), "upper": self.upper.tolist(),
                "share": self.share.tolist()}


def _pass_share(checker, vae, z, labels, radius, probes, seed):
    pts = sample_ball(z, probes, radius, seed)
    c = checker.check(decode(vae, pts), np.repeat(labels, probes))
    return c.valid.reshape(len(z), probes).mean(axis=1)


def find_radii(checker, vae, z_anchor, labels, upper, *, target=0.9, probes=16, steps=5, seed=0) -> FoundRadii:
    """Search each anchor's radius (see the module docstring).

    Args:
        checker: a :class:`~tf_featuretest.testgen.checker.CaseChecker`.
        vae: the VAE (``decode``).
        z_anchor: ``[A, D]`` the anchors' latent means; labels: ``[A]`` their labels.
        upper: ``[A]`` (or scalar) the largest radius allowed per anchor.
        target: share of probe samples that must pass.
        probes: samples per anchor and tried radius.
        steps: bisection steps after the upper bound failed.
        seed: seed of the probe samples.
    """
    z = np.asarray(z_anchor, np.float32)
    labels = np.asarray(labels, np.int64)
    if z.ndim != 2 or len(z) != len(labels):
        raise DataError(f"need latent anchors [A, D] and A labels, got {z.shape} and {labels.shape}")
    target = checks.fraction(target, "target")
    probes = checks.positive_int(probes, "probes")
    steps = checks.non_negative_int(steps, "steps")
    upper = np.broadcast_to(np.asarray(upper, np.float32).reshape(-1) if np.ndim(upper) else np.float32(upper),
                            (len(z),)).astype(np.float32)
    start = checker.calls
    rec = checker.check(decode(vae, z), labels)
    rec_ok = rec.valid
    radius = np.zeros(len(z), np.float32)
    share = np.zeros(len(z), np.float32)
    todo = np.flatnonzero(rec_ok & (upper > 0))
    if len(todo):
        s = _pass_share(checker, vae, z[todo], labels[todo], upper[todo], probes, seeds.derive(seed, 0))
        good = s >= target
        radius[todo[good]], share[todo[good]] = upper[todo[good]], s[good]
        todo = todo[~good]
    lo, hi = np.zeros(len(z), np.float32), upper.copy()
    for step in range(steps):
        if not len(todo):
            break
        mid = (lo[todo] + hi[todo]) / 2
        s = _pass_share(checker, vae, z[todo], labels[todo], mid, probes, seeds.derive(seed, step + 1))
        good = s >= target
        lo[todo[good]], hi[todo[~good]] = mid[good], mid[~good]
        better = good & (mid > radius[todo])
        radius[todo[better]], share[todo[better]] = mid[better], s[better]
    usable = rec_ok & (radius > 0)
    return FoundRadii(radius=radius, upper=upper, share=share, reconstruction_valid=rec_ok,
                      reconstruction_status=rec.code.copy(), usable=usable, target=float(target), probes=probes,
                      steps=steps, checks=int(checker.calls - start))
