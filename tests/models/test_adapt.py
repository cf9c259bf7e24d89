"""A user's own classifier: input range detected, 0-255 models wrapped, bad fits refused with one line."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_featuretest.attacks import fgsm
from tf_featuretest.data.subset import subset
from tf_featuretest.errors import ModelError
from tf_featuretest.explain import saliency_maps
from tf_featuretest.models.adapt import SCALE_LAYER, adapt_classifier, leading_rescaling, with_input_scale
from tf_featuretest.models.introspection import as_logits_model, feature_model


def _tutorial_model(shape, rescale=True):
    """The Keras tutorial's pattern: raw 0-255 pixels, Rescaling(1/255) inside, softmax at the end."""
    layers = [keras.Input(shape)] + ([keras.layers.Rescaling(1.0 / 255)] if rescale else [])
    layers += [keras.layers.Conv2D(16, 3, activation="relu"), keras.layers.MaxPooling2D(), keras.layers.Flatten(),
               keras.layers.Dense(32, activation="relu"), keras.layers.Dense(10, activation="softmax")]
    return keras.Sequential(layers)


@pytest.fixture(scope="module")
def trained(digits):
    """A Rescaling(1/255) + softmax model and one without the layer, both fitted on 0-255 digits."""
    x, y = digits["train"]
    out = {}
    for rescale in (True, False):
        keras.utils.set_random_seed(0)
        m = _tutorial_model(x.shape[1:], rescale)
        m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        # Without the layer the model learns on 0-255 inputs directly; a small rate keeps it stable.
        if not rescale:
            m.compile(keras.optimizers.Adam(1e-4), "sparse_categorical_crossentropy", metrics=["accuracy"])
        m.fit(x * 255.0, y, batch_size=64, epochs=4, verbose=0)
        out[rescale] = m
    return out


def _probe(digits, n=256):
    x, y = digits["validation"]
    return subset(y, n, split="validation", seed=0).take(x, y)


def test_a_rescaling_softmax_model_is_wrapped_and_scores_as_keras_does(digits, trained, tmp_path):
    model = trained[True]
    xv, yv = _probe(digits)
    adapted, how = adapt_classifier(model, xv, yv, num_classes=10, data_shape=(32, 32, 1))
    assert (how.expects, how.wrapped, how.softmax) == ("0-255", True, True)
    assert how.decided_by == "rescaling layer and accuracy"
    assert how.probe.acc("0-255") > 0.8 > 0.3 > how.probe.acc("0-1")
    assert "Rescaling(255)" in how.describe() and "[0, 255]" in how.describe()
    xt, yt = digits["test"]
    _, keras_acc = model.evaluate(xt * 255.0, yt, verbose=0)  # Keras on the pixels the model was trained on
    ours = float(np.mean(as_logits_model(adapted).predict(xt, verbose=0).argmax(1) == yt))
    assert abs(ours - keras_acc) <= 0.01, (ours, keras_acc)
    naive = float(np.mean(model.predict(xt, verbose=0).argmax(1) == yt))  # what the package used to score
    assert naive < keras_acc - 0.3
    # An ordinary flat model: the scale layer after the input, then the user's layers with their weights.
    assert adapted.layers[1].name == SCALE_LAYER and not any(isinstance(la, keras.Model) for la in adapted.layers)
    assert feature_model(adapted).output_shape == (None, 32)
    # Grad-CAM reads a layer's output: the adapted model is a functional graph whose layers give gradients.
    assert saliency_maps(adapted, xt[:4], yt[:4], n=2, seed=0).layer is not None
    x_adv = fgsm(adapted, xt[:32], yt[:32], eps=0.1).numpy()
    assert 0 <= x_adv.min() and x_adv.max() <= 1 and np.abs(x_adv - xt[:32]).max() > 0.09  # real gradients
    path = str(tmp_path / "adapted.keras")
    adapted.save(path)
    again = keras.models.load_model(path)
    np.testing.assert_allclose(again.predict(xt[:8], verbose=0), adapted.predict(xt[:8], verbose=0), atol=1e-6)
    assert leading_rescaling(again)[0] == pytest.approx(1.0)  # a saved adapted model is a [0, 1] model
    _, how_again = adapt_classifier(again, xv, yv, num_classes=10)
    assert not how_again.wrapped


