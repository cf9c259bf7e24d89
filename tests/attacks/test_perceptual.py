"""The perceptual look-alike: its SSIM and weights against independent references, and the attack's contract."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_featuretest.attacks.perceptual import perceptual, perceptual_tf, pixel_weights, ssim_tf
from tf_featuretest.attacks.pgd import pgd
from tf_featuretest.errors import ConfigError, DataError

N = 16


@pytest.fixture(scope="module")
def batch(digits_test_batch):
    x, y = digits_test_batch
    return x[:N], y[:N], (y[:N] + 1) % 10


@pytest.fixture(scope="module")
def look(digits_cnn, batch):
    x, y, t = batch
    return perceptual(digits_cnn, x, y, target=t, seed=0).numpy()


def _pred(model, x):
    return np.argmax(model(tf.constant(x), training=False).numpy(), axis=1)


def _ssim7(a, b):
    return tf.image.ssim(tf.constant(a), tf.constant(b), max_val=1.0, filter_size=7).numpy()


@pytest.mark.parametrize("shape", [(4, 32, 32, 1), (3, 20, 27, 3), (2, 5, 9, 1)])
def test_ssim_equals_tf_image_ssim(shape, rng):
    a = rng.random(shape, dtype=np.float32)
    b = np.clip(a + 0.2 * rng.standard_normal(shape).astype(np.float32), 0, 1)
    fs = min(7, shape[1], shape[2])  # tf.image.ssim wants the window inside the image
    np.testing.assert_allclose(ssim_tf(a, b, 7).numpy(), tf.image.ssim(a, b, 1.0, filter_size=fs).numpy(), atol=2e-6)
    np.testing.assert_allclose(ssim_tf(a, a, 7).numpy(), 1.0, atol=1e-6)


def test_pixel_weights_are_inverse_local_std_by_brute_force(rng):
    x = rng.random((2, 6, 7, 3), dtype=np.float32)
    x[1, :3] = 0.25  # a flat patch
    got = pixel_weights(x, window=3, floor=0.05).numpy()
    g = x.mean(-1)
    want = np.zeros(g.shape)
    for n in range(2):
        for i in range(6):
            for j in range(7):  # SAME average pooling: the window's part inside the image
                want[n, i, j] = 1.0 / (g[n, max(i - 1, 0):i + 2, max(j - 1, 0):j + 2].std() + 0.05)
        want[n] /= want[n].mean()
    for c in range(3):
        np.testing.assert_allclose(got[..., c], want, rtol=1e-4)
    assert got[1, 0, 0, 0] > 2 * got[1, 5, 3, 0]  # flat background weighs more than texture


def test_output_in_range_finite_deterministic_and_capped(digits_cnn, batch, look):
    x, y, t = batch
    assert look.dtype == np.float32 and look.shape == x.shape and np.isfinite(look).all()
    assert look.min() >= 0.0 and look.max() <= 1.0
    np.testing.assert_array_equal(look, perceptual(digits_cnn, x, y, target=t, seed=0).numpy())
    capped = perceptual(digits_cnn, x, y, target=t, eps=0.3, steps=20).numpy()
    assert np.abs(capped - x).max() <= 0.3 + 1e-6 and np.abs(capped - x).max() > 0
    np.testing.assert_array_equal(perceptual(digits_cnn, x, y, target=t, eps=0.0).numpy(), x)


def test_reaches_the_target_and_every_changed_image_is_classified_as_it(digits_cnn, batch, look):
    x, y, t = batch
    pred = _pred(digits_cnn, look)
    assert np.mean(pred == t) >= 0.9
    changed = np.abs(look - x).reshape(N, -1).max(1) > 0
    np.testing.assert_array_equal(pred[changed], t[changed])  # a miss comes back unchanged
    assert np.all(pred[~changed] == y[~changed])


def test_looks_more_alike_than_targeted_pgd_at_equal_or_better_success(digits_cnn, batch, look):
    x, y, t = batch
    adv = pgd(digits_cnn, x, y, eps=0.2, steps=40, target=t, seed=0).numpy()
    ours, theirs = _pred(digits_cnn, look) == t, _pred(digits_cnn, adv) == t
    assert ours.mean() >= theirs.mean()
    both = ours & theirs
    assert both.sum() >= N // 2
    s_ours, s_pgd = _ssim7(look, x)[both].mean(), _ssim7(adv, x)[both].mean()
    assert s_ours > s_pgd + 0.1, (s_ours, s_pgd)


def test_the_change_sits_on_strokes_not_on_flat_background(digits_cnn, batch, look):
    x, y, t = batch
    w = pixel_weights(x).numpy()
    flat, texture = w > np.quantile(w, 0.75), w < np.quantile(w, 0.25)
    d = np.abs(look - x)
    ratio = d[flat].mean() / d[texture].mean()
    # the same search with (almost) equal weights and no SSIM term: the weights are what keep the background still
    plain = perceptual(digits_cnn, x, y, target=t, floor=1e3, ssim_weight=0.0).numpy()
    dp = np.abs(plain - x)
    plain_ratio = dp[flat].mean() / dp[texture].mean()
    assert ratio < 0.1 and ratio < plain_ratio / 3, (ratio, plain_ratio)


def test_confidence_is_the_softmax_probability_reached(digits_cnn, batch, look):
    x, y, t = batch
    sure = perceptual(digits_cnn, x[:8], y[:8], target=t[:8], confidence=0.9).numpy()
    p = tf.nn.softmax(digits_cnn(tf.constant(sure), training=False)).numpy()[np.arange(8), t[:8]]
    reached = np.abs(sure - x[:8]).reshape(8, -1).max(1) > 0
    assert reached.mean() >= 0.75 and p[reached].min() >= 0.9 - 1e-4
    p0 = tf.nn.softmax(digits_cnn(tf.constant(look[:8]), training=False)).numpy()[np.arange(8), t[:8]]
    assert np.median(p0) < 0.9  # without a confidence the look-alikes stop near the boundary


@pytest.mark.parametrize("shape", [(20, 28, 3), (24, 17, 1)])
def test_colour_grey_and_non_square_on_a_softmax_model(shape, digits, rng):
    x, y = digits["train"]
    keep = y < 3
    x = tf.image.resize(x[keep][:300], shape[:2]).numpy()
    x = np.clip(x * rng.uniform(0.5, 1.0, (len(x), 1, 1, shape[2])), 0, 1).astype(np.float32)  # tinted copies
    y = y[keep][:300]
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input(shape), keras.layers.Conv2D(8, 3, activation="relu"),
                              keras.layers.MaxPooling2D(), keras.layers.Conv2D(16, 3, activation="relu"),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3, activation="softmax")])
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    model.fit(x[:250], y[:250], epochs=8, batch_size=50, verbose=0)
    xs, ys = x[250:262], y[250:262]
    t = (ys + 1) % 3
    adv = perceptual(model, xs, ys, target=t, steps=60).numpy()
    assert adv.shape == xs.shape and np.isfinite(adv).all() and adv.min() >= 0 and adv.max() <= 1
    pred = _pred(model, adv)
    assert np.mean(pred == t) >= 0.75, np.mean(pred == t)
    changed = np.abs(adv - xs).reshape(len(xs), -1).max(1) > 0
    np.testing.assert_array_equal(pred[changed], t[changed])


def _core(model):
    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 1], tf.float32), tf.TensorSpec([None], tf.int32)])
    def run(xb, tb):
        return perceptual_tf(lambda z, training=False: model(z, training=training), xb, tb,
                             tf.zeros_like(xb), tf.ones_like(xb), steps=10)

    return run


def test_core_inside_tf_function_equals_the_attack(digits_cnn, batch):
    x, y, t = batch
    adv, reached, dist = _core(digits_cnn)(tf.constant(x[:4]), tf.constant(t[:4], tf.int32))
    assert adv.shape == (4, 32, 32, 1) and reached.dtype == tf.bool and dist.shape == (4,)
    np.testing.assert_array_equal(np.isfinite(dist.numpy()), reached.numpy())
    np.testing.assert_allclose(adv.numpy(), perceptual(digits_cnn, x[:4], y[:4], target=t[:4], steps=10).numpy(),
                               atol=1e-4)  # two graphs: float rounding differs


def test_core_is_one_graph_for_every_image_size():
    keras.utils.set_random_seed(2)
    model = keras.Sequential([keras.Input((None, None, 1)), keras.layers.Conv2D(4, 3),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)])
    run = _core(model)
    for h, w in ((12, 12), (9, 21), (5, 4)):  # the last is smaller than the SSIM window
        adv, _, _ = run(tf.random.uniform([2, h, w, 1], seed=1), tf.constant([0, 1]))
        assert adv.shape == (2, h, w, 1) and np.isfinite(adv.numpy()).all()
    assert run.experimental_get_tracing_count() == 1


def test_bad_input_names_the_value(digits_cnn, batch):
    x, y, t = batch
    bad = x[:2].copy()
    bad[1, 3, 4, 0] = np.nan
    with pytest.raises(DataError, match=r"perceptual: images must be finite, got 1 NaN/inf values \(first in image 1\)"):
        perceptual(digits_cnn, bad, y[:2], target=t[:2])
    big = x[:2].copy()
    big[0, 0, 0, 0] = 1.5
    with pytest.raises(DataError, match=r"in \[0, 1\], got values in \[0, 1.5\]"):
        perceptual(digits_cnn, big, y[:2], target=t[:2])
    with pytest.raises(DataError, match=r"4-D batch .* got shape \(32, 32, 1\)"):
        perceptual(digits_cnn, x[0], y[:1], target=t[:1])
    with pytest.raises(DataError, match="targeted attack"):
        perceptual(digits_cnn, x[:2], y[:2], target=None)
    with pytest.raises(ConfigError, match=r"confidence must be .* got 1.0"):
        perceptual(digits_cnn, x[:2], y[:2], target=t[:2], confidence=1.0)
    with pytest.raises(ConfigError, match="steps must be a positive integer, got 0"):
        perceptual(digits_cnn, x[:2], y[:2], target=t[:2], steps=0)
    with pytest.raises(DataError, match=r"perceptual: target classes must be in \[0, 10\), got 12"):
        perceptual(digits_cnn, x[:2], y[:2], target=12)
