"""Saliency: shapes and ranges, seeding, compile-once, Grad-CAM localisation, backbones, errors."""
import json

import keras
import numpy as np
import pytest

from tf_featuretest.errors import ConfigError, DataError, ModelError
from tf_featuretest.explain import (
    Explainer,
    SaliencyResult,
    concentration,
    find_cam_layer,
    get_explainer,
    saliency_maps,
)

SIDE = 32
CORNERS = {0: (slice(2, 10), slice(2, 10)), 1: (slice(22, 30), slice(22, 30))}  # class -> square


def corner_images(n, seed):
    """Noise images whose class is the corner holding a bright 8x8 square (0: top-left, 1: bottom-right)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 0.3, (n, SIDE, SIDE, 1)).astype("float32")
    y = rng.integers(0, 2, n)
    for i, c in enumerate(y):
        rows, cols = CORNERS[int(c)]
        x[i, rows, cols, 0] = rng.uniform(0.85, 1.0)
    return x, y


@pytest.fixture(scope="module")
def corner_model():
    """A tiny CNN trained to tell the two corners apart (100% on held-out images)."""
    keras.utils.set_random_seed(1)
    inputs = keras.Input((SIDE, SIDE, 1))
    h = keras.layers.Conv2D(8, 3, padding="valid", activation="relu", name="conv_a")(inputs)
    h = keras.layers.MaxPooling2D(name="pool_a")(h)
    h = keras.layers.Conv2D(16, 3, padding="valid", activation="relu", name="conv_b")(h)
    h = keras.layers.GlobalAveragePooling2D(name="gap")(h)
    model = keras.Model(inputs, keras.layers.Dense(2, name="logits")(h))
    model.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    x, y = corner_images(512, seed=0)
    model.fit(x, y, epochs=6, batch_size=32, verbose=0)
    xt, yt = corner_images(40, seed=1)
    assert model.evaluate(xt, yt, verbose=0)[1] == 1.0
    return model


@pytest.fixture(scope="module")
def corner_test():
    return corner_images(24, seed=2)


def test_maps_have_image_shape_and_valid_values(corner_model, corner_test):
    x, y = corner_test
    res = saliency_maps(corner_model, x, y, n=8, seed=3)
    assert isinstance(res, SaliencyResult) and res.methods == ("vanilla", "smoothgrad", "gradcam")
    for method, maps in res.maps.items():
        assert maps.shape == (len(x), SIDE, SIDE), method
        assert np.isfinite(maps).all() and maps.min() >= 0.0, method
        assert maps.max() > 0.0, method
    assert res.maps["gradcam"].max() <= 1.0 + 1e-6
    np.testing.assert_allclose(res.maps["gradcam"].max(axis=(1, 2)), 1.0, atol=1e-5)
    assert res.layer == "conv_b"
    np.testing.assert_array_equal(res.predictions, y)
    np.testing.assert_array_equal(res.targets, res.predictions)
    assert ((0.5 <= res.confidences) & (res.confidences <= 1.0)).all()


def test_smoothgrad_is_seeded_and_batch_independent(corner_model, corner_test):
    x, _ = corner_test
    ex = get_explainer(corner_model)
    a = ex.smoothgrad(x, n=6, sigma=0.2, seed=7)
    b = ex.smoothgrad(x, n=6, sigma=0.2, seed=7)
    c = ex.smoothgrad(x, n=6, sigma=0.2, seed=8)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-4 * a.max()
    small_batches = Explainer(corner_model, batch_size=5).smoothgrad(x, n=6, sigma=0.2, seed=7)
    np.testing.assert_allclose(small_batches, a, rtol=1e-4, atol=1e-6 * a.max())


def test_vanilla_is_noise_free_smoothgrad_and_differs_from_noisy(corner_model, corner_test):
    x, _ = corner_test
    ex = get_explainer(corner_model)
    np.testing.assert_allclose(ex.vanilla(x), ex.smoothgrad(x, n=4, sigma=0.0), rtol=1e-6)
    assert np.abs(ex.vanilla(x) - ex.smoothgrad(x, n=4, sigma=0.3)).max() > 0


def test_compiled_once_per_model(corner_model, corner_test):
    x, y = corner_test
    ex = get_explainer(corner_model)
    assert get_explainer(corner_model) is ex
    for batch in (x[:3], x[:7], x):
        saliency_maps(corner_model, batch, methods=("vanilla", "gradcam"))
        ex.smoothgrad(batch, n=2, seed=0)
    assert ex._compiled().experimental_get_tracing_count() == 1


def test_gradcam_highlights_the_deciding_corner(corner_model, corner_test):
    x, y = corner_test
    maps = saliency_maps(corner_model, x, y, methods=("gradcam",)).maps["gradcam"]
    for i, c in enumerate(y):
        own, other = CORNERS[int(c)], CORNERS[1 - int(c)]
        assert maps[i][own].sum() > 2.0 * maps[i][other].sum(), (i, int(c))
    # explaining the other class moves the mass away from the square
    flipped = saliency_maps(corner_model, x, y, methods=("gradcam",), target=1 - y).maps["gradcam"]
    own_mass = [maps[i][CORNERS[int(c)]].sum() for i, c in enumerate(y)]
    flipped_mass = [flipped[i][CORNERS[int(c)]].sum() for i, c in enumerate(y)]
    assert np.mean(flipped_mass) < 0.5 * np.mean(own_mass)


def test_target_label_and_explicit_targets(corner_model, corner_test):
    x, y = corner_test
    flipped = 1 - y
    res = saliency_maps(corner_model, x, y, methods=("gradcam",), target=flipped)
    np.testing.assert_array_equal(res.targets, flipped)
    by_label = saliency_maps(corner_model, x, y, methods=("vanilla",), target="label")
    np.testing.assert_array_equal(by_label.targets, y)
    d = by_label.to_dict()
    json.dumps(d)
    assert d["accuracy"] == 1.0 and d["labels"] == [int(v) for v in y]
    assert 0.1 <= d["concentration"]["vanilla"] <= 1.0
    assert "maps" in res.to_dict(include_maps=True)


def test_concentration_of_flat_and_peaked_maps():
    flat = np.ones((1, 10, 10))
    peaked = np.zeros((1, 10, 10))
    peaked[0, 0, :5] = 1.0
    np.testing.assert_allclose(concentration(flat), [0.1])
    np.testing.assert_allclose(concentration(peaked), [1.0])
    np.testing.assert_allclose(concentration(np.zeros((1, 4, 4))), [0.0])


def test_backbone_model_finds_layer_inside_backbone():
    from tf_featuretest.models import build_classifier

    keras.utils.set_random_seed(0)
    model = build_classifier("mobilenet_v2", 3, (32, 32, 3), weights=None)
    layer = find_cam_layer(model)
    assert layer.startswith("backbone/")
    x = np.random.default_rng(0).uniform(0, 1, (3, 32, 32, 3)).astype("float32")
    res = saliency_maps(model, x, methods=("vanilla", "smoothgrad", "gradcam"), n=2)
    assert res.layer == layer
    for maps in res.maps.values():
        assert maps.shape == (3, 32, 32) and np.isfinite(maps).all() and maps.min() >= 0.0
    assert res.maps["gradcam"].max() == pytest.approx(1.0)
    named = Explainer(model, layer="out_relu")
    assert named.layer == "backbone/out_relu"


def test_model_without_convolution_gives_gradients_but_no_gradcam():
    inputs = keras.Input((8, 8, 1))
    out = keras.layers.Dense(3)(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, out)
    x = np.full((2, 8, 8, 1), 0.5, "float32")
    assert saliency_maps(model, x, methods=("vanilla",)).maps["vanilla"].shape == (2, 8, 8)
    with pytest.raises(ModelError, match="no convolutional layer"):
        saliency_maps(model, x, methods=("gradcam",))


@pytest.mark.parametrize("kwargs, error, match", [
    ({"methods": ("lime",)}, ConfigError, "lime"),
    ({"n": 0}, ConfigError, "n must be"),
    ({"sigma": -0.1}, ConfigError, "sigma"),
    ({"target": "best"}, ConfigError, "best"),
    ({"target": np.array([5])}, DataError, "outside 0..1"),
    ({"layer": "conv_z"}, ModelError, "conv_z"),
    ({"layer": "gap"}, ModelError, "4-D"),
    ({"batch_size": 0}, ConfigError, "batch_size"),
])
def test_bad_arguments_raise(corner_model, kwargs, error, match):
    x, _ = corner_images(1, seed=5)
    with pytest.raises(error, match=match):
        saliency_maps(corner_model, x, **kwargs)


def test_bad_images_raise(corner_model):
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        saliency_maps(corner_model, np.full((1, SIDE, SIDE, 1), 2.0, "float32"))
    with pytest.raises(DataError, match="shape"):
        saliency_maps(corner_model, np.zeros((1, 16, 16, 1), "float32"))
    with pytest.raises(DataError, match="labels"):
        saliency_maps(corner_model, np.zeros((2, SIDE, SIDE, 1), "float32"), y=[0])
