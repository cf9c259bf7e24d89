"""Noise registry: identity at 0, range/shape/dtype, seeding, tf.data, presets, per-noise properties."""
import numpy as np
import pytest
import tensorflow as tf

from tf_featuretest.errors import ConfigError
from tf_featuretest.evaluation import sweep
from tf_featuretest.noise import (
    IMAGENET_C_PARAMETERS,
    IMAGENET_C_SEVERITIES,
    NOISES,
    get_noise,
    imagenet_c_severity,
    jpeg_quality,
    noise_transform,
    parse_noises,
)

NAMES = sorted(NOISES)
DETERMINISTIC = {"brightness", "contrast", "jpeg", "gaussian_blur", "pixelate", "defocus_blur", "zoom_blur", "saturate"}
#: Identity on grey images at the severities used below (levels 1-3 only scale a grey image's zero saturation).
COLOUR_ONLY = {"saturate"}
REQUIRED = {"gaussian", "uniform", "salt_and_pepper", "speckle", "shot", "patches", "black_rows", "black_columns",
            "gaussian_blur", "motion_blur", "occlusion", "brightness", "contrast", "jpeg", "pixelate", "rotation",
            "translation", "defocus_blur", "glass_blur", "zoom_blur", "snow", "fog", "spatter", "saturate",
            "elastic_transform"}


@pytest.fixture(scope="module")
def batch(digits):
    return digits["test"][0][:16]


@pytest.fixture(scope="module")
def rgb(rng=None):
    r = np.random.default_rng(1)
    return (0.6 * r.uniform(size=(4, 24, 20, 3)) + 0.2).astype(np.float32)


def test_registry_has_every_required_noise():
    assert REQUIRED <= set(NOISES)


@pytest.mark.parametrize("name", NAMES)
def test_severity_zero_is_identity(name, batch):
    np.testing.assert_array_equal(NOISES[name](batch, 0.0, seed=3).numpy(), batch)
    compiled = tf.function(lambda x, s: NOISES[name](x, s, seed=3))
    np.testing.assert_array_equal(compiled(tf.constant(batch), tf.constant(0.0)).numpy(), batch)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("severity", [0.3, 1.0])
def test_range_shape_dtype(name, severity, batch, rgb):
    for x in (batch, rgb, rgb.astype(np.float64)):
        out = NOISES[name](x, severity, seed=0)
        assert out.shape == x.shape and out.dtype == tf.as_dtype(x.dtype)
        out = out.numpy()
        assert np.isfinite(out).all() and out.min() >= 0.0 and out.max() <= 1.0
    single = NOISES[name](rgb[0], severity, seed=0)
    assert single.shape == rgb[0].shape


@pytest.mark.parametrize("name", NAMES)
def test_seeding(name, batch, rgb):
    fn = NOISES[name]
    batch = rgb if name in COLOUR_ONLY else batch
    a, b = fn(batch, 0.5, seed=7).numpy(), fn(batch, 0.5, seed=7).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, batch)
    if name not in DETERMINISTIC:
        assert not np.array_equal(a, fn(batch, 0.5, seed=8).numpy())


@pytest.mark.parametrize("name", NAMES)
def test_runs_inside_tf_data_map_like_eager(name, batch):
    fn = NOISES[name]
    ds = tf.data.Dataset.from_tensor_slices((batch, np.arange(len(batch)))).batch(8)
    mapped = ds.map(lambda x, y: (fn(x, tf.constant(0.4), seed=tf.constant(5, tf.int64)), y))
    got = np.concatenate([x.numpy() for x, _ in mapped])
    want = np.concatenate([fn(batch[i:i + 8], 0.4, seed=5).numpy() for i in (0, 8)])
    np.testing.assert_allclose(got, want, atol=1e-6)
    single = tf.data.Dataset.from_tensor_slices(batch[:2]).map(lambda x: fn(x, 0.6, seed=1))
    assert [tuple(x.shape) for x in single] == [batch.shape[1:]] * 2


# rotation wraps around; the reference's elastic_transform moves pixels most at levels 1-2 (large alpha).
@pytest.mark.parametrize("name", sorted(set(NAMES) - {"rotation", "elastic_transform"}))
def test_stronger_severity_changes_more(name, batch, rgb):
    fn = NOISES[name]
    batch = rgb if name in COLOUR_ONLY else batch
    weak = np.abs(fn(batch, 0.2, seed=2).numpy() - batch).mean()
    strong = np.abs(fn(batch, 0.8, seed=2).numpy() - batch).mean()
    assert strong > weak > 0


