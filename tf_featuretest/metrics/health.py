"""Health checks of the generative models: is the VAE a usable map, does the DCGAN draw the data?

A collapsed VAE (every image encoded to one point) or a DCGAN that draws noise still produces
numbers downstream; these checks say so before anyone reads them.

VAE (on held-out real images):

- ``reconstruction``: per-pixel mean squared reconstruction error, against the error of always
  answering the training mean image; fails above ``RECONSTRUCTION_RATIO`` of that baseline.
- ``latent_spread``: active latent units (Burda et al., 2016: dimensions whose latent mean varies
  across images with variance > 0.01); fails with none.
- ``kl``: mean KL divergence of the posterior from the prior per image; fails below ``KL_FLOOR``
  nats (posterior collapse: the encoder says nothing about the image).

DCGAN (generated against held-out real images, class for class):

- ``discriminator``: accuracy of the trained discriminator telling held-out real images from
  generated ones; fails at or above ``DISCRIMINATOR_CEILING`` (the generator fools it never).
- ``fid``: FID against the real-vs-real reference computed with the same features; fails above
  ``FID_RATIO`` times the reference (plus a small floor for a near-zero reference).
- ``modes``: classes the label committee recognises in at least half their fair share of the
  generated images; fails when a class is missing (mode dropping).

Example:
    >>> report = vae_health(vae, x_val, x_train_mean)  # doctest: +SKIP
    >>> report.passed, report.warnings()  # doctest: +SKIP
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DataError

RECONSTRUCTION_RATIO = 0.5
ACTIVE_VARIANCE = 0.01
KL_FLOOR = 1.0
DISCRIMINATOR_CEILING = 0.95
FID_RATIO = 10.0


@dataclass(frozen=True)
class HealthCheck:
    """One check: ``value`` against ``threshold`` (``passed`` when on the right side), with a sentence."""

    name: str
    value: float
    threshold: float
    passed: bool
    detail: str

    def to_dict(self) -> dict:
        return {"name": self.name, "value": float(self.value), "threshold": float(self.threshold),
                "passed": bool(self.passed), "detail": self.detail}


@dataclass(frozen=True)
class HealthReport:
    """The checks of one generative model (``"vae"`` or ``"dcgan"``)."""

    model: str
    checks: tuple
    extra: dict

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def warnings(self) -> list:
        return [f"{self.model}: {c.detail}" for c in self.checks if not c.passed]

    def to_dict(self) -> dict:
        return {"model": self.model, "passed": self.passed, "checks": [c.to_dict() for c in self.checks],
                "warnings": self.warnings(), **self.extra}


def _batched(fn, x, batch_size):
    out = [fn(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
    return out


def vae_health(vae, images, train_mean, *, batch_size=256) -> HealthReport:
    """Reconstruction error vs the mean image, active latent units and KL of ``vae`` on held-out ``images``."""
    x = np.asarray(images, np.float32)
    if x.ndim != 4 or len(x) < 2:
        raise DataError(f"VAE health checks need at least two held-out images [N, H, W, C], got shape {x.shape}")
    mean = np.asarray(train_mean, np.float32).reshape(x.shape[1:])
    parts = _batched(lambda b: vae.encode(b), x, batch_size)
    z_mean = np.concatenate([np.asarray(p[0], np.float64) for p in parts])
    z_log_var = np.concatenate([np.asarray(p[1], np.float64) for p in parts])
    rec = np.concatenate([np.asarray(vae.decode(p[0]), np.float64) for p in parts])
    err = float(np.mean((rec - x) ** 2))
    base = float(np.mean((mean[None] - x) ** 2))
    ratio = err / base if base > 0 else float("inf")
    var = z_mean.var(axis=0)
    active = int(np.sum(var > ACTIVE_VARIANCE))
    kl = float(np.mean(-0.5 * np.sum(1 + z_log_var - z_mean ** 2 - np.exp(z_log_var), axis=1)))
    checks = (
        HealthCheck("reconstruction", ratio, RECONSTRUCTION_RATIO, ratio <= RECONSTRUCTION_RATIO,
                    f"reconstruction error {err:.4f} per pixel is {ratio:.0%} of the mean-image baseline {base:.4f} "
                    f"({'fine' if ratio <= RECONSTRUCTION_RATIO else 'too high: the VAE barely reconstructs'}; "
                    f"limit {RECONSTRUCTION_RATIO:.0%})"),
        HealthCheck("latent_spread", active, 1, active >= 1,
                    f"{active} of {z_mean.shape[1]} latent dimensions are active (variance of the latent mean over "
                    f"images > {ACTIVE_VARIANCE})" + ("" if active else ": the encoder maps every image to one point")),
        HealthCheck("kl", kl, KL_FLOOR, kl >= KL_FLOOR,
                    f"mean KL from the prior is {kl:.2f} nats per image" +
                    ("" if kl >= KL_FLOOR else f", under {KL_FLOOR:g}: posterior collapse")))
    return HealthReport("vae", checks, {"reconstruction_mse": err, "baseline_mse": base, "active_units": active,
                                        "latent_dim": int(z_mean.shape[1]), "kl": kl,
                                        "latent_std": float(np.sqrt(var.mean()))})


def dcgan_health(gan, real_images, real_labels, generated, generated_labels, *, fid, real_fid, recognised,
                 batch_size=256) -> HealthReport:
    """Discriminator accuracy, FID against the real-vs-real reference, and mode count of a conditional DCGAN.

    Args:
        gan: the DCGAN (its ``discriminator([images, labels])`` gives logits).
        real_images, real_labels: held-out real images and labels.
        generated, generated_labels: generated images and the labels they were conditioned on.
        fid: FID of generated against real images; real_fid: FID of real against real (same features).
        recognised: ``[N]`` the label an independent judge gives each generated image.
    """
    xr, yr = np.asarray(real_images, np.float32), np.asarray(real_labels, np.int64)
    xg, yg = np.asarray(generated, np.float32), np.asarray(generated_labels, np.int64)
    rec = np.asarray(recognised, np.int64)
    if len(xr) == 0 or len(xg) == 0 or len(rec) != len(xg):
        raise DataError(f"DCGAN health checks need real and generated images and one judged label per generated "
                        f"image, got {len(xr)}, {len(xg)} and {len(rec)}")
    d_real = np.concatenate([np.asarray(gan.discriminator([xr[i:i + batch_size], yr[i:i + batch_size]],
                                                          training=False)).reshape(-1)
                             for i in range(0, len(xr), batch_size)])
    d_fake = np.concatenate([np.asarray(gan.discriminator([xg[i:i + batch_size], yg[i:i + batch_size]],
                                                          training=False)).reshape(-1)
                             for i in range(0, len(xg), batch_size)])
    acc = float((np.sum(d_real > 0) + np.sum(d_fake <= 0)) / (len(d_real) + len(d_fake)))
    limit = FID_RATIO * max(float(real_fid), 1e-3)
    num_classes = int(gan.num_classes)
    share = np.bincount(rec, minlength=num_classes) / len(rec)
    modes = int(np.sum(share >= 0.5 / num_classes))
    missing = [c for c in range(num_classes) if share[c] < 0.5 / num_classes]
    conditioned = float(np.mean(rec == yg))
    checks = (
        HealthCheck("discriminator", acc, DISCRIMINATOR_CEILING, acc < DISCRIMINATOR_CEILING,
                    f"the discriminator tells held-out real from generated images apart {acc:.0%} of the time"
                    + ("" if acc < DISCRIMINATOR_CEILING else ": the generator never fools it")),
        HealthCheck("fid", float(fid), limit, float(fid) <= limit,
                    f"FID {float(fid):.2f} is {float(fid) / max(float(real_fid), 1e-12):.1f} times the real-vs-real "
                    f"reference {float(real_fid):.2f}" + ("" if float(fid) <= limit else
                                                          f" (limit {FID_RATIO:g} times): samples far from the data")),
        HealthCheck("modes", modes, num_classes, modes >= num_classes,
                    f"the committee recognises {modes} of {num_classes} classes among the generated images "
                    f"({conditioned:.0%} show the class they were asked for)"
                    + ("" if not missing else f"; missing or rare: {missing}")))
    return HealthReport("dcgan", checks, {"discriminator_accuracy": acc, "fid": float(fid), "real_fid": float(real_fid),
                                          "mode_count": modes, "recognised_share": share.tolist(),
                                          "shows_condition": conditioned})
