"""Grad-CAM plumbing: find the layer to explain and split a (nested) model open at it."""
from __future__ import annotations

import keras

from ..errors import ConfigError, ModelError

# Layers that never make a Grad-CAM target: they pad, pool, drop or only rescale.
_SKIP = (keras.layers.ZeroPadding2D, keras.layers.Cropping2D, keras.layers.MaxPooling2D,
         keras.layers.AveragePooling2D, keras.layers.Dropout, keras.layers.SpatialDropout2D,
         keras.layers.InputLayer, keras.layers.Resizing, keras.layers.Rescaling, keras.layers.Normalization)
_CONV = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)


def _walk(model, prefix=()):
    """Every layer in order as ``(path tuple, layer)``, descending into nested models."""
    for layer in model.layers:
        path = prefix + (layer.name,)
        if isinstance(layer, keras.Model):
            yield from _walk(layer, path)
        else:
            yield path, layer


def find_cam_layer(model: keras.Model) -> str:
    """Name (``"a/b"`` for a layer inside sub-model ``a``) of the layer Grad-CAM uses by default.

    That is the last layer after the first convolution whose output is a spatial map of at least
    2x2, skipping padding, pooling, dropout and rescaling layers (a 1x1 map cannot localise).

    Raises:
        ModelError: the model has no convolutional layer with a spatial output.
    """
    layers = list(_walk(model))
    first_conv = next((i for i, (_, layer) in enumerate(layers) if isinstance(layer, _CONV)), None)
    if first_conv is None:
        raise ModelError(f"model {model.name!r} has no convolutional layer for Grad-CAM")
    for path, layer in reversed(layers[first_conv:]):
        shape = _output_shape(layer)
        if isinstance(layer, _SKIP) or shape is None or len(shape) != 4:
            continue
        if (shape[1] or 0) > 1 and (shape[2] or 0) > 1:
            return "/".join(path)
    raise ModelError(f"model {model.name!r} has no convolutional layer with a spatial map larger than 1x1")


def _output_shape(layer):
    try:
        return tuple(layer.output.shape)
    except (AttributeError, ValueError):
        return None


def resolve_layer(model, name):
    """``"a/b"`` or a bare name (searched in nested models too) -> path tuple."""
    if not isinstance(name, str) or not name:
        raise ConfigError(f"Grad-CAM layer must be a non-empty layer name, got {name!r}")
    paths = [p for p, _ in _walk(model)]
    wanted = tuple(name.split("/"))
    hits = [p for p in paths if p == wanted] or [p for p in paths if p[-1] == wanted[-1] and len(wanted) == 1]
    if not hits:
        raise ModelError(f"model {model.name!r} has no layer {name!r} for Grad-CAM")
    if len(hits) > 1:
        raise ModelError(f"layer name {name!r} is ambiguous in model {model.name!r}; use one of "
                         + ", ".join("/".join(p) for p in hits))
    layer = model
    for part in hits[0]:
        layer = layer.get_layer(part)
    shape = _output_shape(layer)
    if shape is None or len(shape) != 4:
        raise ModelError(f"Grad-CAM layer {name!r} must output a 4-D spatial map, got shape {shape}")
    return hits[0]


def two_output_model(model, path):
    """A model ``x -> [activations of layer at path, model output]``, splitting nested models open."""
    if len(path) == 1:
        return keras.Model(model.inputs[0], [model.get_layer(path[0]).output, model.outputs[0]])
    sub = model.get_layer(path[0])
    nodes = getattr(sub, "_inbound_nodes", [])
    if len(nodes) != 1:
        raise ModelError(f"sub-model {sub.name!r} is used {len(nodes)} times in {model.name!r}; "
                         "Grad-CAM needs it used exactly once")
    inner = two_output_model(sub, path[1:])
    try:
        before = keras.Model(model.inputs[0], nodes[0].input_tensors[0])
        after = keras.Model(nodes[0].output_tensors[0], model.outputs[0])
    except ValueError as exc:
        raise ModelError(f"cannot split {model.name!r} at {sub.name!r} for Grad-CAM: {exc}") from None
    inputs = keras.Input(tuple(model.inputs[0].shape[1:]), name="cam_image")
    acts, out = inner(before(inputs))
    return keras.Model(inputs, [acts, after(out)], name=f"{model.name}_cam")
