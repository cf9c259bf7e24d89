"""AdvGAN: training step, save/load, the bound of every family, seeding, and learned beats random noise.

The families' budgets are checked against the noise registry's own corruptions (the reference the
report compares with): the number of black rows, the occlusion square, the sticker count, the
brightness and contrast formulas.
"""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_featuretest.data import load_arrays
from tf_featuretest.errors import ConfigError
from tf_featuretest.models import advgan_families as fam
from tf_featuretest.models import build_classifier, compile_classifier, save_model_atomic
from tf_featuretest.models.advgan import AdvGAN, train_advgan
from tf_featuretest.noise import NOISES
from tf_featuretest.noise.structured import MAX_PATCHES

SHAPE = (18, 18, 1)  # not a multiple of 4: the generator pads and crops


@pytest.fixture(scope="module")
def small():
    """Digits at 18x18 and a weak classifier (one epoch) on them."""
    x, y, _ = load_arrays("digits", "train", image_size=SHAPE[:2])
    xt, yt, _ = load_arrays("digits", "test", image_size=SHAPE[:2])
    keras.utils.set_random_seed(0)
    model = build_classifier("small_cnn", 10, SHAPE)
    compile_classifier(model, learning_rate=3e-3)
    model.fit(x, y, batch_size=64, epochs=1, verbose=0)
    return model, (x, y), (xt, yt)


def _ds(x, y, n=None):
    n = n or len(y)
    return tf.data.Dataset.from_tensor_slices((x[:n], y[:n])).shuffle(n, seed=0).batch(64)


def _raw(g, x, scale=1.0, seed=0):
    """The generator's raw outputs on ``x`` with random weights, blown up by ``scale``."""
    out = g.generator([tf.constant(x), g.tokens(None, len(x))], training=False)
    rng = np.random.default_rng(seed)
    return {k: tf.constant(rng.normal(size=v.shape).astype(np.float32) * scale) if k != "content" else v
            for k, v in out.items()}


def test_one_fit_step_gives_finite_named_losses(small):
    model, (x, y), _ = small
    g = AdvGAN(model, eps=0.2, mode="both", seed=0)
    g.compile()
    hist = g.fit(_ds(x, y, 64), epochs=1, verbose=0).history
    assert set(hist) == {"loss", "adversarial_loss", "gan_loss", "hinge_loss", "d_loss", "success"}
    assert all(np.isfinite(v[0]) for v in hist.values())
    assert hist["d_loss"][0] > 0 and hist["gan_loss"][0] > 0  # the discriminator is trained for pixels


@pytest.mark.parametrize("family,kw", [("pixel", {"mode": "both"}), ("patch", {}), ("sticker", {"severity": 0.2}),
                                       ("black_columns", {})])
