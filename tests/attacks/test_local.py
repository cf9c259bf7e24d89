"""Local one-pixel evaluation (attacks._local): equal to the full forward pass, or not used at all."""
import importlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_featuretest.attacks import _local, one_pixel_attack
from tf_featuretest.models import build_classifier

op_module = importlib.import_module("tf_featuretest.attacks.one_pixel")  # the module, not the function

L = keras.layers


def _variants(shape, n, seed):
    h, w, c = shape
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (3, h, w, c)).astype(np.float32)
    img = np.sort(rng.integers(0, 3, n)).astype(np.int32)
    rows, cols = rng.integers(0, h, n), rng.integers(0, w, n)
    corners = [(0, 0), (0, w - 1), (h - 1, 0), (h - 1, w - 1), (0, w // 2), (h // 2, 0), (h - 1, w // 2)]
    for j, (r, c_) in enumerate(corners):
        rows[j], cols[j] = r, c_
    vals = rng.uniform(0, 1, (n, c)).astype(np.float32)
    vals[-1] = x[img[-1], rows[-1], cols[-1]]  # a variant that leaves its image unchanged
    return x, img, rows.astype(np.float32), cols.astype(np.float32), vals


def _full(model, x, img, rows, cols, vals):
    imgs = x[img]
    imgs[np.arange(len(img)), rows.astype(int), cols.astype(int)] = vals
    return model(imgs, training=False).numpy()


def _odd_model():
    keras.utils.set_random_seed(3)
    m = keras.Sequential([L.Input((15, 13, 3)), L.Rescaling(2.0, -1.0),
                          L.Conv2D(8, (5, 3), padding="valid", activation="tanh"), L.BatchNormalization(),
                          L.AveragePooling2D(2), L.Conv2D(6, 3, padding="same"), L.ReLU(), L.MaxPooling2D(3),
                          L.Flatten(), L.Dropout(0.2), L.Dense(7, activation="relu"), L.Dense(4)])
    bn = m.layers[2]
    bn.set_weights([w + np.random.default_rng(0).uniform(0.5, 1.5, w.shape).astype("float32")
                    for w in bn.get_weights()])
    return m


def _gap_model():
    keras.utils.set_random_seed(4)
    return keras.Sequential([L.Input((16, 16, 3)), L.Conv2D(8, 3, padding="same", activation="relu"),
                             L.Conv2D(8, 3, padding="same", activation="relu"), L.MaxPooling2D(2),
                             L.Conv2D(16, 3, padding="same", activation="relu"), L.GlobalAveragePooling2D(),
                             L.Dense(5)])


@pytest.mark.parametrize("make, shape", [
    (lambda: build_classifier("small_cnn", 10, (32, 32, 1)), (32, 32, 1)),
    (_odd_model, (15, 13, 3)),
    (_gap_model, (16, 16, 3)),
], ids=["small_cnn", "valid-avgpool-batchnorm-rgb-odd-size", "global-average-head"])
def test_local_logits_equal_the_full_forward_pass_including_borders(make, shape):
    model = make()
    engine = _local.build(model, shape)
    assert engine is not None
    x, img, rows, cols, vals = _variants(shape, 300, seed=1)
    local = engine.logits(x, img, rows, cols, vals).numpy()
    full = _full(model, x, img, rows, cols, vals)
    np.testing.assert_allclose(local, full, rtol=1e-5, atol=1e-5 * np.abs(full).max())
    clean = model(x[img[-1:]], training=False).numpy()
    np.testing.assert_allclose(local[-1:], clean, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("layers", [
    [L.Conv2D(4, 3, strides=2), L.Flatten(), L.Dense(3)],
    [L.Conv2D(4, 3, padding="same"), L.GlobalMaxPooling2D(), L.Dense(3)],
    [L.Conv2D(4, 3, padding="same"), L.MaxPooling2D(2, strides=1), L.Flatten(), L.Dense(3)],
    [L.DepthwiseConv2D(3), L.Flatten(), L.Dense(3)],
], ids=["strided-conv", "global-max-head", "overlapping-pool", "depthwise"])
def test_models_the_local_path_cannot_follow_are_refused(layers):
    model = keras.Sequential([L.Input((12, 12, 1)), *layers])
    assert _local.build(model, (12, 12, 1)) is None


def test_skip_connections_are_refused():
    inputs = keras.Input((12, 12, 1))
    a = L.Conv2D(4, 3, padding="same")(inputs)
    b = L.Add()([a, L.Conv2D(4, 3, padding="same")(a)])
    model = keras.Model(inputs, L.Dense(3)(L.Flatten()(b)))
    assert _local.build(model, (12, 12, 1)) is None


def test_local_and_full_evaluators_score_candidates_alike(digits_cnn, digits_test_batch):
    x = digits_test_batch[0][:4]
    shape = x.shape[1:]
    local_fn, extra = op_module._pick_evaluator(digits_cnn, digits_cnn, 1, shape)
    assert extra, "the digits CNN should be evaluated locally"
    full_fn = op_module._evaluator(digits_cnn)
    rng = np.random.default_rng(0)
    n = 400
    img = np.sort(rng.integers(0, 4, n)).astype(np.int32)
    cand = np.concatenate([rng.uniform(0, 32, (n, 1, 2)), rng.uniform(0, 1, (n, 1, 1))], -1).astype(np.float32)
    use = rng.integers(0, 10, n)
    targeted = rng.uniform(size=n) < 0.5
    args = [tf.constant(v) for v in (x, img, cand, use, targeted)]
    f_local, ok_local, pred_local = (v.numpy() for v in local_fn(*args, *extra))
    f_full, ok_full, pred_full = (v.numpy() for v in full_fn(*args))
    np.testing.assert_allclose(f_local, f_full, atol=1e-6)
    same = pred_local == pred_full  # may differ only where two classes tie within float rounding
    assert same.mean() > 0.99 and (ok_local == ok_full)[same].all()


def test_repeated_candidates_are_evaluated_once():
    image = np.zeros((8, 8, 1), np.float32)
    image[2, 3] = 0.5
    trials = np.array([[[2.7, 3.1, 0.25]], [[2.2, 3.9, 0.25]], [[4.0, 4.0, 0.25]], [[2.0, 3.0, 0.5]],
                       [[5.5, 1.0, 0.0]]], np.float32)
    keys = op_module._keys(trials, image)
    assert keys[0] == keys[1]  # positions truncate to the same pixel, same value
    assert keys[0] != keys[2]
    assert keys[3] == keys[4] == b""  # both write back the pixel's own value: the clean image
    search = op_module._Search(0, 0, np.random.default_rng(0))
    search.start_generation(trials, image)
    assert search.todo.tolist() == [0, 2, 3]
    search.record(search.todo, np.array([0.1, 0.2, 0.3]), np.array([False, True, False]), np.array([1, 2, 3]))
    search.fill()
    assert search.tfit.tolist() == pytest.approx([0.1, 0.1, 0.2, 0.3, 0.3])
    assert search.tok.tolist() == [False, False, True, False, False]
    search.start_generation(trials[::-1].copy(), image)
    assert len(search.todo) == 0  # everything is in the memo now


def test_local_one_pixel_attack_is_reproducible_and_verdicts_come_from_the_model(digits_cnn, digits_test_batch):
    x, y = digits_test_batch[0][:4], digits_test_batch[1][:4]
    a = one_pixel_attack(digits_cnn, x, y, popsize=60, generations=6, seed=3)
    b = one_pixel_attack(digits_cnn, x, y, popsize=60, generations=6, seed=3)
    np.testing.assert_array_equal(a.images, b.images)
    assert ((np.abs(a.images - x).reshape(4, -1) > 0).sum(1) <= 1).all()
    pred = digits_cnn.predict(a.images, verbose=0).argmax(1)
    np.testing.assert_array_equal(pred, a.predicted)
    np.testing.assert_array_equal(pred != y, a.success)
