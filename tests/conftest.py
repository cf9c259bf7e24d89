"""Shared fixtures: the digits data and a small CNN trained on it once per test session."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest


@pytest.fixture(scope="session")
def digits():
    """``{"train": (x, y), "validation": (x, y), "test": (x, y), "info": DatasetInfo}`` at 32x32x1."""
    from tf_featuretest.data import load_arrays

    out = {}
    for split in ("train", "validation", "test"):
        x, y, info = load_arrays("digits", split)
        out[split] = (x, y)
        out["info"] = info
    return out


@pytest.fixture(scope="session")
def digits_cnn(digits):
    """The small CNN trained on digits (about 98-99% test accuracy), deterministic for a run."""
    import keras
    import tensorflow as tf

    from tf_featuretest.models import build_classifier, compile_classifier

    keras.utils.set_random_seed(0)
    x, y = digits["train"]
    model = build_classifier("small_cnn", 10, x.shape[1:])
    compile_classifier(model, learning_rate=2e-3)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(y), seed=0).batch(64)
    model.fit(ds, epochs=8, verbose=0)
    return model


@pytest.fixture(scope="session")
def digits_advgan(digits, digits_cnn):
    """A small pixel-family AdvGAN (eps 0.3, untargeted and targeted) trained 2 epochs against ``digits_cnn``."""
    import tensorflow as tf

    from tf_featuretest.models.advgan import train_advgan

    x, y = digits["train"]
    ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(y), seed=0).batch(64)
    return train_advgan(digits_cnn, ds, eps=0.3, mode="both", epochs=2, seed=0)


@pytest.fixture(scope="session")
def digits_test_batch(digits):
    """The first 128 test images and labels."""
    x, y = digits["test"]
    return x[:128], y[:128]


@pytest.fixture
def rng():
    return np.random.default_rng(0)
