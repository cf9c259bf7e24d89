"""Conditional DCGAN: one fit step at 32x32 and 64x64, compile settings and optimizer state survive save/load,
seeded class-conditional generation, one-sided label smoothing."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_featuretest.errors import ConfigError
from tf_featuretest.models import ConditionalDCGAN, train_dcgan


def _ds(shape, n=16, batch=8, classes=10):
    x = np.random.default_rng(0).random((n,) + shape).astype("float32")
    y = (np.arange(n) % classes).astype("int64")
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch)


@pytest.fixture(scope="module")
def stepped():
    """A 32x32 grayscale GAN compiled with custom optimizers and trained for two steps."""
    gan = train_dcgan(_ds((32, 32, 1)), (32, 32, 1), 10, epochs=1, seed=3, label_smoothing=0.25, learning_rate=5e-4)
    return gan


@pytest.mark.parametrize("shape", [(32, 32, 1), (64, 64, 3)])
def test_one_fit_step_gives_finite_named_losses(shape):
    gan = ConditionalDCGAN(shape, num_classes=4, latent_dim=16, seed=0)
    gan.compile()
    hist = gan.fit(_ds(shape, n=8, classes=4), epochs=1, verbose=0).history
    assert set(hist) == {"d_loss", "g_loss"}
    assert all(np.isfinite(v[0]) and v[0] > 0 for v in hist.values())
    assert [m.name for m in gan.metrics] == ["d_loss", "g_loss"]
    assert gan.generate([0, 3], seed=0).shape == (2,) + shape
    assert int(gan.d_optimizer.iterations.numpy()) == int(gan.g_optimizer.iterations.numpy()) == 1


def test_save_load_keeps_compile_settings_optimizer_state_and_outputs(stepped, tmp_path):
    path = str(tmp_path / "gan.keras")
    stepped.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, ConditionalDCGAN) and loaded.get_config() == stepped.get_config()
    assert loaded.label_smoothing == 0.25
    assert float(loaded.g_optimizer.learning_rate.numpy()) == pytest.approx(5e-4)
    assert loaded.d_optimizer is not loaded.g_optimizer
    for name in ("d_optimizer", "g_optimizer"):
        before, after = getattr(stepped, name).variables, getattr(loaded, name).variables
        assert len(after) == len(before) > 2
        assert int(getattr(loaded, name).iterations.numpy()) == 2
        for a, b in zip(before, after):
            np.testing.assert_allclose(a.numpy(), b.numpy())
    labels = np.array([0, 5, 9])
    np.testing.assert_allclose(loaded.generate(labels, seed=7).numpy(), stepped.generate(labels, seed=7).numpy(),
                               atol=1e-6)
    images = stepped.generate(labels, seed=1)
    np.testing.assert_allclose(loaded((images, labels)).numpy(), stepped((images, labels)).numpy(), atol=1e-5)
    loaded.fit(_ds((32, 32, 1), n=8), epochs=1, verbose=0)
    assert int(loaded.d_optimizer.iterations.numpy()) == 3


def test_generate_is_seeded_conditional_and_graph_safe(stepped):
    labels = np.array([1, 1, 2, 2])
    a, b = stepped.generate(labels, seed=5).numpy(), stepped.generate(labels, seed=5).numpy()
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32 and a.min() >= 0.0 and a.max() <= 1.0
    assert np.abs(a - stepped.generate(labels, seed=6).numpy()).max() > 1e-4
    assert np.abs(a - stepped.generate(np.array([3, 3, 4, 4]), seed=5).numpy()).max() > 1e-4
    fn = tf.function(lambda lab, s: stepped.generate(lab, s))
    np.testing.assert_allclose(fn(tf.constant(labels, tf.int64), tf.constant(5, tf.int32)).numpy(), a, atol=1e-6)


def test_discriminator_loss_uses_one_sided_label_smoothing():
    gan = ConditionalDCGAN((32, 32, 1), 10, seed=0)
    gan.compile(label_smoothing=0.2)
    real, fake = np.array([[2.0], [-1.0]], "float32"), np.array([[0.5], [3.0]], "float32")

    def bce(t, z):
        p = 1 / (1 + np.exp(-z))
        return -(t * np.log(p) + (1 - t) * np.log(1 - p))

    expected = bce(0.8, real).mean() + bce(0.0, fake).mean()
    assert float(gan._d_loss(real, fake)) == pytest.approx(expected, rel=1e-5)
    assert float(gan._g_loss(fake)) == pytest.approx(bce(1.0, fake).mean(), rel=1e-5)


@pytest.mark.parametrize("kwargs, fragment", [
    ({"image_shape": (30, 30, 1)}, "(30, 30, 1)"),
    ({"image_shape": (32, 32, 2)}, "(32, 32, 2)"),
    ({"num_classes": 1}, "num_classes"),
    ({"latent_dim": 0}, "latent_dim"),
    ({"seed": 1.5}, "1.5"),
])
def test_bad_arguments_raise_config_error(kwargs, fragment):
    with pytest.raises(ConfigError) as info:
        ConditionalDCGAN(**kwargs)
    assert fragment in str(info.value)


def test_bad_compile_and_generate_values_raise_config_error(stepped):
    with pytest.raises(ConfigError, match="label_smoothing"):
        ConditionalDCGAN((32, 32, 1), 10).compile(label_smoothing=1.0)
    with pytest.raises(ConfigError, match="optimizer='adam'"):
        ConditionalDCGAN((32, 32, 1), 10).compile(optimizer="adam")
    with pytest.raises(ConfigError, match="0..9"):
        stepped.generate([0, 10])
    with pytest.raises(ConfigError, match="'x'"):
        stepped.generate([0], seed="x")
