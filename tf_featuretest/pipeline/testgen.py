"""``featuretest testgen``: the whole feature-level test of one model, outside a pipeline run.

Separation in pixel and latent space, latent test cases, optional DCGAN cases, plots and
``results.json`` in one call.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from .._util.io import makedirs, nan_to_none, write_json
from ..data import load, load_arrays
from ..models.saving import load_generative, save_model_atomic
from ..models.vae import train_vae
from ..report import feature_plots as fp
from ..testgen.gan import gan_tests
from ..testgen.latent import LatentTestResult, latent_tests
from ..testgen.separation import SeparationResult, encode_features, r_separation


@dataclass(frozen=True)
class TestgenResult:
    """Pixel (L-inf) and latent (L2) separation, latent cases and (optionally) DCGAN cases.

    Attributes:
        data: the data source; pixel, latent: :class:`SeparationResult`; latent_cases, gan_cases:
        :class:`LatentTestResult` (``gan_cases`` None without a generator); vae_path: the VAE used;
        plots: written PNG paths.
    """

    data: str
    pixel: SeparationResult
    latent: SeparationResult
    latent_cases: LatentTestResult
    gan_cases: LatentTestResult | None
    vae_path: str | None
    plots: tuple = ()

    def to_dict(self) -> dict:
        return {"data": self.data, "separation": {"pixel": self.pixel.to_dict(), "latent": self.latent.to_dict()},
                "latent_cases": self.latent_cases.to_dict(),
                "gan_cases": None if self.gan_cases is None else self.gan_cases.to_dict(),
                "vae_path": self.vae_path, "plots": list(self.plots)}

    def table(self) -> str:
        def f(v):
            v = nan_to_none(v)
            return "n/a" if v is None else f"{v:.4f}"

        lines = [f"{'separation':<22}{'train-train min':>16}{'test-train min':>16}{'r':>10}"]
        for name, s in (("pixel (L-inf)", self.pixel), ("latent (L2)", self.latent)):
            lines.append(f"{name:<22}{s.train_train_min:>16.4f}{f(s.test_train_min):>16}{s.r:>10.4f}")
        lines.append("")
        lines.append(f"{'cases':<22}{'n':>6}{'valid':>8}{'nearest':>9}{'reenc':>8}{'elbo':>8}{'acc(valid)':>12}"
                     f"{'acc(all)':>10}{'failing':>9}")
        for name, c in (("latent " + self.latent_cases.radius_kind, self.latent_cases), ("dcgan", self.gan_cases)):
            if c is None:
                continue
            r = c.check_rates
            lines.append(f"{name:<22}{c.num_cases:>6}{c.validity_rate:>8.1%}{r['nearest']:>9.1%}"
                         f"{r['reencode']:>8.1%}{r['elbo']:>8.1%}{f(c.accuracy):>12}{f(c.accuracy_all):>10}"
                         f"{len(c.failing()):>9}")
        return "\n".join(lines)


def generate_tests(model, data="digits", *, vae_path=None, gan_path=None, radius="0.5local", n=1000, count=10,
                vae_epochs=30, seed=0, out=None, data_dir=None, batch_size=128, image_size=None,
                progress=lambda m: None) -> TestgenResult:
    """Separation in pixel and latent space, latent and DCGAN test cases, plots and ``results.json``.

    Trains a VAE (``vae_epochs``) when ``vae_path`` is None and saves it to ``out/vae.keras``.

    Example:
        >>> res = generate_tests(cnn, "digits", n=200, out="runs/testgen")  # doctest: +SKIP
        >>> print(res.table())  # doctest: +SKIP
    """
    shape = model.input_shape
    size = image_size or (shape[1], shape[2])
    kw = dict(image_size=size, channels=shape[3], data_dir=data_dir)
    x, y, info = load_arrays(data, "train", **kw)
    xt, yt, _ = load_arrays(data, "test", **kw)
    names = list(info.class_names)
    if vae_path:
        vae = load_generative(vae_path, "vae")
    else:
        progress(f"training a VAE on {len(x)} images for {vae_epochs} epochs ...")
        ds, _ = load(data, "train", batch_size=batch_size, seed=seed, **kw)
        vae = train_vae(ds, info.image_shape, epochs=vae_epochs, seed=seed)
        if out:
            vae_path = save_model_atomic(vae, os.path.join(out, "vae.keras"))
    progress("r-separation in pixel space (L-inf) and latent space (L2) ...")
    pixel = r_separation(x, y, x_test=xt, y_test=yt, norm="inf")
    latent = r_separation(x, y, x_test=xt, y_test=yt, norm=2, space=vae)
    progress(f"generating {n} latent test cases (radius {radius}) ...")
    cases = latent_tests(model, vae, (x, y), (xt, yt), n=n, count=count, radius=radius, separation=latent, seed=seed)
    gan_cases = None
    if gan_path:
        progress(f"generating {n} DCGAN test cases ...")
        gan = load_generative(gan_path, "generator")
        gan_cases = gan_tests(model, gan, vae, (x, y), n=n, radius="local", separation=latent, seed=seed)
    plots = []
    if out:
        makedirs(out)
        p = lambda name: os.path.join(out, name)  # noqa: E731
        z_train = encode_features(vae, x)
        plots += [fp.plot_separation_histograms([pixel, latent], p("separation_hist.png")),
                  fp.plot_closest_pairs(pixel, x, y, p("closest_pairs.png"), x_test=xt, class_names=names),
                  fp.plot_latent_map(z_train, y, p("latent_map.png"), class_names=names,
                                     generated=(cases.latents, cases.valid)),
                  fp.plot_generated_gallery(cases, p("latent_gallery.png"), class_names=names),
                  fp.plot_failing_cases(cases, p("latent_failing.png"), class_names=names)]
        if gan_cases is not None:
            plots += [fp.plot_generated_gallery(gan_cases, p("dcgan_gallery.png"), class_names=names),
                      fp.plot_failing_cases(gan_cases, p("dcgan_failing.png"), class_names=names)]
    res = TestgenResult(data=data, pixel=pixel, latent=latent, latent_cases=cases, gan_cases=gan_cases,
                        vae_path=vae_path, plots=tuple(plots))
    if out:
        write_json(os.path.join(out, "results.json"), res.to_dict())
    return res
