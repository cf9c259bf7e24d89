"""What a Keras classifier is made of: its feature layer, logits, class count and compiled prediction.

The package works on logits; a user's model that ends in a softmax gets a logits twin (the same
layers, the last activation removed) so attacks get useful gradients and metrics stay exact.
Compiled functions are kept in the one per-model cache (:mod:`tf_featuretest._util.cache`).
"""
from __future__ import annotations

import keras

from .._util import cache
from ..errors import ModelError


def feature_layer_name(model: keras.Model) -> str:
    """Name of the penultimate (feature) layer: ``"features"`` if present, else the layer before the last."""
    names = [layer.name for layer in model.layers]
    if "features" in names:
        return "features"
    for layer in reversed(model.layers[:-1]):
        if not isinstance(layer, keras.layers.Dropout):
            return layer.name
    raise ModelError(f"model {model.name!r} has no layer before its output")


def feature_model(model: keras.Model, layer: str | None = None) -> keras.Model:
    """A model mapping the classifier's input to a named layer's output (default: the features).

    Built once per (model, layer) and kept in the per-model cache (it shares the model's layers).
    """
    name = layer or feature_layer_name(model)

    def build():
        try:
            out = model.get_layer(name).output
        except ValueError:
            raise ModelError(f"model {model.name!r} has no layer {name!r}") from None
        return keras.Model(single_input(model), out, name=f"{model.name}_{name}")

    return cache.cached(model, ("feature_model", name), build)


def single_input(model):
    """The model's input tensor (not a one-element list, which makes Keras warn on every call)."""
    inputs = model.inputs
    return inputs[0] if len(inputs) == 1 else inputs


def outputs_probabilities(model: keras.Model) -> bool:
    """True when the model's last layer applies a softmax (its outputs are not logits)."""
    last = model.layers[-1]
    act = getattr(last, "activation", None)
    if isinstance(last, keras.layers.Softmax):
        return True
    return act is not None and getattr(act, "__name__", "") == "softmax"


def as_logits_model(model: keras.Model) -> keras.Model:
    """Return ``model`` unchanged if it outputs logits; for a final softmax, a twin that returns the logits.

    Attacks on softmax outputs get vanishing gradients and look falsely weak, so attacks and metrics
    call this first. The twin is built once per model and kept in the per-model cache.
    """
    if not callable(model) or not hasattr(model, "layers"):
        raise ModelError(f"expected a Keras classifier, got {type(model).__name__}")
    # The cache must not hold the model itself (its key): None stands for "the model is its own logits".
    twin = cache.cached(model, "logits_twin", lambda: _logits_twin(model))
    return model if twin is None else twin


def _logits_twin(model):
    if not outputs_probabilities(model):
        return None
    last = model.layers[-1]
    if isinstance(last, keras.layers.Softmax):
        return keras.Model(single_input(model), last.input, name=f"{model.name}_logits")
    if isinstance(last, keras.layers.Dense):
        cfg = last.get_config()
        cfg["activation"] = "linear"
        cfg["name"] = f"{last.name}_logits"
        dense = keras.layers.Dense.from_config(cfg)
        out = dense(last.input)
        dense.set_weights(last.get_weights())
        return keras.Model(single_input(model), out, name=f"{model.name}_logits")
    raise ModelError(f"model {model.name!r} ends in a softmax inside {type(last).__name__}; "
                     "give a model that returns logits")


def num_classes(model) -> int:
    """Number of classes (the last dimension of the model's output)."""
    shape = getattr(model, "output_shape", None)
    if not shape or shape[-1] is None:
        raise ModelError(f"cannot tell the number of classes of model {getattr(model, 'name', model)!r}")
    return int(shape[-1])


def compiled_predict(model: keras.Model):
    """``fn(x) -> logits``: the model in inference mode as one ``tf.function``, cached per model.

    Sweeps, metrics and generators call the same model many times with different inputs; sharing one
    compiled function per model means the graph is traced once, not once per call site. A final
    softmax is stripped first (see :func:`as_logits_model`). The function reaches the model through
    a weak reference, so caching it does not keep the model alive.
    """
    import tensorflow as tf

    def build():
        call = cache.weak_call(as_logits_model(model))
        return tf.function(lambda x: call(x, training=False), reduce_retracing=True)

    return cache.cached(model, "compiled_predict", build)