def test_bad_inputs_are_config_errors(batch):
    with pytest.raises(ConfigError, match="1.5"):
        NOISES["gaussian"](batch, 1.5, seed=0)
    with pytest.raises(ConfigError, match="int32"):
        NOISES["gaussian"](np.zeros((2, 8, 8, 1), np.int32), 0.5, seed=0)
    with pytest.raises(ConfigError, match="shape"):
        NOISES["gaussian"](np.zeros((8, 8), np.float32), 0.5, seed=0)
    with pytest.raises(ConfigError, match="hail"):
        get_noise("hail")
    with pytest.raises(ConfigError, match="hail"):
        parse_noises("gaussian,hail")
    assert parse_noises(" gaussian, jpeg ") == ("gaussian", "jpeg")
    assert parse_noises("gaussian_noise,jpeg_compression,fog") == ("gaussian", "jpeg", "fog")
    with pytest.raises(ConfigError, match="patches"):
        imagenet_c_severity("patches", 1)
    with pytest.raises(ConfigError, match="6"):
        imagenet_c_severity("gaussian", 6)


def test_imagenet_c_presets_reproduce_the_parameters():
    assert set(IMAGENET_C_SEVERITIES) == set(IMAGENET_C_PARAMETERS)
    for sev in IMAGENET_C_SEVERITIES.values():
        assert all(0 < s <= 1 for s in sev) and list(sev) == sorted(sev)
    q = [int(jpeg_quality(tf.constant(s, tf.float32))) for s in IMAGENET_C_SEVERITIES["jpeg"]]
    assert q == list(IMAGENET_C_PARAMETERS["jpeg"])
    x = np.random.default_rng(0).uniform(0.2, 0.8, size=(2, 16, 16, 3)).astype(np.float32)
    for level, c in enumerate(IMAGENET_C_PARAMETERS["contrast"], 1):
        out = NOISES["contrast"](x, imagenet_c_severity("contrast", level), seed=0).numpy()
        mean = x.mean(axis=(1, 2), keepdims=True)
        np.testing.assert_allclose(out - mean, (x - mean) * c, atol=1e-5)
    grey = np.full((64, 32, 32, 1), 0.5, np.float32)
    for level, c in enumerate(IMAGENET_C_PARAMETERS["salt_and_pepper"], 1):
        out = NOISES["salt_and_pepper"](grey, imagenet_c_severity("salt_and_pepper", level), seed=level).numpy()
        assert abs((out != 0.5).mean() - c) < 0.01


def test_structured_noise_geometry():
    ones = np.ones((8, 32, 32, 1), np.float32)
    rows = NOISES["black_rows"](ones, 0.5, seed=0).numpy()
    assert ((rows == 0).all(axis=(2, 3)).sum(axis=1) == round(0.8 * 0.5 * 32)).all()
    cols = NOISES["black_columns"](ones, 0.5, seed=0).numpy()
    assert ((cols == 0).all(axis=(1, 3)).sum(axis=1) == round(0.8 * 0.5 * 32)).all()
    occ = NOISES["occlusion"](ones, 0.5, seed=0).numpy()
    side = 0.8 * 0.5 * 32
    assert np.all(np.abs((occ == 0.5).sum(axis=(1, 2, 3)) - side ** 2) <= 2 * side + 1)
    const = np.full((2, 32, 32, 3), 0.3, np.float32)
    for name in ("gaussian_blur", "motion_blur", "pixelate", "translation"):
        out = NOISES[name](const, 0.3, seed=0).numpy()
        if name == "translation":
            assert (np.isclose(out, 0.0, atol=1e-5) | np.isclose(out, 0.3, atol=1e-5)).mean() > 0.9
        else:
            np.testing.assert_allclose(out, const, atol=1e-5)


def test_colour_noises_act_per_channel_like_grey():
    x = np.random.default_rng(2).uniform(size=(3, 16, 16, 3)).astype(np.float32)
    for name in ("motion_blur", "gaussian_blur", "translation", "rotation"):
        colour = NOISES[name](x, 0.6, seed=4).numpy()
        for c in range(3):
            grey = NOISES[name](x[..., c:c + 1], 0.6, seed=4).numpy()
            np.testing.assert_allclose(colour[..., c:c + 1], grey, atol=1e-5)


def test_gaussian_sweep_accuracy_falls_monotonically(digits_cnn, digits):
    x, y = digits["test"]
    res = sweep(digits_cnn, (x[:160], y[:160]), noise_transform("gaussian"), "severity",
                [0.0, 0.25, 0.5, 0.75, 1.0], seed=0)
    acc = np.array(res.accuracy)
    assert res.name == "gaussian" and acc[0] == res.clean_accuracy
    assert np.all(np.diff(acc) <= 0.03)
    assert acc[-1] < acc[0] - 0.05
    assert res.mean_linf[0] == 0 and np.all(np.diff(res.mean_l2) > 0)
