"""``featuretest testgen``: the whole feature-level test of one model outside a pipeline run, and replays.

:func:`generate_tests` runs r-separation, trains (or loads) the VAE and the label committee, builds
the checker, measures its calibration, generates latent cases with found radii, searches for
failures, optionally checks DCGAN cases, and writes ``results.json``, ``cases.npz`` and plots.
:func:`replay_cases` scores another model on a ``cases.npz``.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from .._util.io import makedirs, nan_to_none, write_json
from ..data import load, load_arrays
from ..data.subset import stratified_indices
from ..errors import ModelError
from ..models.saving import load_classifier, load_generative, save_model_atomic
from ..models.vae import train_vae
from ..report import feature_plots as fp
from ..testgen.cases import ReplayResult, load_cases, replay, save_cases
from ..testgen.judge import DEFAULT_MEMBERS, member_seed, train_committee, train_member
from ..testgen.latent import parse_radius, predict_labels
from ..testgen.separation import SeparationResult, r_separation
from ..testgen.suite import SuiteResult, build_checker, run_suite

#: Defaults of the VAE trained when none is given (the tuned defaults of the pipeline's feature stage).
VAE_LATENT_DIM, VAE_BETA, VAE_EPOCHS = 32, 0.25, 40
COMMITTEE_EPOCHS = 30


@dataclass(frozen=True)
class TestgenResult:
    """Pixel (L-inf) and latent (L2) separation and the feature-level suite of one model.

    Attributes:
        data: the data source; pixel, latent: :class:`SeparationResult`; suite: :class:`SuiteResult`;
        committee: member descriptions and accuracies; vae_path, cases_path: files used / written;
        plots: written PNG paths.
    """

    __test__ = False

    data: str
    pixel: SeparationResult
    latent: SeparationResult
    suite: SuiteResult
    committee: dict
    vae_path: str | None
    cases_path: str | None
    plots: tuple = ()

    def to_dict(self) -> dict:
        cases = self.suite.cases()
        return {"data": self.data, "separation": {"pixel": self.pixel.to_dict(), "latent": self.latent.to_dict()},
                "committee": self.committee, **self.suite.to_dict(),
                "latent_cases": cases.summary("random"), "gan_cases": cases.summary("dcgan"),
                "all_cases": cases.summary(), "confirmed_failures": cases.failures(),
                "vae_path": self.vae_path, "cases_path": self.cases_path, "plots": list(self.plots)}

    def table(self) -> str:
        def f(v, fmt="{:.4f}"):
            v = nan_to_none(v)
            return "n/a" if v is None else fmt.format(v)

        lines = [f"{'separation':<22}{'train-train min':>16}{'test-train min':>16}{'r':>10}"]
        for name, s in (("pixel (L-inf)", self.pixel), ("latent (L2)", self.latent)):
            lines.append(f"{name:<22}{s.train_train_min:>16.4f}{f(s.test_train_min):>16}{s.r:>10.4f}")
        lines += ["", self.suite.calibration.table(), ""]
        lines.append(f"{'cases':<16}{'n':>6}{'valid':>7}{'yield':>8}{'ambig':>7}{'acc(valid)':>12}{'confirmed':>11}")
        cases = self.suite.cases()
        for origin in dict.fromkeys(cases.origin.tolist()):
            s = cases.summary(origin)
            lines.append(f"{origin:<16}{s['num_cases']:>6}{s['num_valid']:>7}{s['yield']:>8.1%}{s['num_ambiguous']:>7}"
                         f"{f(s['accuracy_on_valid'], '{:.1%}'):>12}{s['num_confirmed_failures']:>11}")
        if self.suite.search:
            lines += ["", f"{'search':<12}{'model calls':>12}{'confirmed':>11}{'per minute':>12}"]
            for r in self.suite.search_table():
                lines.append(f"{r['method']:<12}{r['model_calls']:>12}{r['confirmed']:>11}"
                             f"{f(r['confirmed_per_minute'], '{:.0f}'):>12}")
        return "\n".join(lines)


def _committee(x, y, info, out, seed, epochs, progress):
    """Train the committee's networks, or load them from ``out`` when the same data and seed made them."""
    trained = {}
    for i, kind in enumerate(DEFAULT_MEMBERS):
        if kind == "knn":
            continue
        key = hashlib.sha1(f"{info.fingerprint}|{kind}|{i}|{epochs}|{seed}".encode()).hexdigest()[:12]
        path = os.path.join(out, f"committee-{kind}-{key}.keras") if out else None
        if path and os.path.exists(path):
            trained[kind] = load_classifier(path)
            continue
        progress(f"training the committee's {kind} on {len(x)} images ...")
        trained[kind] = train_member(kind, x, y, info.num_classes, epochs=epochs, seed=member_seed(seed, i))
        if path:
            save_model_atomic(trained[kind], path)
    return train_committee(x, y, num_classes=info.num_classes, members=DEFAULT_MEMBERS, trained=trained, seed=seed)