def test_a_0_255_model_without_a_rescaling_layer_is_found_by_accuracy(digits, trained):
    xv, yv = _probe(digits)
    adapted, how = adapt_classifier(trained[False], xv, yv, num_classes=10)
    # Its arg-max barely depends on the input scale (ReLU layers scale the logits), its confidence does.
    assert (how.expects, how.decided_by, how.rescaling) == ("0-255", "cross-entropy", None)
    assert how.probe.ce("0-255") < how.probe.ce("0-1") - 0.3 and "cross-entropy" in how.describe()
    xt, yt = digits["test"]
    _, keras_acc = trained[False].evaluate(xt * 255.0, yt, verbose=0)
    ours = float(np.mean(as_logits_model(adapted).predict(xt, verbose=0).argmax(1) == yt))
    assert abs(ours - keras_acc) <= 0.01


def test_a_0_1_model_is_left_alone(digits, digits_cnn):
    xv, yv = _probe(digits)
    adapted, how = adapt_classifier(digits_cnn, xv, yv, num_classes=10, data_shape=(32, 32, 1))
    assert adapted is digits_cnn and (how.expects, how.wrapped, how.softmax) == ("0-1", False, False)
    assert how.decided_by in ("accuracy", "cross-entropy") and how.probe.ce("0-1") < how.probe.ce("0-255")
    _, no_data = adapt_classifier(digits_cnn)
    assert (no_data.expects, no_data.decided_by) == ("0-1", "convention")
    assert "not checked" in no_data.describe()


def test_a_model_at_chance_is_refused_with_one_line(digits):
    xv, yv = _probe(digits)
    keras.utils.set_random_seed(5)
    untrained = _tutorial_model((32, 32, 1))
    with pytest.raises(ModelError, match=r"no better than chance.*at \[0, 1\].*at \[0, 255\].*chance 10\.0%") as err:
        adapt_classifier(untrained, xv, yv, num_classes=10, what="mine.keras")
    assert "\n" not in str(err.value) and "mine.keras" in str(err.value)


def test_shape_and_class_mismatches_name_both_sides(trained):
    model = trained[True]
    with pytest.raises(ModelError) as err:
        adapt_classifier(model, data_shape=(32, 32, 3), what="mine.keras", fix="set data.channels = 1")
    msg = str(err.value)
    assert "(32, 32, 1)" in msg and "(32, 32, 3)" in msg and "data.channels = 1" in msg and "\n" not in msg
    with pytest.raises(ModelError, match=r"\(32, 32, 1\).*\(28, 28, 1\)"):
        adapt_classifier(model, data_shape=(28, 28, 1))
    with pytest.raises(ModelError, match="10 outputs but the data has 43 classes"):
        adapt_classifier(model, num_classes=43)


def test_a_functional_model_with_branches_is_rebuilt_flat():
    keras.utils.set_random_seed(1)
    inp = keras.Input((12, 12, 3))
    a = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    b = keras.layers.Conv2D(4, 1)(inp)
    h = keras.layers.GlobalAveragePooling2D()(keras.layers.Add()([a, b]))
    model = keras.Model(inp, keras.layers.Dense(5, activation="softmax")(h))
    wrapped = with_input_scale(model)
    assert [la.name for la in wrapped.layers][:2] == [model.layers[0].name, SCALE_LAYER]
    x = np.random.default_rng(0).random((4, 12, 12, 3)).astype("float32")
    np.testing.assert_allclose(wrapped.predict(x, verbose=0), model.predict(x * 255, verbose=0), atol=1e-5)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        top = as_logits_model(wrapped)(xt)[:, 0]
    grads = tape.gradient(top, xt)
    assert float(tf.reduce_max(tf.abs(grads))) > 0