def test_save_load_gives_the_same_outputs_and_optimizer_state(small, tmp_path, family, kw):
    model, (x, y), _ = small
    g = AdvGAN(model, family=family, seed=1, **kw)
    g.compile()
    g.fit(_ds(x, y, 128), epochs=1, verbose=0)
    path = save_model_atomic(g, str(tmp_path / "g.keras"))
    h = keras.models.load_model(path)
    assert isinstance(h, AdvGAN)
    assert {k: v for k, v in h.get_config().items() if k != "classifier"} == \
        {k: v for k, v in g.get_config().items() if k != "classifier"}
    for a, b in zip(g.classifier.weights, h.classifier.weights):  # the classifier it was trained against
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    target = 4 if g.mode == "both" else None
    np.testing.assert_array_equal(h.perturb(x[:32], target).numpy(), g.perturb(x[:32], target).numpy())
    assert int(h.g_optimizer.iterations) == int(g.g_optimizer.iterations) == 2
    for a, b in zip(g.g_optimizer.variables, h.g_optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # training goes on from the restored state in the same way
    g.fit(_ds(x, y, 64), epochs=1, verbose=0)
    h.fit(_ds(x, y, 64), epochs=1, verbose=0)
    np.testing.assert_array_equal(h.perturb(x[:8], target).numpy(), g.perturb(x[:8], target).numpy())


@pytest.mark.parametrize("eps", [0.3, 0.1, 1 / 3, 0.05, 0.7])
def test_linf_bound_holds_exactly_even_where_tanh_saturates(small, eps):
    model, (x, _), _ = small
    g = AdvGAN(model, eps=eps, seed=0)
    xb = x[:64]
    adv = fam.apply_family("pixel", tf.constant(xb), _raw(g, xb, 1e4), eps, SHAPE).numpy()
    assert adv.dtype == np.float32 and adv.min() >= 0.0 and adv.max() <= 1.0
    diff = np.abs(adv.astype(np.float64) - xb.astype(np.float64))
    assert diff.max() <= eps  # in float64, against the Python float: no rounding slack
    assert np.abs(adv - xb).max() <= eps  # and as float32 users measure it
    assert diff.max() >= np.float32(eps) * (1 - 1e-6)  # it used the budget


def test_l2_bound(small):
    model, (x, _), _ = small
    g = AdvGAN(model, eps=1.5, norm=2, seed=0)
    adv = g.perturb(x[:32], budget=1.5).numpy()
    norms = np.sqrt(((adv.astype(np.float64) - x[:32]) ** 2).reshape(32, -1).sum(1))
    assert norms.max() <= 1.5 and adv.min() >= 0 and adv.max() <= 1
    big = fam.apply_family("pixel", tf.constant(x[:32]), _raw(g, x[:32], 1e3), 1.5, SHAPE, norm=2).numpy()
    assert np.sqrt(((big.astype(np.float64) - x[:32]) ** 2).reshape(32, -1).sum(1)).max() <= 1.5


def _changed(a, b):
    return np.abs(a - b).max(-1) > 0


def test_patch_is_one_square_of_the_occlusion_size_learned_or_given(small):
    model, (x, _), _ = small
    s = 0.5
    xb = np.zeros((16,) + SHAPE, np.float32)  # black images: every patch pixel the generator paints shows
    occl = NOISES["occlusion"](xb, s, seed=0).numpy()
    occl_side = int(np.sqrt(_changed(occl, xb).reshape(16, -1).sum(1).max()))
    side = fam.patch_side(s, SHAPE)
    assert abs(side - occl_side) <= 1
    g = AdvGAN(model, family="patch", severity=s, seed=0)
    raw = _raw(g, xb, 10.0)
    raw["content"] = tf.ones_like(raw["content"])
    adv = fam.apply_family("patch", tf.constant(xb), raw, s, SHAPE).numpy()
    for img in _changed(adv, xb):
        rows, cols = np.where(img)
        assert len(rows) == side * side and np.ptp(rows) == side - 1 and np.ptp(cols) == side - 1
    given = fam.apply_family("patch", tf.constant(xb), raw, s, SHAPE, location=(1.0, 0.0)).numpy()
    mask = _changed(given, xb)
    assert mask[:, SHAPE[0] - side:, :side].all() and mask.sum() == 16 * side * side


def test_stickers_are_solid_squares_counted_as_the_patches_noise(small):
    model, (x, _), _ = small
    for s in np.linspace(0, 1, 101):  # the noise's own float32 count, ceil(s * MAX_PATCHES)
        assert fam.sticker_count(s) == int(tf.math.ceil(tf.constant(s, tf.float32) * MAX_PATCHES))
    s = 0.3
    g = AdvGAN(model, family="sticker", severity=s, seed=0)
    xb = x[:16]
    adv = g.perturb(xb).numpy()
    side, count = fam.sticker_side(s, SHAPE), fam.sticker_count(s)
    changed = _changed(adv, xb).reshape(16, -1).sum(1)
    assert changed.max() <= count * side * side
    with pytest.raises(ConfigError, match="severity"):
        g.perturb(xb, budget=0.5)  # more stickers than it was trained with


@pytest.mark.parametrize("family,noise,axis", [("black_rows", "black_rows", 1), ("black_columns", "black_columns", 2)])
def test_black_lines_count_matches_the_noise(small, family, noise, axis):
    model, (x, _), _ = small
    g = AdvGAN(model, family=family, seed=0)
    ones = np.ones((4,) + SHAPE, np.float32)
    for s in (0.1, 0.3, 0.55, 1.0):
        ref = NOISES[noise](ones, s, seed=0).numpy()
        other = 2 if axis == 1 else 1
        want = int((ref.min(axis=other)[..., 0] == 0).sum(1)[0])
        adv = g.perturb(ones, budget=s).numpy()
        got = (adv.max(axis=other)[..., 0] == 0).sum(1)
        assert (got == want).all(), (s, got, want)
        assert set(np.unique(adv)) <= {0.0, 1.0}


def test_brightness_contrast_stays_inside_its_budget_and_meets_the_noises(small):
    model, (x, _), _ = small
    s = 0.3
    xb = x[:16]
    g = AdvGAN(model, family="brightness_contrast", severity=s, seed=0)
    raw = {"shift": tf.constant([[1.0, 0.0]] * 16)}
    np.testing.assert_allclose(fam.apply_family("brightness_contrast", tf.constant(xb), raw, s, SHAPE).numpy(),
                               NOISES["brightness"](xb, s).numpy(), atol=1e-6)
    raw = {"shift": tf.constant([[0.0, -1.0]] * 16)}
    np.testing.assert_allclose(fam.apply_family("brightness_contrast", tf.constant(xb), raw, s, SHAPE).numpy(),
                               NOISES["contrast"](xb, s).numpy(), atol=1e-6)
    adv = g.perturb(xb).numpy().reshape(16, -1)
    flat = xb.reshape(16, -1)
    for a, b in zip(adv, flat):
        inside = (a > 0) & (a < 1)
        slope, offset = np.polyfit(b[inside], a[inside], 1)
        assert 1 - s - 1e-4 <= slope <= 1 + s + 1e-4
        mean = b.mean()
        assert abs(offset - (1 - slope) * mean) <= s + 1e-4  # the shift b: |s b| <= s


def test_a_tensor_budget_gives_what_a_python_budget_gives(small):
    model, (x, _), _ = small
    for family in fam.FAMILIES:
        g = AdvGAN(model, family=family, severity=0.5, seed=0)
        fn = tf.function(lambda xb, b, g=g: g.adversarial(xb, g.tokens(None, tf.shape(xb)[0]), b))
        for s in (0.05, 0.2, 0.37, 0.5):
            budget = fam.linf_bound(s) if family == "pixel" else s
            graph = fn(x[:8], tf.constant(budget, tf.float32)).numpy()
            np.testing.assert_allclose(graph, g.perturb(x[:8], budget=s).numpy(), atol=1e-6)  # fused ops: 1 ulp
            if family == "pixel":
                assert np.abs(graph.astype(np.float64) - x[:8]).max() <= s
        assert fn.experimental_get_tracing_count() == 1  # one graph serves every budget


def test_zero_budget_is_the_identity_for_every_family(small):
    model, (x, _), _ = small
    for family in fam.FAMILIES:
        g = AdvGAN(model, family=family, severity=0.3, seed=0)
        np.testing.assert_array_equal(g.perturb(x[:8], budget=0.0).numpy(), x[:8])


def test_same_seed_same_weights_and_outputs(small):
    model, (x, y), _ = small

    def weights(seed):
        keras.utils.set_random_seed(seed)  # the shuffle's order depends on TF's global seed too
        g = train_advgan(model, _ds(x, y, 192), eps=0.2, mode="both", family="pixel", epochs=1, seed=seed)
        return [w.numpy() for w in g.generator.weights], g.perturb(x[:16], 3).numpy()

    (wa, oa), (wb, ob), (wc, _) = weights(5), weights(5), weights(6)
    for a, b in zip(wa, wb):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(oa, ob)
    assert any(not np.array_equal(a, c) for a, c in zip(wa, wc))


@pytest.mark.parametrize("family,noise,kw", [
    ("pixel", "uniform", {"eps": 0.2}),
    ("patch", "occlusion", {"severity": 0.4}),
    ("black_rows", "black_rows", {"severity": 0.25}),
    ("sticker", "patches", {"severity": 0.3}),
])
def test_a_few_epochs_beat_random_noise_of_the_same_family(small, family, noise, kw):
    model, (x, y), (xt, yt) = small
    g = train_advgan(model, _ds(x, y, 640), family=family, epochs=2, seed=0, **kw)
    ok = model.predict(xt, verbose=0).argmax(1) == yt

    def fooled(images):
        return ((model.predict(images, verbose=0).argmax(1) != yt) & ok).sum() / ok.sum()

    learned = fooled(g.perturb(xt).numpy())
    # the matching noise at the same budget: uniform noise on [-eps, eps] is severity eps / (0.5 sqrt 3)
    severity = kw["eps"] / (0.5 * np.sqrt(3)) if family == "pixel" else kw["severity"]
    random = max(fooled(NOISES[noise](xt, severity, seed=s).numpy()) for s in range(3))
    assert learned > random + 0.05, (learned, random)


def test_softmax_classifiers_are_attacked_through_their_logits(small):
    model, (x, _), _ = small
    soft = keras.Sequential([keras.Input(SHAPE), model, keras.layers.Softmax()])
    g = AdvGAN(soft, seed=0)
    np.testing.assert_allclose(g.classifier(x[:4]).numpy(), model(x[:4]).numpy(), atol=1e-5)


def test_rgb_and_odd_sizes(small):
    keras.utils.set_random_seed(0)
    model = build_classifier("small_cnn", 3, (13, 21, 3))
    g = AdvGAN(model, eps=0.1, mode="both", seed=0)
    xb = np.random.default_rng(0).random((5, 13, 21, 3), dtype=np.float32)
    adv = g.perturb(xb, target=[0, 1, 2, -1, 0]).numpy()
    assert adv.shape == xb.shape and np.abs(adv.astype(np.float64) - xb).max() <= 0.1


def test_bad_arguments_name_the_value(small):
    model = small[0]
    with pytest.raises(ConfigError, match="family"):
        AdvGAN(model, family="rain")
    with pytest.raises(ConfigError, match="location"):
        AdvGAN(model, family="pixel", location=(0.5, 0.5))
    with pytest.raises(ConfigError, match="eps"):
        AdvGAN(model, eps=1.5)
    g = AdvGAN(model, mode="targeted", seed=0)
    with pytest.raises(ConfigError, match="target"):
        g.perturb(np.zeros((2,) + SHAPE, np.float32))
    with pytest.raises(ConfigError, match="untargeted"):
        AdvGAN(model, seed=0).perturb(np.zeros((2,) + SHAPE, np.float32), target=1)
