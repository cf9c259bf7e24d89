"""Decoupled direction and norm: properties, and the closed-form minimum on a linear model.

* outputs are finite images in [0, 1], the same seed gives the same bits, batches do not interact;
* on the digits CNN every targeted image is reached in 100 iterations, and every changed image is
  adversarial for the model (the best iterate is kept only when it is);
* more iterations reach more targets and find smaller changes;
* an L2 cap scales each longer answer to exactly the cap (checked against the formula);
* on softmax(Wx + b) with 2 classes the answer approaches ``|w.x + b| / ||w||`` from above.
"""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_featuretest.attacks import ddn
from tf_featuretest.errors import ConfigError, DataError

N = 8


@pytest.fixture(scope="module")
def batch(digits_test_batch):
    x, y = digits_test_batch
    return x[:N], y[:N], (y[:N] + 1) % 10


def _pred(model, a):
    return np.argmax(model(tf.constant(a), training=False).numpy(), 1)


def _l2(a, x):
    return np.sqrt(((a - x).reshape(len(x), -1).astype(np.float64) ** 2).sum(1))


def test_valid_seeded_and_batch_independent(digits_cnn, batch):
    x, y, t = batch
    a = np.asarray(ddn(digits_cnn, x, y, target=t, steps=30, seed=1))
    assert a.shape == x.shape and a.dtype == np.float32
    assert np.all(np.isfinite(a)) and a.min() >= 0.0 and a.max() <= 1.0
    np.testing.assert_array_equal(np.asarray(ddn(digits_cnn, x, y, target=t, steps=30, seed=1)), a)
    np.testing.assert_allclose(np.asarray(ddn(digits_cnn, x, y, target=t, steps=30, seed=1, batch_size=3)), a,
                               atol=1e-5)


def test_reaches_every_target_and_keeps_only_adversarial_iterates(digits_cnn, batch):
    x, y, t = batch
    a = np.asarray(ddn(digits_cnn, x, y, target=t, steps=100, seed=0))
    assert np.all(_pred(digits_cnn, a) == t)
    u = np.asarray(ddn(digits_cnn, x, y, steps=100, seed=0))
    assert np.all(_pred(digits_cnn, u) != y)
    # untargeted (any class will do) needs a smaller change than reaching one given class
    assert np.all(_l2(u, x) < _l2(a, x))
    # too few iterations: what changed is adversarial, what is not is returned as it was
    few = np.asarray(ddn(digits_cnn, x, y, target=t, steps=10, seed=0))
    moved = _l2(few, x) > 0
    assert np.all(_pred(digits_cnn, few)[moved] == t[moved])
    np.testing.assert_array_equal(few[~moved], x[~moved])


def test_more_iterations_reach_more_with_smaller_changes(digits_cnn, batch):
    x, y, t = batch
    runs = {s: np.asarray(ddn(digits_cnn, x, y, target=t, steps=s, seed=0)) for s in (10, 25, 100)}
    hit = {s: _pred(digits_cnn, a) == t for s, a in runs.items()}
    assert hit[10].sum() <= hit[25].sum() <= hit[100].sum() and hit[10].sum() < hit[100].sum()
    both = hit[25] & hit[100]
    assert both.sum() >= N // 2
    l25, l100 = _l2(runs[25], x)[both], _l2(runs[100], x)[both]
    assert np.all(l100 <= l25 * 1.01)  # the schedules differ, so allow a per-image wobble
    assert l100.mean() < l25.mean()


def test_l2_cap_scales_longer_answers_to_the_cap(digits_cnn, batch):
    x, y, t = batch
    free = np.asarray(ddn(digits_cnn, x, y, target=t, steps=40, seed=0))
    eps = 1.0
    capped = np.asarray(ddn(digits_cnn, x, y, target=t, steps=40, seed=0, eps=eps))
    n = _l2(free, x)
    assert np.all(n > eps)  # no digit is this close to another class here, so the cap binds everywhere
    want = np.clip(x + (free - x) * (eps / n)[:, None, None, None], 0, 1)
    np.testing.assert_allclose(capped, want, atol=1e-6)
    assert np.all(_l2(capped, x) <= eps + 1e-5)
    np.testing.assert_array_equal(np.asarray(ddn(digits_cnn, x, y, target=t, eps=0.0)), x)


def test_linear_model_matches_the_distance_to_the_hyperplane():
    rng = np.random.default_rng(1)
    d, n = 64, 8
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(2, activation="softmax")])
    w_full = rng.normal(size=(d, 2)).astype(np.float32)
    b = np.array([-0.1, 0.4], np.float32)
    model.layers[-1].set_weights([w_full, b])
    w, bd = (w_full[:, 1] - w_full[:, 0]).astype(np.float64), float(b[1] - b[0])
    wn = np.linalg.norm(w)
    x = rng.uniform(0.35, 0.65, size=(n, d))
    want = np.where(np.arange(n) % 2 == 0, -1.0, 1.0) * np.linspace(0.2, 0.6, n) * wn
    x = (x + ((want - x @ w - bd) / wn**2)[:, None] * w[None, :]).astype(np.float32)
    gap = x.astype(np.float64) @ w + bd
    y = (gap > 0).astype(np.int64)
    exact = np.abs(gap) / wn
    star = x - (gap / wn**2)[:, None] * w[None, :]  # the closest point of the hyperplane: inside the box
    assert 0.05 < star.min() and star.max() < 0.95
    x = x.reshape(n, 8, 8, 1)
    for target in (1 - y, None):  # with 2 classes, untargeted is the same problem
        a = np.asarray(ddn(model, x, y, target=target, steps=100, seed=0))
        ratio = _l2(a, x) / exact
        assert np.all(ratio >= 1 - 1e-4) and np.all(ratio <= 1.01), ratio


def test_bad_input_names_the_value(digits_cnn, batch):
    x, y, t = batch
    with pytest.raises(DataError, match=r"4-D.*\(32, 32, 1\)"):
        ddn(digits_cnn, x[0], y[:1], target=1)
    with pytest.raises(DataError, match="target.*-2"):
        ddn(digits_cnn, x, y, target=np.full(N, -2))
    bad = x.copy()
    bad[5, 1, 1, 0] = np.inf
    with pytest.raises(DataError, match="inf.*image 5"):
        ddn(digits_cnn, bad, y)
    with pytest.raises(DataError, match="8 images but 3 labels"):
        ddn(digits_cnn, x, y[:3])
    with pytest.raises(ConfigError, match="norm.*inf"):
        ddn(digits_cnn, x, y, eps=0.1, norm=np.inf)
    with pytest.raises(ConfigError, match="gamma.*1.5"):
        ddn(digits_cnn, x, y, gamma=1.5)
    with pytest.raises(ConfigError, match="init_norm.*0"):
        ddn(digits_cnn, x, y, init_norm=0)
