"""Callbacks inside a plain user-style training script: functional model, compile, fit, read history."""
import math
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_featuretest.callbacks import GeneratedTestAccuracy, NoiseThreshold, RobustAccuracy, SampleGrid
from tf_featuretest.errors import ConfigError
from tf_featuretest.models.dcgan import ConditionalDCGAN
from tf_featuretest.models.vae import VAE
from tf_featuretest.testgen.latent import sample_latent_tests_tf
from tf_featuretest.testgen.separation import encode_features


def users_model():
    """What a user would write: their own small functional classifier, softmax output."""
    inputs = keras.Input((32, 32, 1))
    h = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(inputs)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dense(32, activation="relu")(h)
    outputs = keras.layers.Dense(10, activation="softmax")(h)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.fixture(scope="module")
def fitted(digits):
    keras.utils.set_random_seed(0)
    x, y = digits["train"]
    val = digits["validation"]
    callbacks = [RobustAccuracy(val, attack="fgsm", eps=0.1, max_examples=96),
                 RobustAccuracy(val, attack="gaussian", eps=0.5, every=2, max_examples=96),
                 NoiseThreshold(val, noise="gaussian", severities=(0.25, 0.5, 0.75, 1.0), every=3, max_examples=96)]
    callbacks.append(keras.callbacks.EarlyStopping(monitor="val_robust_accuracy_fgsm_0.1", mode="max", patience=5))
    model = users_model()
    history = model.fit(x[:768], y[:768], batch_size=64, epochs=3, validation_data=val, callbacks=callbacks,
                        verbose=0)
    return model, history, callbacks


def test_values_land_in_history(fitted, digits):
    model, history, cbs = fitted
    h = history.history
    fgsm_acc = h["val_robust_accuracy_fgsm_0.1"]
    assert len(fgsm_acc) == 3 and all(0.0 <= a <= 1.0 for a in fgsm_acc)
    assert fgsm_acc[-1] < h["val_accuracy"][-1]  # an attack costs accuracy
    noise_acc = h["val_robust_accuracy_gaussian_0.5"]
    assert math.isnan(noise_acc[0]) and math.isnan(noise_acc[2]) and 0.0 <= noise_acc[1] <= 1.0
    thr = h["val_noise_threshold_gaussian"]
    assert math.isnan(thr[0]) and math.isnan(thr[1]) and (0.25 <= thr[2] <= 1.0 or thr[2] == math.inf)


def test_skipped_epochs_compute_nothing(fitted):
    _, _, cbs = fitted
    assert [cb.evaluations for cb in cbs[:3]] == [3, 1, 1]


def test_robust_accuracy_matches_direct_sweep(fitted, digits):
    from tf_featuretest.attacks import fgsm
    from tf_featuretest.evaluation import sweep

    model, history, _ = fitted
    direct = sweep(model, digits["validation"], fgsm, "eps", [0.1], max_examples=96).accuracy[0]
    assert history.history["val_robust_accuracy_fgsm_0.1"][-1] == pytest.approx(direct)


def test_get_config():
    val = (np.zeros((4, 32, 32, 1), np.float32), np.zeros(4, np.int64))
    assert RobustAccuracy(val, "pgd", eps=0.03, every=2).get_config() == {
        "attack": "pgd", "eps": 0.03, "every": 2, "max_examples": 256, "seed": 0,
        "name": "val_robust_accuracy_pgd_0.03"}
    cfg = NoiseThreshold(val, "uniform", (0.1, 0.2), level=0.6).get_config()
    assert cfg["severities"] == [0.1, 0.2] and cfg["level"] == 0.6 and cfg["noise"] == "uniform"
    assert SampleGrid(every=3, path="g/{epoch}.png", n=4).get_config() == {"every": 3, "path": "g/{epoch}.png",
                                                                           "n": 4, "seed": 0}


@pytest.mark.parametrize("make, match", [
    (lambda v: RobustAccuracy(v, "laser", eps=0.1), "laser"),
    (lambda v: RobustAccuracy(v, "fgsm", eps=-1.0), "eps"),
    (lambda v: RobustAccuracy(v, "fgsm", eps=0.1, every=0), "every"),
    (lambda v: NoiseThreshold(v, "gaussian", severities=(0.5, 0.2)), "increasing"),
    (lambda v: NoiseThreshold(v, "gaussian", level=1.5), "level"),
    (lambda v: SampleGrid(path="grid.png"), "epoch"),
    (lambda v: GeneratedTestAccuracy(object(), v), "encode"),
])
def test_bad_arguments(make, match):
    val = (np.zeros((4, 32, 32, 1), np.float32), np.zeros(4, np.int64))
    with pytest.raises(ConfigError, match=match):
        make(val)


def test_sample_grid_for_vae(tmp_path, digits):
    keras.utils.set_random_seed(0)
    vae = VAE((32, 32, 1), latent_dim=4, filters=(8, 16), seed=0)
    vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    grid = SampleGrid(every=2, path=str(tmp_path / "vae_{epoch:02d}.png"), n=9)
    vae.fit(digits["train"][0][:128], epochs=2, batch_size=64, callbacks=[grid], verbose=0)
    assert grid.paths == [str(tmp_path / "vae_02.png")]
    with open(grid.paths[0], "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"


def test_sample_grid_for_dcgan(tmp_path, digits):
    keras.utils.set_random_seed(0)
    gan = ConditionalDCGAN((32, 32, 1), num_classes=10, latent_dim=16, seed=0)
    gan.compile()
    grid = SampleGrid(every=1, path=str(tmp_path / "gan_{epoch}.png"), n=10)
    x, y = digits["train"]
    gan.fit(tf.data.Dataset.from_tensor_slices((x[:64], y[:64])).batch(32), epochs=1, callbacks=[grid], verbose=0)
    assert grid.paths == [str(tmp_path / "gan_1.png")] and os.path.getsize(grid.paths[0]) > 1000


def test_generated_test_accuracy(digits):
    keras.utils.set_random_seed(0)
    vae = VAE((32, 32, 1), latent_dim=4, filters=(8, 16), seed=0)
    vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    x, y = digits["train"]
    vae.fit(x[:256], epochs=1, batch_size=64, verbose=0)
    cb = GeneratedTestAccuracy(vae, (x[:256], y[:256]), anchors=8, count=2, radius=0.3, elbo_threshold=-1e9)
    model = users_model()
    hist = model.fit(x[:256], y[:256], epochs=2, batch_size=64, callbacks=[cb], verbose=0).history
    assert len(hist["val_generated_accuracy"]) == 2
    # The same seeded cases every epoch, so the valid fraction is the one sampling them directly gives.
    ref = sample_latent_tests_tf(vae, tf.constant(x[:8]), tf.constant(y[:8]), tf.constant(2), tf.constant(0.3),
                                 tf.constant(0), tf.constant(encode_features(vae, x[:256])), tf.constant(y[:256]),
                                 tf.constant(-1e9))
    assert hist["val_generated_valid_fraction"] == [float(np.mean(ref["valid"].numpy()))] * 2
