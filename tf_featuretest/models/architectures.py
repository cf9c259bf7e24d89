"""Classifier architectures: a small CNN trained from scratch and ImageNet backbones with a custom head.

Every classifier takes images in [0, 1] (NHWC, 1 or 3 channels) and returns logits. Channel
repetition, upscaling to the backbone's minimum input size and the backbone's own
``preprocess_input`` live inside the model (:class:`BackbonePreprocess`), so attacks, noise,
reports and export never see backbone-specific ranges.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import keras
import numpy as np

from .._util import checks
from ..errors import ConfigError, ModelError

# name -> (keras.applications constructor name, preprocess mode, minimum input side)
BACKBONES = {
    "inception_v3": ("InceptionV3", "tf", 75),
    "densenet121": ("DenseNet121", "torch", 32),
    "densenet169": ("DenseNet169", "torch", 32),
    "mobilenet_v2": ("MobileNetV2", "tf", 32),
    "resnet50": ("ResNet50", "caffe", 32),
    "vgg16": ("VGG16", "caffe", 32),
}
CLASSIFIERS = ("small_cnn",) + tuple(BACKBONES)

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


@keras.saving.register_keras_serializable(package="tf_featuretest")
class BackbonePreprocess(keras.layers.Layer):
    """Map [0, 1] images to what a Keras Applications backbone expects.

    Repeats a single channel to RGB, then applies the backbone's ``preprocess_input`` mode:
    ``"tf"`` scales to [-1, 1], ``"torch"`` normalises by the ImageNet mean and standard
    deviation, ``"caffe"`` converts RGB to BGR on a 0..255 scale and subtracts the ImageNet mean.

    Args:
        mode: ``"tf"``, ``"torch"`` or ``"caffe"``.

    Example:
        >>> layer = BackbonePreprocess("tf")
        >>> layer(np.ones((1, 4, 4, 1), "float32")).shape
        (1, 4, 4, 3)
    """

    def __init__(self, mode="tf", **kwargs):
        super().__init__(**kwargs)
        if mode not in ("tf", "torch", "caffe"):
            raise ConfigError(f"BackbonePreprocess mode must be 'tf', 'torch' or 'caffe', got {mode!r}")
        self.mode = mode

    def call(self, x):
        ops = keras.ops
        if x.shape[-1] == 1:
            x = ops.repeat(x, 3, axis=-1)
        if self.mode == "tf":
            return x * 2.0 - 1.0
        if self.mode == "torch":
            return (x - ops.array(_IMAGENET_MEAN, x.dtype)) / ops.array(_IMAGENET_STD, x.dtype)
        return ops.flip(x, axis=-1) * 255.0 - ops.array(_CAFFE_MEAN_BGR, x.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (3,)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


@dataclass(frozen=True)
class HeadConfig:
    """The classification head on top of a backbone.

    Attributes:
        pooling: ``"avg"`` (global average pooling), ``"max"`` or ``"flatten"``.
        units: sizes of the hidden dense layers.
        dropout: dropout rate before each dense layer.
    """

    pooling: str = "avg"
    units: tuple = (256,)
    dropout: float = 0.3

    def __post_init__(self):
        if self.pooling not in ("avg", "max", "flatten"):
            raise ConfigError(f"head pooling must be 'avg', 'max' or 'flatten', got {self.pooling!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"head dropout must be in [0, 1), got {self.dropout!r}")


def _check_input_shape(input_shape):
    if len(input_shape) != 3 or input_shape[-1] not in (1, 3) or min(input_shape[:2]) < 8:
        raise ConfigError(f"input_shape must be (height >= 8, width >= 8, 1 or 3 channels), got {tuple(input_shape)}")


def small_cnn(num_classes: int, input_shape=(32, 32, 1), *, filters=(32, 64), units=128, dropout=0.3,
              name="small_cnn") -> keras.Model:
    """Two conv blocks and two dense layers (about 544k parameters at 32x32x1, 10 classes)."""
    inputs = keras.Input(input_shape, name="image")
    x = inputs
    for i, f in enumerate(filters):
        x = keras.layers.Conv2D(f, 3, padding="same", activation="relu", name=f"conv{i + 1}")(x)
        x = keras.layers.MaxPooling2D(name=f"pool{i + 1}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(units, activation="relu", name="features")(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    logits = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, logits, name=name)


def build_classifier(name: str, num_classes: int, input_shape=(32, 32, 1), *, weights=None, head=None,
                     trainable_layers=None, backbone_size=None) -> keras.Model:
    """Build a classifier that maps [0, 1] images to logits.

    Args:
        name: ``"small_cnn"`` or a backbone: ``inception_v3``, ``densenet121``, ``densenet169``,
            ``mobilenet_v2``, ``resnet50``, ``vgg16``.
        num_classes: number of classes (logits).
        input_shape: ``(height, width, channels)`` of the images fed to the model.
        weights: for backbones: ``None`` (random), ``"imagenet"`` (downloaded by Keras), or the
            path of a local weights file for the backbone without its top.
        head: a :class:`HeadConfig` (or dict of its fields) for backbones.
        trainable_layers: for backbones: ``None`` trains everything when ``weights`` is None and
            freezes the backbone otherwise; an int unfreezes that many of the backbone's last layers.
        backbone_size: side the images are resized to before the backbone; default: the input
            size, raised to the backbone's minimum (75 for InceptionV3, 32 for the others).

    Returns:
        A functional ``keras.Model``; the penultimate dense layer is named ``"features"``.

    Example:
        >>> model = build_classifier("small_cnn", 10, (32, 32, 1))
        >>> model.output_shape
        (None, 10)
    """
    if not isinstance(num_classes, (int, np.integer)) or num_classes < 2:
        raise ConfigError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    input_shape = tuple(int(v) for v in input_shape)
    _check_input_shape(input_shape)
    if name == "small_cnn":
        if weights is not None:
            raise ConfigError("small_cnn is trained from scratch; weights must be None")
        return small_cnn(int(num_classes), input_shape)
    if name not in BACKBONES:
        raise ConfigError(f"unknown classifier {name!r}; expected one of {', '.join(CLASSIFIERS)}")
    if weights not in (None, "imagenet") and not os.path.isfile(str(weights)):
        raise ConfigError(f"weights must be None, 'imagenet' or an existing file, got {weights!r}")
    head = HeadConfig(**head) if isinstance(head, dict) else (head or HeadConfig())
    ctor_name, mode, min_side = BACKBONES[name]
    side = backbone_size or max(min_side, input_shape[0], input_shape[1])
    if side < min_side:
        raise ConfigError(f"{name} needs images of at least {min_side}x{min_side}, got backbone_size={side}")
    ctor = getattr(keras.applications, ctor_name)
    try:
        backbone = ctor(include_top=False, weights=weights, input_shape=(side, side, 3))
    except Exception as exc:  # Keras raises ValueError/OSError for bad weight files or no network
        raise ModelError(f"cannot build {name} with weights={weights!r}: {exc}") from None
    backbone.name = "backbone"
    inputs = keras.Input(input_shape, name="image")
    x = inputs
    if (input_shape[0], input_shape[1]) != (side, side):
        x = keras.layers.Resizing(side, side, interpolation="bilinear", name="upscale")(x)
    x = BackbonePreprocess(mode, name="preprocess")(x)
    x = backbone(x, training=False)
    pool = {"avg": keras.layers.GlobalAveragePooling2D, "max": keras.layers.GlobalMaxPooling2D,
            "flatten": keras.layers.Flatten}[head.pooling]
    x = pool(name="pool")(x)
    units = tuple(head.units)
    for i, u in enumerate(units):
        x = keras.layers.Dropout(head.dropout, name=f"head_dropout{i + 1}")(x)
        x = keras.layers.Dense(u, activation="relu", name="features" if i == len(units) - 1 else f"head_dense{i + 1}")(x)
    x = keras.layers.Dropout(head.dropout, name="head_dropout_out")(x)
    logits = keras.layers.Dense(int(num_classes), name="logits")(x)
    model = keras.Model(inputs, logits, name=name)
    if trainable_layers is None:
        trainable_layers = None if weights is None else 0
    if trainable_layers is not None:
        unfreeze(model, trainable_layers)
    return model


def unfreeze(model: keras.Model, n: int) -> keras.Model:
    """Freeze a backbone model's backbone except its last ``n`` layers (progressive unfreezing).

    BatchNormalization layers stay frozen (they run in inference mode inside the model anyway), as
    Keras's fine-tuning guide recommends. Recompile after calling this.
    """
    backbone = _backbone(model)
    n = checks.non_negative_int(n, "trainable_layers")
    backbone.trainable = True
    layers = backbone.layers
    cut = len(layers) - int(n)
    for i, layer in enumerate(layers):
        layer.trainable = i >= cut and not isinstance(layer, keras.layers.BatchNormalization)
    if n == 0:
        backbone.trainable = False
    return model


def _backbone(model):
    try:
        return model.get_layer("backbone")
    except ValueError:
        raise ModelError(f"model {model.name!r} has no backbone to freeze or unfreeze") from None


