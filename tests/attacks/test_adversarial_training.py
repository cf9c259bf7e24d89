"""Adversarial training with FGSM/PGD examples mixed into each batch."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_featuretest.attacks import fgsm
from tf_featuretest.attacks.adversarial_training import AdversarialModel, train_adversarial
from tf_featuretest.errors import ConfigError
from tf_featuretest.models import build_classifier, compile_classifier


def test_adversarial_batch_replaces_the_first_ratio_of_images(digits_cnn, digits_test_batch):
    x, y = digits_test_batch
    wrapper = AdversarialModel(digits_cnn, attack="fgsm", eps=0.1, ratio=0.25)
    mixed = wrapper.adversarial_batch(tf.constant(x[:16]), tf.constant(y[:16])).numpy()
    np.testing.assert_array_equal(mixed[4:], x[4:16])
    np.testing.assert_array_equal(mixed[:4], fgsm(digits_cnn, x[:4], y[:4], eps=0.1).numpy())
    pgd_wrapper = AdversarialModel(digits_cnn, attack="pgd", eps=0.1, ratio=1.0, steps=3, seed=0)
    mixed = pgd_wrapper.adversarial_batch(tf.constant(x[:8]), tf.constant(y[:8])).numpy()
    assert np.abs(mixed - x[:8]).max() <= 0.1 + 1e-6 and not np.array_equal(mixed, x[:8])


def test_fit_and_config_round_trip(digits):
    x, y = digits["train"]
    keras.utils.set_random_seed(1)
    wrapper = AdversarialModel(build_classifier("small_cnn", 10, x.shape[1:]), attack="pgd", eps=0.1, ratio=0.5,
                               steps=2, seed=0)
    compile_classifier(wrapper, num_classes=10)
    hist = wrapper.fit(x[:128], y[:128], batch_size=64, epochs=1, verbose=0)
    assert np.isfinite(hist.history["loss"]).all() and "accuracy" in hist.history
    clone = AdversarialModel.from_config(wrapper.get_config())
    assert (clone.attack, clone.eps, clone.ratio, clone.steps) == ("pgd", 0.1, 0.5, 2)
    with pytest.raises(ConfigError, match="'cw'"):
        AdversarialModel(wrapper.classifier, attack="cw")
    with pytest.raises(ConfigError, match="1.5"):
        AdversarialModel(wrapper.classifier, ratio=1.5)


def test_fgsm_training_makes_the_cnn_more_robust(digits, digits_cnn):
    x, y = digits["train"]
    xt, yt = digits["test"]
    keras.utils.set_random_seed(0)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(y), seed=0).batch(64)
    robust = train_adversarial(build_classifier("small_cnn", 10, x.shape[1:]), ds, attack="fgsm", eps=0.1,
                               ratio=0.5, epochs=6, learning_rate=2e-3)
    xt, yt = xt[:128], yt[:128]

    def acc(model, images):
        return (model.predict(images, verbose=0).argmax(1) == yt).mean()

    assert acc(robust, xt) >= 0.9
    assert acc(robust, fgsm(robust, xt, yt, eps=0.1)) > acc(digits_cnn, fgsm(digits_cnn, xt, yt, eps=0.1)) + 0.2


def _no_dropout_cnn(shape):
    """A small CNN without dropout, so a training-mode forward pass equals an inference one."""
    return keras.Sequential([keras.Input(shape), keras.layers.Conv2D(8, 3, activation="relu"),
                             keras.layers.MaxPooling2D(), keras.layers.Flatten(), keras.layers.Dense(10)])


def test_logged_loss_is_the_loss_of_the_mixed_batch_and_decreases(digits):
    x, y = digits["train"]
    x, y = x[:64], y[:64]
    keras.utils.set_random_seed(3)
    wrapper = AdversarialModel(_no_dropout_cnn(x.shape[1:]), attack="fgsm", eps=0.1, ratio=0.5)
    compile_classifier(wrapper, num_classes=10)
    # Recompute the first step's loss by hand: cross-entropy of the initial weights on the mixed batch
    # (FGSM is deterministic, so the batch is the one train_step builds).
    mixed = wrapper.adversarial_batch(tf.constant(x), tf.constant(y))
    logits = wrapper.classifier(mixed, training=False).numpy()
    logp = logits - logits.max(1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(1, keepdims=True))
    expected = float(-logp[np.arange(len(y)), y].mean())
    first = wrapper.fit(x, y, batch_size=64, epochs=1, shuffle=False, verbose=0).history["loss"][0]
    assert first == pytest.approx(expected, rel=1e-4)
    later = wrapper.fit(x, y, batch_size=32, epochs=8, shuffle=False, verbose=0).history["loss"]
    assert min(later) > 0 and later[-1] < first - 0.3, (first, later)
    assert all(b < a for a, b in zip(later, later[1:])), later  # it falls epoch after epoch
