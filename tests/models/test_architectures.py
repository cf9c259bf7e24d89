"""Classifiers: the small CNN on digits, every backbone for one training step, fine-tuning helpers."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_featuretest.errors import ConfigError, ModelError
from tf_featuretest.models import (
    BackbonePreprocess,
    as_logits_model,
    build_classifier,
    compile_classifier,
    feature_model,
    load_classifier,
    outputs_probabilities,
    save_model_atomic,
    train_classifier,
    unfreeze,
)


def test_small_cnn_reaches_real_accuracy(digits_cnn, digits):
    x, y = digits["test"]
    acc = float(np.mean(np.argmax(digits_cnn.predict(x, verbose=0), 1) == y))
    assert acc >= 0.97
    assert digits_cnn.count_params() == 544_522


@pytest.mark.parametrize("name,shape", [
    ("inception_v3", (32, 32, 1)),
    ("densenet121", (32, 32, 3)),
    ("densenet169", (32, 32, 3)),
    ("mobilenet_v2", (32, 32, 1)),
    ("resnet50", (32, 32, 3)),
    ("vgg16", (32, 32, 3)),
])
def test_backbone_builds_and_trains_one_step(name, shape):
    model = build_classifier(name, 3, shape, head={"units": (16,), "dropout": 0.1})
    assert model.input_shape == (None,) + shape and model.output_shape == (None, 3)
    if name == "inception_v3":
        assert model.get_layer("upscale").output.shape[1] == 75
    compile_classifier(model, learning_rate=1e-3)
    model.run_eagerly = True  # one step: tracing a 300-layer graph would cost more than the step itself
    x = np.random.default_rng(0).random((4,) + shape, dtype=np.float32)
    y = np.array([0, 1, 2, 0])
    before = [w.copy() for w in model.get_layer("logits").get_weights()]
    logs = model.train_on_batch(x, y, return_dict=True)
    assert np.isfinite(logs["loss"])
    after = model.get_layer("logits").get_weights()
    assert any(not np.allclose(b, a) for b, a in zip(before, after))
    assert feature_model(model).output_shape == (None, 16)


def test_freezing_and_progressive_unfreezing():
    model = build_classifier("mobilenet_v2", 4, (32, 32, 3), trainable_layers=0)
    backbone = model.get_layer("backbone")
    assert not backbone.trainable
    head_only = len(model.trainable_weights)
    unfreeze(model, 10)
    trainable = [layer for layer in backbone.layers if layer.trainable and layer.weights]
    assert 0 < len(trainable) <= 10
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in trainable)
    assert len(model.trainable_weights) > head_only
    with pytest.raises(ModelError, match="no backbone"):
        unfreeze(build_classifier("small_cnn", 10), 3)


@pytest.mark.parametrize("mode", ["tf", "torch", "caffe"])
def test_backbone_preprocess_matches_keras_applications(mode):
    x = np.random.default_rng(1).random((2, 5, 5, 3)).astype(np.float32)
    ours = BackbonePreprocess(mode)(x).numpy()
    ref = keras.applications.imagenet_utils.preprocess_input(x * 255.0, mode=mode)
    np.testing.assert_allclose(ours, np.asarray(ref), rtol=1e-5, atol=1e-4)


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(ConfigError, match="'resnet18'"):
        build_classifier("resnet18", 10)
    with pytest.raises(ConfigError, match=r"\(32, 32, 2\)"):
        build_classifier("small_cnn", 10, (32, 32, 2))
    with pytest.raises(ConfigError, match="num_classes.*1"):
        build_classifier("small_cnn", 1)
    with pytest.raises(ConfigError, match="nope.h5"):
        build_classifier("vgg16", 10, (32, 32, 3), weights="nope.h5")
    with pytest.raises(ModelError, match="missing.keras"):
        load_classifier(str(tmp_path / "missing.keras"))
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ModelError, match="bad.keras"):
        load_classifier(str(bad))


def test_local_weights_file_is_loaded(tmp_path):
    src = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(32, 32, 3))
    path = str(tmp_path / "mnv2_notop.weights.h5")
    src.save_weights(path)
    model = build_classifier("mobilenet_v2", 3, (32, 32, 3), weights=path)
    for a, b in zip(model.get_layer("backbone").get_weights()[:5], src.get_weights()[:5]):
        np.testing.assert_array_equal(a, b)
    assert not model.get_layer("backbone").trainable


def test_softmax_models_are_turned_into_logits():
    inp = keras.Input((8, 8, 1))
    out = keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(inp))
    model = keras.Model(inp, out)
    assert outputs_probabilities(model)
    logits_model = as_logits_model(model)
    assert not outputs_probabilities(logits_model)
    x = np.random.default_rng(2).random((5, 8, 8, 1)).astype(np.float32)
    np.testing.assert_allclose(tf.nn.softmax(logits_model(x)).numpy(), model(x).numpy(), atol=1e-6)


def test_training_resumes_and_saves(tmp_path, digits):
    x, y = digits["train"]
    ds = tf.data.Dataset.from_tensor_slices((x[:256], y[:256])).batch(64)
    model = build_classifier("small_cnn", 10)
    result = train_classifier(model, ds, ds, epochs=2, verbose=0, work_dir=str(tmp_path / "w"),
                              save_path=str(tmp_path / "m.keras"))
    assert result.epochs_run == 2 and set(result.history) >= {"loss", "accuracy", "val_loss", "top5_accuracy"}
    again = load_classifier(str(tmp_path / "m.keras"))
    np.testing.assert_allclose(again.predict(x[:8], verbose=0), model.predict(x[:8], verbose=0), atol=1e-5)
    # An interrupted run resumes from its backup: simulate a crash during epoch 2 of 3.

    class Crash(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                raise RuntimeError("simulated interruption")

    m2 = build_classifier("small_cnn", 10)
    with pytest.raises(RuntimeError, match="simulated"):
        train_classifier(m2, ds, None, epochs=3, verbose=0, work_dir=str(tmp_path / "r"), callbacks=[Crash()])
    m3 = build_classifier("small_cnn", 10)
    resumed = train_classifier(m3, ds, None, epochs=3, verbose=0, work_dir=str(tmp_path / "r"))
    # Epoch 1 came from the backup, epochs 2 and 3 were trained now; the history holds all three.
    assert resumed.extra["resumed_from_epoch"] == 1
    assert resumed.epochs_run == 3 and len(resumed.history["loss"]) == 3
    with pytest.raises(ConfigError, match="weights.bin"):
        save_model_atomic(model, str(tmp_path / "weights.bin"))
