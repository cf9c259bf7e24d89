"""The one per-model cache: compiled functions are reused, and a model is freed once the user drops it."""
import gc
import weakref

import keras
import numpy as np
import tensorflow as tf

from tf_featuretest._util import cache
from tf_featuretest.attacks import feature_space, fgsm, pgd
from tf_featuretest.attacks.feature_space import class_centroids
from tf_featuretest.evaluation import sweep
from tf_featuretest.explain import saliency_maps
from tf_featuretest.metrics import evaluate_classifier
from tf_featuretest.models import as_logits_model, build_classifier, compiled_predict


def _softmax_model():
    inputs = keras.Input((16, 16, 1))
    h = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dense(8, activation="relu", name="features")(h)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(h))


def test_compiled_functions_are_built_once_per_model():
    model = build_classifier("small_cnn", 3, (16, 16, 1))
    assert compiled_predict(model) is compiled_predict(model)
    twin = as_logits_model(_softmax_model())
    assert twin.layers[-1].get_config()["activation"] == "linear"


def test_a_model_is_freed_after_every_cached_use():
    x = np.random.default_rng(0).random((4, 16, 16, 1)).astype("float32")
    y = np.array([0, 1, 2, 0])
    refs = []
    for make in (lambda: build_classifier("small_cnn", 3, (16, 16, 1)), _softmax_model):
        model = make()
        compiled_predict(model)(tf.constant(x))
        fgsm(model, x, y, eps=0.1)
        pgd(model, x, y, eps=0.1, steps=2, seed=0)
        sweep(model, (x, y), fgsm, "eps", [0.0, 0.1])
        evaluate_classifier(model, (x, y), ["a", "b", "c"])
        feature_space(model, x, y, target=1, eps=0.1, steps=2, centroids=class_centroids(model, x, y))
        saliency_maps(model, x, y, n=2)
        assert cache.size() >= 1
        refs.append(weakref.ref(model))
        del model
    gc.collect()
    assert [r() for r in refs] == [None, None], "a cached value still holds its model"