def generate_tests(model, data="digits", *, vae_path=None, gan_path=None, radius="found", n=1000, count=10,
                   vae_epochs=VAE_EPOCHS, search_budget=40, committee_epochs=COMMITTEE_EPOCHS, seed=0, out=None,
                   data_dir=None, batch_size=128, image_size=None, progress=lambda m: None) -> TestgenResult:
    """The feature-level test of ``model`` on ``data``; writes ``results.json``, ``cases.npz`` and plots to ``out``.

    Trains a VAE (``vae_epochs``) when ``vae_path`` is None and saves it to ``out/vae.keras``; the
    committee's networks are kept in ``out`` and reused by a later call on the same data and seed.

    Example:
        >>> res = generate_tests(cnn, "digits", n=200, out="runs/testgen")  # doctest: +SKIP
        >>> print(res.table())  # doctest: +SKIP
    """
    parse_radius(radius)  # a bad radius fails before any training
    shape = model.input_shape
    size = image_size or (shape[1], shape[2])
    kw = dict(image_size=size, channels=shape[3], data_dir=data_dir)
    x, y, info = load_arrays(data, "train", **kw)
    xv, _, _ = load_arrays(data, "validation", **kw)
    xt, yt, _ = load_arrays(data, "test", **kw)
    names = list(info.class_names)
    if out:
        makedirs(out)
    if vae_path:
        vae = load_generative(vae_path, "vae")
    else:
        progress(f"training a VAE on {len(x)} images for {vae_epochs} epochs ...")
        ds, _ = load(data, "train", batch_size=batch_size, seed=seed, **kw)
        vae = train_vae(ds, info.image_shape, latent_dim=VAE_LATENT_DIM, beta=VAE_BETA, epochs=vae_epochs, seed=seed)
        if out:
            vae_path = save_model_atomic(vae, os.path.join(out, "vae.keras"))
    committee = _committee(x, y, info, out, seed, committee_epochs, progress)
    committee.accuracies.update(committee.accuracy(xt, yt))
    progress("r-separation in pixel space (L-inf) and latent space (L2) ...")
    pixel = r_separation(x, y, x_test=xt, y_test=yt, norm="inf")
    latent = r_separation(x, y, x_test=xt, y_test=yt, norm=2, space=vae)
    checker = build_checker(committee, vae, xv)
    gan = load_generative(gan_path, "generator") if gan_path else None
    order = stratified_indices(yt, None, seed=seed, num_classes=info.num_classes)
    suite = run_suite(model, vae, checker, (x, y), (xt[order], yt[order]), pool_index=order, gan=gan,
                      calibration_data=(xt, yt), num_anchors=-(-n // count), per_anchor=count, radius=radius,
                      search_budget=search_budget, gen_samples=n, separation=latent, seed=seed, progress=progress)
    cases = suite.cases()
    plots, cases_path = [], None
    if out:
        p = lambda name: os.path.join(out, name)  # noqa: E731
        cases_path = save_cases(cases, p("cases.npz"))
        plots += [fp.plot_separation_histograms([pixel, latent], p("separation_hist.png")),
                  fp.plot_closest_pairs(pixel, x, y, p("closest_pairs.png"), x_test=xt, class_names=names),
                  fp.plot_radii(suite.latent.radii, p("radii.png")),
                  fp.plot_failing_cases(cases, xt, p("failing.png"), class_names=names)]
        if len(suite.latent.cases):
            plots.append(fp.plot_generated_gallery(suite.latent.cases, xt, p("latent_gallery.png"), class_names=names))
        if suite.search:
            plots.append(fp.plot_search(suite.search_table(), p("search.png")))
    res = TestgenResult(data=data, pixel=pixel, latent=latent, suite=suite,
                        committee={**checker.to_dict(), "accuracies": dict(committee.accuracies)},
                        vae_path=vae_path, cases_path=cases_path, plots=tuple(plots))
    if out:
        write_json(os.path.join(out, "results.json"), res.to_dict())
    return res


def replay_cases(model, cases_path, *, out=None, batch_size=256) -> ReplayResult:
    """Score ``model`` on the cases stored in ``cases_path``; writes ``replay.json`` to ``out`` when given."""
    cases = load_cases(cases_path)
    want = tuple(cases.images.shape[1:])
    have = tuple(model.input_shape[1:])
    if any(h is not None and h != w for h, w in zip(have, want)) or len(have) != len(want):
        raise ModelError(f"the model takes images of shape {have}, the cases in {cases_path} are {want}")
    res = replay(cases, predict_labels(model, cases.images, batch_size))
    if out:
        write_json(os.path.join(out, "replay.json"), {"cases": str(cases_path), **res.to_dict()})
    return res
