"""VAE: named finite losses after one fit step, save/load with optimizer state, seeded sampling, ELBO."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_featuretest.errors import ConfigError, FeatureTestError
from tf_featuretest.models import VAE, Sampling, train_vae

LOSS_NAMES = {"loss", "reconstruction_loss", "kl_loss"}


def _ds(x, batch=32):
    return tf.data.Dataset.from_tensor_slices((x, np.zeros(len(x), "int64"))).batch(batch)


@pytest.fixture(scope="module")
def trained(digits):
    """A VAE trained for 3 epochs on the digits training split, with its per-epoch history."""
    x, _ = digits["train"]
    ds = tf.data.Dataset.from_tensor_slices(x).shuffle(len(x), seed=0).batch(64)
    vae = train_vae(ds, x.shape[1:], latent_dim=8, epochs=3, seed=0)
    return vae, vae.history.history


@pytest.mark.parametrize("shape", [(32, 32, 1), (64, 64, 3)])
def test_one_fit_step_gives_finite_named_losses(shape):
    x = np.random.default_rng(0).random((8,) + shape).astype("float32")
    vae = VAE(shape, latent_dim=4, seed=0)
    vae.compile(keras.optimizers.Adam(1e-3))
    hist = vae.fit(_ds(x, 8), epochs=1, verbose=0).history
    assert set(hist) == LOSS_NAMES
    assert all(np.isfinite(v[0]) for v in hist.values())
    assert [m.name for m in vae.metrics] == ["loss", "reconstruction_loss", "kl_loss"]
    assert vae(x).shape == x.shape


def test_training_reduces_reconstruction_loss(trained):
    _, hist = trained
    rec = hist["reconstruction_loss"]
    assert rec[-1] < rec[0]
    assert np.allclose(hist["loss"], np.array(rec) + np.array(hist["kl_loss"]), rtol=1e-3)


def test_save_load_keeps_outputs_and_optimizer_state(trained, tmp_path, digits):
    vae, _ = trained
    path = str(tmp_path / "vae.keras")
    vae.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, VAE) and loaded.get_config() == vae.get_config()
    x = digits["test"][0][:16]
    np.testing.assert_allclose(loaded(x).numpy(), vae(x).numpy(), atol=1e-6)
    np.testing.assert_allclose(loaded.encode(x)[0].numpy(), vae.encode(x)[0].numpy(), atol=1e-6)
    assert int(loaded.optimizer.iterations.numpy()) == int(vae.optimizer.iterations.numpy()) > 0
    assert len(loaded.optimizer.variables) == len(vae.optimizer.variables) > 2
    for a, b in zip(vae.optimizer.variables, loaded.optimizer.variables):
        np.testing.assert_allclose(a.numpy(), b.numpy())
    loaded.fit(_ds(x, 16), epochs=1, verbose=0)
    assert int(loaded.optimizer.iterations.numpy()) == int(vae.optimizer.iterations.numpy()) + 1


def test_sample_is_seeded_and_in_unit_range(trained):
    vae, _ = trained
    a, b, c = vae.sample(6, seed=3).numpy(), vae.sample(6, seed=3).numpy(), vae.sample(6, seed=4).numpy()
    assert a.shape == (6, 32, 32, 1) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-3
    assert a.min() >= 0.0 and a.max() <= 1.0


def test_sampling_layer_is_seeded_and_has_the_right_moments():
    mean = np.full((20000, 2), [1.0, -2.0], "float32")
    log_var = np.full((20000, 2), [0.0, np.log(4.0)], "float32")
    z1 = Sampling(seed=7)([mean, log_var]).numpy()
    z2 = Sampling(seed=7)([mean, log_var]).numpy()
    np.testing.assert_array_equal(z1, z2)
    np.testing.assert_allclose(z1.mean(axis=0), [1.0, -2.0], atol=0.05)
    np.testing.assert_allclose(z1.std(axis=0), [1.0, 2.0], atol=0.05)


def test_elbo_matches_numpy_and_ranks_real_above_noise(trained, digits):
    vae, _ = trained
    x = digits["test"][0][:32]
    elbo = vae.elbo(x).numpy()
    assert elbo.shape == (32,) and elbo.dtype == np.float32
    m, lv = (t.numpy().astype(np.float64) for t in vae.encode(x))
    xh = np.clip(vae.decode(m).numpy().astype(np.float64), 1e-7, 1 - 1e-7)
    rec = -(x * np.log(xh) + (1 - x) * np.log(1 - xh)).reshape(32, -1).sum(1)
    kl = -0.5 * (1 + lv - m ** 2 - np.exp(lv)).sum(1)
    np.testing.assert_allclose(elbo, -(rec + vae.beta * kl), rtol=1e-4)
    noise = np.random.default_rng(0).random(x.shape).astype("float32")
    assert np.median(vae.elbo(noise).numpy()) < np.min(elbo)


def test_encode_and_decode_work_inside_tf_function(trained, digits):
    vae, _ = trained
    x = digits["test"][0][:4]
    fn = tf.function(lambda t: vae.decode(vae.encode(t)[0]))
    np.testing.assert_allclose(fn(tf.constant(x)).numpy(), vae(x).numpy(), atol=1e-5)


@pytest.mark.parametrize("kwargs, fragment", [
    ({"input_shape": (30, 30, 1)}, "(30, 30, 1)"),
    ({"input_shape": (32, 32, 2)}, "(32, 32, 2)"),
    ({"latent_dim": 0}, "latent_dim"),
    ({"filters": ()}, "filters"),
    ({"beta": -1.0}, "-1.0"),
    ({"seed": "a"}, "'a'"),
    ({"hidden": 0}, "hidden"),
])
def test_bad_arguments_raise_config_error(kwargs, fragment):
    with pytest.raises(ConfigError) as info:
        VAE(**kwargs)
    assert fragment in str(info.value)
    assert isinstance(info.value, FeatureTestError)


def test_sample_and_train_reject_bad_values(trained):
    vae, _ = trained
    with pytest.raises(ConfigError, match="n must be"):
        vae.sample(0)
    with pytest.raises(ConfigError, match="epochs"):
        train_vae(None, (32, 32, 1), epochs=0)


def test_hidden_width_and_files_saved_before_it(tmp_path):
    vae = VAE((16, 16, 1), latent_dim=8, hidden=40, seed=0)
    assert vae.encoder.get_layer("hidden").units == 40 and vae.get_config()["hidden"] == 40
    default = VAE((16, 16, 1), latent_dim=32, seed=0)
    assert default.encoder.get_layer("hidden").units == 128  # max(64, 4 * latent_dim), as before
    # a config written before the key existed loads with the old width
    config = default.get_config()
    config.pop("hidden")
    old = VAE.from_config(config)
    assert old.encoder.get_layer("hidden").units == 128
    old.set_weights(default.get_weights())
    x = np.random.default_rng(0).random((2, 16, 16, 1)).astype("float32")
    np.testing.assert_allclose(np.asarray(old.decode(old.encode(x)[0])), np.asarray(default.decode(default.encode(x)[0])),
                               rtol=1e-5, atol=1e-6)


def test_tuned_defaults_keep_digit_reconstructions(digits):
    """The tuned pipeline default (latent 32, beta 0.25) reconstructs far better than the mean image."""
    x, _ = digits["train"]
    xv, _ = digits["validation"]
    ds = tf.data.Dataset.from_tensor_slices(x).shuffle(len(x), seed=0).batch(64)
    vae = train_vae(ds, x.shape[1:], latent_dim=32, beta=0.25, epochs=25, seed=0)
    rec = np.asarray(vae.decode(vae.encode(xv)[0]))
    assert np.mean((rec - xv) ** 2) < 0.3 * np.mean((x.mean(axis=0)[None] - xv) ** 2)
