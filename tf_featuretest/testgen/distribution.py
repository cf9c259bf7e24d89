"""Is an image in distribution? Density scores calibrated on held-out real images.

The first of the two questions a generated case must pass (the second, "is the label kept", is
the committee's, :mod:`.judge`). Two scores, each with a threshold taken from real images the
models did not train on (the validation split):

- ``knn_distance``: the mean pixel-space distance to the ``k`` nearest training images (the
  committee's k-NN reference); large for noise, inverted images, other data sets. It does not
  depend on the generator, so it also judges the generator's own images fairly.
- ``elbo`` (when a VAE is given): the VAE's evidence lower bound; low for images the VAE cannot
  explain.

An image is in distribution when every score is on the real side of its threshold: the
``percentile``-th percentile of the held-out scores (the ``100 - percentile``-th for the ELBO,
where higher is better), widened by ``slack`` of the held-out spread so that a finite sample of
real images does not reject the next real image. The thresholds and the share of held-out images
each accepts are kept (:meth:`DistributionCheck.to_dict`).

Example:
    >>> check = DistributionCheck.calibrate(x_val, knn=committee.members["knn"], vae=vae)  # doctest: +SKIP
    >>> ok, scores = check.evaluate(images)  # doctest: +SKIP
"""
from __future__ import annotations

import numpy as np

from .._util import checks
from ..errors import ConfigError, DataError

#: Default percentile of the held-out scores a threshold sits at.
PERCENTILE = 99.5
#: Default widening of a threshold, as a share of the held-out scores' 5-95% range.
SLACK = 0.1


def check_percentile(value, name="percentile") -> float:
    """A threshold percentile in [50, 100]."""
    return checks.number(value, name, low=50.0, high=100.0)


def elbo_scores(vae, images, batch_size=256) -> np.ndarray:
    """Per-image ELBO of ``images`` under ``vae`` (float64 ``[N]``)."""
    images = np.asarray(images, np.float32)
    out = [np.asarray(vae.elbo(images[i:i + batch_size]), np.float64) for i in range(0, len(images), batch_size)]
    return np.concatenate(out) if out else np.zeros(0)


class DistributionCheck:
    """Thresholds on density scores, calibrated on held-out real images.

    Args:
        knn: a :class:`~tf_featuretest.testgen.judge.PixelKNN` (its ``distances``), or None.
        vae: a VAE (its ``elbo``), or None. At least one of the two.
        thresholds: ``{"knn_distance": upper bound, "elbo": lower bound}`` for the given scores.
        held_out: ``{score: share of the held-out images it accepted}`` (for reports).
        percentile, slack: how the thresholds were set (for reports).
    """

    def __init__(self, *, knn=None, vae=None, thresholds: dict, held_out=None, percentile=PERCENTILE, slack=SLACK):
        if knn is None and vae is None:
            raise ConfigError("an in-distribution check needs a k-NN reference or a VAE")
        want = (["knn_distance"] if knn is not None else []) + (["elbo"] if vae is not None else [])
        missing = [k for k in want if k not in thresholds]
        if missing:
            raise ConfigError(f"missing in-distribution threshold(s) {missing}")
        self.knn, self.vae = knn, vae
        self.thresholds = {k: float(thresholds[k]) for k in want}
        self.held_out = dict(held_out or {})
        self.percentile, self.slack = float(percentile), float(slack)

    @classmethod
    def calibrate(cls, held_out_images, *, knn=None, vae=None, percentile=PERCENTILE, slack=SLACK,
                  batch_size=256) -> DistributionCheck:
        """Set each threshold from real images the models did not train on."""
        x = np.asarray(held_out_images, np.float32)
        if x.ndim != 4 or len(x) < 10:
            raise DataError(f"calibrating the in-distribution check needs at least 10 held-out images, got shape "
                            f"{x.shape}")
        percentile = check_percentile(percentile)
        slack = checks.non_negative(slack, "slack")
        thresholds, accepted = {}, {}
        if knn is not None:
            d = np.asarray(knn.distances(x), np.float64)
            lo, hi = np.percentile(d, [5, 95])
            thresholds["knn_distance"] = float(np.percentile(d, percentile) + slack * (hi - lo))
            accepted["knn_distance"] = float(np.mean(d <= thresholds["knn_distance"]))
        if vae is not None:
            e = elbo_scores(vae, x, batch_size)
            lo, hi = np.percentile(e, [5, 95])
            thresholds["elbo"] = float(np.percentile(e, 100.0 - percentile) - slack * (hi - lo))
            accepted["elbo"] = float(np.mean(e >= thresholds["elbo"]))
        return cls(knn=knn, vae=vae, thresholds=thresholds, held_out={"n": int(len(x)), "accepted": accepted},
                   percentile=percentile, slack=slack)

    @property
    def score_names(self) -> tuple:
        return tuple(self.thresholds)

    def scores(self, images, batch_size=256) -> dict:
        """``{score name: [N] float}`` for ``images``."""
        images = np.asarray(images, np.float32)
        out = {}
        if self.knn is not None:
            out["knn_distance"] = np.asarray(self.knn.distances(images), np.float64)
        if self.vae is not None:
            out["elbo"] = elbo_scores(self.vae, images, batch_size)
        return out

    def passes(self, scores: dict) -> np.ndarray:
        """``[N]`` bool: every score on the real side of its threshold."""
        ok = None
        for name, t in self.thresholds.items():
            s = np.asarray(scores[name])
            this = s <= t if name == "knn_distance" else s >= t
            ok = this if ok is None else ok & this
        return ok

    def evaluate(self, images, batch_size=256):
        """``(in_distribution [N] bool, scores dict)``."""
        scores = self.scores(images, batch_size)
        return self.passes(scores), scores

    def to_dict(self) -> dict:
        return {"scores": list(self.thresholds), "thresholds": dict(self.thresholds), "percentile": self.percentile,
                "slack": self.slack, "held_out": self.held_out}
