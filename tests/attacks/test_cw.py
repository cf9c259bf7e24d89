"""Carlini-Wagner L2: properties of the textbook algorithm, and a closed-form check on a linear model.

* outputs are finite images in [0, 1], and the same call twice gives the same bits;
* with one binary-search step and no early abort, more iterations extend the same Adam trajectory,
  so the set of images that reach the target can only grow (and does grow here);
* more binary-search steps repeat the first ones exactly and add more, so each image's best L2
  can only shrink (and does shrink here);
* a reached image is classified as the target by the model itself, with the margin ``kappa``;
* an L-inf cap is a box the search stays in; an L2 cap scales the answer down;
* softmax outputs and a 0-255 rescaling inside the model are handled (through the logits);
* on softmax(Wx + b) with 2 classes the smallest L2 change is ``(|w.x + b| + kappa) / ||w||``
  (distance to the hyperplane), which C&W must approach from above.
"""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_featuretest.attacks import cw
from tf_featuretest.errors import DataError
from tf_featuretest.models.introspection import as_logits_model

N = 8
#: a quick schedule for the property tests (Adam at 0.05: 40 iterations reach most targets); the textbook
#: settings (learning rate 0.01, 200 x 6) are the linear-model check's
FAST = dict(steps=40, binary_steps=2, learning_rate=0.05)


@pytest.fixture(scope="module")
def batch(digits_test_batch):
    x, y = digits_test_batch
    return x[:N], y[:N], (y[:N] + 1) % 10


def _logits(model, x):
    return as_logits_model(model)(tf.constant(x), training=False).numpy()


def _l2(a, x):
    return np.sqrt(((a - x).reshape(len(x), -1).astype(np.float64) ** 2).sum(1))


def _reached(model, a, target):
    return np.argmax(_logits(model, a), 1) == target


def test_outputs_are_valid_images_and_deterministic(digits_cnn, batch):
    x, y, t = batch
    kw = dict(target=t, initial_const=1.0, **FAST)
    a = np.asarray(cw(digits_cnn, x, y, **kw))
    b = np.asarray(cw(digits_cnn, x, y, **kw))
    assert a.shape == x.shape and a.dtype == np.float32
    assert np.all(np.isfinite(a)) and a.min() >= 0.0 and a.max() <= 1.0
    np.testing.assert_array_equal(a, b)
    assert _reached(digits_cnn, a, t).any()
    # an image's answer does not depend on the others in its batch
    np.testing.assert_allclose(np.asarray(cw(digits_cnn, x, y, batch_size=3, **kw)), a, atol=1e-5)


def test_success_grows_with_iterations(digits_cnn, batch):
    x, y, t = batch
    hits = []
    for steps in (5, 15, 60):
        a = np.asarray(cw(digits_cnn, x, y, target=t, steps=steps, binary_steps=1, initial_const=1.0,
                          learning_rate=0.05, abort_early=False))
        hits.append(_reached(digits_cnn, a, t))
    for fewer, more in zip(hits, hits[1:]):
        assert np.all(more[fewer]), "an image reached with fewer iterations was lost with more"
    assert hits[-1].sum() > hits[0].sum()


def test_l2_shrinks_with_binary_search_steps(digits_cnn, batch):
    x, y, t = batch
    l2s = []
    for b in (1, 2, 4):
        a = np.asarray(cw(digits_cnn, x, y, target=t, steps=40, binary_steps=b, initial_const=1.0,
                          learning_rate=0.05))
        l2s.append(np.where(_reached(digits_cnn, a, t), _l2(a, x), np.inf))
    assert np.isfinite(l2s[-1]).sum() >= N // 2
    for fewer, more in zip(l2s, l2s[1:]):
        assert np.all(more <= fewer + 1e-6)
    assert np.any(l2s[-1] < l2s[0] - 1e-3)


@pytest.mark.parametrize("kappa", [0.0, 2.0])
def test_reached_images_have_the_target_with_margin_kappa(digits_cnn, batch, kappa):
    x, y, t = batch
    a = np.asarray(cw(digits_cnn, x, y, target=t, initial_const=10.0, **FAST, kappa=kappa))
    moved = _l2(a, x) > 0
    assert moved.sum() >= N // 2
    z = _logits(digits_cnn, a)[moved]
    tm = t[moved]
    other = np.where(np.eye(10, dtype=bool)[tm], -np.inf, z).max(1)
    assert np.all(z[np.arange(len(tm)), tm] - other > kappa - 1e-3)
    if kappa > 0:  # a larger margin costs a larger change
        a0 = np.asarray(cw(digits_cnn, x, y, target=t, initial_const=10.0, **FAST))
        both = moved & (_l2(a0, x) > 0)
        assert _l2(a, x)[both].mean() > _l2(a0, x)[both].mean()


def test_untargeted_leaves_the_label(digits_cnn, batch):
    x, y, _ = batch
    a = np.asarray(cw(digits_cnn, x, y, initial_const=10.0, **FAST))
    moved = _l2(a, x) > 0
    assert moved.sum() >= N // 2
    assert np.all(np.argmax(_logits(digits_cnn, a), 1)[moved] != y[moved])


