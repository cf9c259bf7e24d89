"""Health checks of the generative models: a trained VAE passes, a collapsed one fails; DCGAN checks."""
import numpy as np
import pytest

from tf_featuretest.errors import DataError
from tf_featuretest.metrics.health import dcgan_health, vae_health


class CollapsedVAE:
    """Every image to one point with the prior's variance; decodes the training mean."""

    def __init__(self, mean, dim=4):
        self.mean, self.dim = mean, dim

    def encode(self, x):
        n = len(x)
        return np.zeros((n, self.dim), np.float32), np.zeros((n, self.dim), np.float32)

    def decode(self, z):
        return np.repeat(self.mean[None], len(z), axis=0)


def test_collapsed_vae_fails_every_check(digits):
    x, _ = digits["train"]
    xv, _ = digits["validation"]
    rep = vae_health(CollapsedVAE(x.mean(axis=0)), xv, x.mean(axis=0))
    by = {c.name: c for c in rep.checks}
    assert not rep.passed and len(rep.warnings()) == 3
    assert by["reconstruction"].value == pytest.approx(1.0)  # exactly the mean-image baseline
    assert by["latent_spread"].value == 0 and by["kl"].value == pytest.approx(0.0, abs=1e-6)
    assert "posterior collapse" in by["kl"].detail


@pytest.fixture(scope="module")
def checker_vae(digits):
    import keras
    import tensorflow as tf

    from tf_featuretest.models.vae import train_vae

    keras.utils.set_random_seed(0)
    x, _ = digits["train"]
    ds = tf.data.Dataset.from_tensor_slices(x).shuffle(len(x), seed=0).batch(64)
    return train_vae(ds, x.shape[1:], latent_dim=16, beta=0.25, epochs=15, seed=0)


def test_trained_vae_passes(checker_vae, digits):
    x, _ = digits["train"]
    xv, _ = digits["validation"]
    rep = vae_health(checker_vae, xv, x.mean(axis=0))
    assert rep.passed, rep.warnings()
    rec = np.asarray(checker_vae.decode(checker_vae.encode(xv)[0]))
    err, base = np.mean((rec - xv) ** 2), np.mean((x.mean(axis=0)[None] - xv) ** 2)
    assert rep.extra["reconstruction_mse"] == pytest.approx(err, rel=1e-4)
    assert rep.checks[0].value == pytest.approx(err / base, rel=1e-4)
    z = np.asarray(checker_vae.encode(xv)[0])
    assert rep.extra["active_units"] == int(np.sum(z.var(axis=0) > 0.01)) >= 1
    d = rep.to_dict()
    assert d["passed"] and d["warnings"] == [] and len(d["checks"]) == 3


class FakeGAN:
    num_classes = 3

    def __init__(self, real_score, fake_score):
        self.real, self.fake = real_score, fake_score

    def discriminator(self, inputs, training=False):
        images, _ = inputs
        return np.where(np.asarray(images).mean(axis=(1, 2, 3)) > 0.5, self.real, self.fake)[:, None]


def test_dcgan_health():
    real = np.ones((6, 4, 4, 1), np.float32)
    fake = np.zeros((6, 4, 4, 1), np.float32)
    labels = np.arange(6) % 3
    # a discriminator that tells them apart every time, FID far above the reference, a missing class
    bad = dcgan_health(FakeGAN(3.0, -3.0), real, labels, fake, labels, fid=50.0, real_fid=1.0,
                       recognised=np.array([0, 1, 0, 1, 0, 1]))
    by = {c.name: c for c in bad.checks}
    assert not bad.passed and by["discriminator"].value == 1.0 and not by["fid"].passed
    assert by["modes"].value == 2 and "missing or rare: [2]" in by["modes"].detail
    good = dcgan_health(FakeGAN(1.0, 1.0), real, labels, fake, labels, fid=3.0, real_fid=1.0, recognised=labels)
    assert good.passed and good.extra["discriminator_accuracy"] == 0.5 and good.extra["shows_condition"] == 1.0
    with pytest.raises(DataError):
        dcgan_health(FakeGAN(1, 1), real, labels, fake, labels, fid=1, real_fid=1, recognised=labels[:2])
