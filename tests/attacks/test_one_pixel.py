"""The one-pixel differential-evolution attack."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_featuretest.attacks import one_pixel, one_pixel_attack
from tf_featuretest.errors import ConfigError


@pytest.fixture(scope="module")
def bright_pixel_model():
    """Class 1 when any pixel exceeds 0.5, else class 0 (logits +-20 around that threshold)."""
    inputs = keras.Input((8, 8, 1))
    m = keras.layers.GlobalMaxPooling2D()(inputs)
    dense = keras.layers.Dense(2)
    out = dense(m)
    dense.set_weights([np.array([[-40.0, 40.0]], np.float32), np.array([20.0, -20.0], np.float32)])
    return keras.Model(inputs, out)


def test_one_pixel_finds_the_single_pixel_that_flips_a_decision(bright_pixel_model):
    x = np.full((5, 8, 8, 1), 0.2, np.float32)
    y = np.zeros(5, np.int64)
    res = one_pixel_attack(bright_pixel_model, x, y, popsize=20, generations=10, seed=0)
    assert res.success.all() and (res.predicted == 1).all()
    diff = np.abs(res.images - x).reshape(5, -1)
    assert ((diff > 0).sum(1) == 1).all()
    for i in range(5):
        r, c = res.pixels[i, 0]
        assert res.images[i, r, c, 0] == res.values[i, 0, 0] > 0.5
    targeted = one_pixel_attack(bright_pixel_model, x, y, popsize=20, generations=10, target=1, seed=0)
    assert targeted.success.all()
    assert res.to_dict()["success_rate"] == 1.0


def test_one_pixel_on_digits_changes_at_most_k_pixels_and_is_reproducible(digits_cnn, digits_test_batch):
    x, y = digits_test_batch[0][:3], digits_test_batch[1][:3]
    a = one_pixel_attack(digits_cnn, x, y, pixels=3, popsize=24, generations=3, seed=1)
    b = one_pixel_attack(digits_cnn, x, y, pixels=3, popsize=24, generations=3, seed=1, images_per_pass=1)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.pixels, b.pixels)
    assert ((np.abs(a.images - x).reshape(3, -1) > 0).sum(1) <= 3).all()
    assert a.images.min() >= 0 and a.images.max() <= 1
    pred = digits_cnn.predict(a.images, verbose=0).argmax(1)
    clean = digits_cnn.predict(x, verbose=0).argmax(1)
    np.testing.assert_array_equal((pred != y) & (clean == y), a.success)
    adv = one_pixel(digits_cnn, tf.constant(x), tf.constant(y), pixels=3.0, popsize=24, generations=3, seed=1)
    np.testing.assert_array_equal(adv.numpy(), a.images)


def test_an_image_misclassified_before_the_attack_is_no_success(bright_pixel_model):
    """Image 0 already has a bright pixel (the model says 1, its label is 0): it counts as attacked, not fooled."""
    x = np.full((3, 8, 8, 1), 0.2, np.float32)
    x[0, 3, 4, 0] = 0.9
    y = np.zeros(3, np.int64)
    res = one_pixel_attack(bright_pixel_model, x, y, popsize=20, generations=10, seed=0)
    assert res.predicted[0] == 1 and res.clean_predicted.tolist() == [1, 0, 0]
    assert res.success.tolist() == [False, True, True]
    assert res.already_wrong.tolist() == [True, False, False]
    d = res.to_dict()
    assert (d["num_images"], d["num_already_wrong"], d["num_eligible"]) == (3, 1, 2)
    assert d["success_rate"] == 1.0  # 2 of the 2 images it could fool; the old count said 3 of 3
    targeted = one_pixel_attack(bright_pixel_model, x, y, popsize=20, generations=10, target=1, seed=0)
    assert targeted.success.all() and targeted.to_dict()["num_eligible"] == 3  # target reached, label != target
    labelled_target = one_pixel_attack(bright_pixel_model, x, np.ones(3, np.int64), popsize=20, generations=2,
                                       target=1, seed=0)
    assert not labelled_target.success.any() and np.isnan(labelled_target.success_rate)


def test_one_pixel_bad_arguments(bright_pixel_model):
    x, y = np.zeros((1, 8, 8, 1), np.float32), np.zeros(1, np.int64)
    with pytest.raises(ConfigError, match="pixels"):
        one_pixel_attack(bright_pixel_model, x, y, pixels=0)
    with pytest.raises(ConfigError, match="popsize"):
        one_pixel_attack(bright_pixel_model, x, y, popsize=2)
    with pytest.raises(ConfigError, match="target"):
        one_pixel_attack(bright_pixel_model, x, y, target=5)