def test_linf_cap_is_a_box_and_l2_cap_a_bound(digits_cnn, batch):
    x, y, t = batch
    eps = 0.08
    a = np.asarray(cw(digits_cnn, x, y, target=t, eps=eps, initial_const=10.0, steps=40, binary_steps=2,
                      learning_rate=0.1))
    # the same float32 box the attack uses: max(x - eps, 0) <= a <= min(x + eps, 1), exactly
    e = np.float32(eps)
    assert np.all(a >= np.maximum(x - e, 0)) and np.all(a <= np.minimum(x + e, 1))
    assert np.abs(a - x).max() <= eps + 1e-6 and np.abs(a - x).max() > eps / 2
    free = np.asarray(cw(digits_cnn, x, y, target=t, initial_const=10.0, **FAST))
    assert np.abs(free - x).max() > eps  # the cap did bind
    a2 = np.asarray(cw(digits_cnn, x, y, target=t, eps=0.5, norm=2, initial_const=10.0, **FAST))
    assert _l2(a2, x).max() <= 0.5 + 1e-5 and _l2(a2, x).max() > 0.4
    np.testing.assert_array_equal(np.asarray(cw(digits_cnn, x, y, target=t, eps=0.0)), x)


def test_softmax_and_0_255_models_attack_through_the_logits(digits_cnn, batch):
    x, y, t = batch
    # the user's 0-255 model (Rescaling(1/255) inside, softmax at the end) behind the package's Rescaling(255)
    inp = keras.Input(x.shape[1:])
    h = keras.layers.Rescaling(1.0 / 255.0)(keras.layers.Rescaling(255.0)(inp))
    wrapped = keras.Model(inp, keras.layers.Softmax()(digits_cnn(h)))
    np.testing.assert_allclose(_logits(wrapped, x), _logits(digits_cnn, x), atol=1e-4)
    kw = dict(target=t, initial_const=10.0, **FAST)
    a = np.asarray(cw(wrapped, x, y, **kw))
    ref = np.asarray(cw(digits_cnn, x, y, **kw))
    hit, hit_ref = _reached(digits_cnn, a, t), _reached(digits_cnn, ref, t)
    assert hit.sum() >= N // 2 and abs(int(hit.sum()) - int(hit_ref.sum())) <= 1
    both = hit & hit_ref
    np.testing.assert_allclose(_l2(a, x)[both], _l2(ref, x)[both], rtol=0.05)


def _linear(rng, n=8, dist=(0.2, 0.6)):
    """softmax(Wx + b) on 8x8x1, and images at known distances ``|w.x + b| / ||w||`` from its boundary."""
    d = 64
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(2, activation="softmax")])
    w_full = rng.normal(size=(d, 2)).astype(np.float32)
    b = np.array([0.3, -0.2], np.float32)
    model.layers[-1].set_weights([w_full, b])
    w, bd = w_full[:, 1] - w_full[:, 0], b[1] - b[0]
    wn = np.linalg.norm(w)
    x = rng.uniform(0.35, 0.65, size=(n, d))
    side = np.where(np.arange(n) % 2 == 0, -1.0, 1.0)
    want = side * np.linspace(*dist, n) * wn  # w.x + bd
    x = (x + ((want - x @ w - bd) / wn**2)[:, None] * w[None, :]).astype(np.float32)
    gap = x.astype(np.float64) @ w + bd
    return model, x.reshape(n, 8, 8, 1), (gap > 0).astype(np.int64), np.abs(gap), wn


@pytest.mark.parametrize("kappa", [0.0, 1.0])
def test_linear_model_matches_the_distance_to_the_hyperplane(kappa):
    rng = np.random.default_rng(0)
    model, x, y, gap, wn = _linear(rng)
    exact = (gap + kappa) / wn
    # the closed form ignores the [0, 1] box: its minimiser x + exact * w / ||w|| (towards the target) must lie
    # well inside it
    w = model.layers[-1].get_weights()[0]
    w = (w[:, 1] - w[:, 0]) / wn
    towards = np.where(y == 0, 1.0, -1.0)[:, None] * exact[:, None] * w[None, :]
    star = x.reshape(len(x), -1) + towards
    assert 0.05 < star.min() and star.max() < 0.95
    a = np.asarray(cw(model, x, y, target=1 - y, steps=200, binary_steps=6, kappa=kappa))
    ratio = _l2(a, x) / exact
    assert np.all(ratio >= 1 - 1e-4), ratio  # nothing closer than the hyperplane can reach the target
    assert np.all(ratio <= 1.02), ratio
    untargeted = np.asarray(cw(model, x, y, steps=200, binary_steps=6, kappa=kappa))  # 2 classes: the same
    assert np.all(_l2(untargeted, x) / exact <= 1.02)


def test_bad_input_names_the_value(digits_cnn, batch):
    x, y, t = batch
    with pytest.raises(DataError, match=r"4-D.*\(32, 32, 1\)"):
        cw(digits_cnn, x[0], y[:1], target=1)
    with pytest.raises(DataError, match="target.*12"):
        cw(digits_cnn, x, y, target=12)
    with pytest.raises(DataError, match=r"one per image \(8\), got 3"):
        cw(digits_cnn, x, y, target=[1, 2, 3])
    bad = x.copy()
    bad[3, 0, 0, 0] = np.nan
    with pytest.raises(DataError, match="NaN.*image 3"):
        cw(digits_cnn, bad, y, target=t)
    with pytest.raises(DataError, match=r"\[0, 1\].*255"):
        cw(digits_cnn, x * 255.0, y, target=t)
    with pytest.raises(DataError, match="labels.*10"):
        cw(digits_cnn, x, np.full(N, 10), target=t)
