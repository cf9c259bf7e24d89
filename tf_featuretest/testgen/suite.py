"""The whole feature-level test of one classifier: checker, calibration, latent cases, search, DCGAN cases.

One function for the pipeline's feature stage and for ``featuretest testgen``, so both measure the
same things the same way:

1. the checker: the label committee and an in-distribution check calibrated on held-out real
   images (:func:`build_checker`);
2. its calibration table on the test split (:mod:`.calibration`);
3. latent cases around anchors with found radii (:mod:`.latent`, :mod:`.radius`);
4. failures searched for at equal model calls: random sampling against gradient ascent and an
   evolutionary search (:mod:`.search`);
5. DCGAN cases through the same checker (:mod:`.gan`).

Example:
    >>> checker = build_checker(committee, vae, x_val)  # doctest: +SKIP
    >>> res = run_suite(cnn, vae, checker, (x, y), (x_test, y_test), gan=gan)  # doctest: +SKIP
    >>> res.cases().summary()  # doctest: +SKIP
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from .._util import checks, seeds
from .calibration import CalibrationResult, calibrate
from .cases import TestCases
from .checker import CaseChecker
from .distribution import PERCENTILE, DistributionCheck
from .gan import gan_tests
from .latent import LatentTests, latent_tests
from .search import METHODS, search_failures

#: Search methods run besides the random baseline, by default.
SEARCHES = ("gradient", "evolution")


def build_checker(committee, vae, held_out_images, *, percentile=PERCENTILE) -> CaseChecker:
    """The case checker: ``committee`` for the label, k-NN distance and ELBO thresholds from ``held_out_images``."""
    knn = committee.members.get("knn")
    dist = DistributionCheck.calibrate(held_out_images, knn=knn, vae=vae, percentile=percentile)
    return CaseChecker(committee, dist)


@dataclass(frozen=True)
class SuiteResult:
    """What :func:`run_suite` measured (see the module docstring); ``seconds`` per part."""

    calibration: CalibrationResult
    latent: LatentTests
    search: tuple
    gan: TestCases | None
    seconds: dict

    def cases(self) -> TestCases:
        """Every case of the suite: latent random cases, the directed searches' finds, DCGAN cases."""
        finds = [r.found for r in self.search if r.method != "random" and r.found is not None]
        return TestCases.concat([self.latent.cases, *finds] + ([self.gan] if self.gan is not None else []))

    def search_table(self) -> list:
        return [r.to_dict() for r in self.search]

    def to_dict(self) -> dict:
        return {"calibration": self.calibration.to_dict(), "anchors": self.latent.to_dict(),
                "search": self.search_table(), "seconds": dict(self.seconds)}


def run_suite(model, vae, checker, train, pool, *, pool_index=None, gan=None, calibration_data=None, num_anchors=100,
              per_anchor=10, radius="found", target=0.9, probes=16, steps=5, search_budget=40, searches=SEARCHES,
              gen_samples=500, separation=None, seed=0, progress=lambda m: None) -> SuiteResult:
    """Run the feature-level test of ``model``.

    Args:
        model: the classifier under test.
        vae: the VAE; gan: an optional conditional DCGAN.
        checker: from :func:`build_checker`.
        train: ``(x_train, y_train)``; pool: ``(x, y)`` anchor candidates in preference order, with
            ``pool_index`` their indices in the split.
        calibration_data: ``(x, y)`` held-out real images for the calibration table (default: ``pool``).
        num_anchors, per_anchor, radius, target, probes, steps: see :func:`~tf_featuretest.testgen.latent.latent_tests`.
        search_budget: model calls per anchor for each search method (and for the random baseline).
        searches: directed methods to run (``"gradient"``, ``"evolution"``).
        gen_samples: DCGAN cases (when ``gan`` is given).
        seed: the seed of every random choice.
        progress: called with a line before each part.
    """
    seed = checks.seed(seed)
    search_budget = checks.positive_int(search_budget, "search_budget")
    for s in searches:
        checks.choice(s, "search method", METHODS[1:])
    seconds = {}
    t = time.perf_counter()
    progress("calibrating the case checker ...")
    cx, cy = calibration_data if calibration_data is not None else pool
    cal = calibrate(checker, cx, cy, seed=seeds.derive(seed, 31))
    seconds["calibration"] = time.perf_counter() - t
    t = time.perf_counter()
    progress(f"latent cases: {num_anchors} anchors x {per_anchor}, radius {radius} ...")
    lt = latent_tests(model, vae, checker, train, pool, num_anchors=num_anchors, per_anchor=per_anchor, radius=radius,
                      target=target, probes=probes, steps=steps, pool_index=pool_index, separation=separation,
                      seed=seed)
    seconds["latent"] = time.perf_counter() - t
    results = []
    if len(lt.anchor_index):
        for method in ("random",) + tuple(searches):
            progress(f"searching for failures: {method}, {search_budget} model calls per anchor ...")
            results.append(search_failures(model, vae, checker, lt.anchor_latents, lt.anchor_labels, lt.anchor_radius,
                                           lt.anchor_index, method=method, budget=search_budget,
                                           seed=seeds.derive(seed, 41), num_classes=checker.num_classes))
    gt = None
    if gan is not None:
        t = time.perf_counter()
        progress(f"DCGAN cases: {gen_samples} ...")
        gt = gan_tests(model, gan, checker, n=gen_samples, vae=vae, seed=seed)
        seconds["dcgan"] = time.perf_counter() - t
    return SuiteResult(calibration=cal, latent=lt, search=tuple(results), gan=gt, seconds=seconds)
