"""The digits CNN the attack benchmarks measure on, trained the way the test fixture trains it."""
import keras
import tensorflow as tf

from tf_featuretest.data import load_arrays
from tf_featuretest.models import build_classifier, compile_classifier


def train_model(epochs, seed):
    """The small CNN on the digits training split (Adam 2e-3, batch 64, seeded shuffle)."""
    x, y, _ = load_arrays("digits", "train")
    keras.utils.set_random_seed(seed)
    model = build_classifier("small_cnn", 10, x.shape[1:])
    compile_classifier(model, learning_rate=2e-3)
    model.fit(tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(y), seed=seed).batch(64), epochs=epochs,
              verbose=0)
    return model
