"""A user's own classifier, fitted to the package's convention: [0, 1] images in, logits out.

Keras's image-classification tutorial trains on raw 0-255 pixels with a ``Rescaling(1/255)`` layer
inside the model and a softmax at the end. Fed the package's [0, 1] images such a model sees
almost-black pictures and scores near chance, silently. :func:`adapt_classifier`

1. checks the model's input shape against the data's images and its outputs against the classes
   (one line naming both shapes when they differ);
2. finds the input range the model expects: it reads the leading ``Rescaling`` layers (their
   combined scale) and, given labelled images, compares accuracy at [0, 1] and at [0, 255]; a clear
   difference decides, else a clear difference in cross-entropy (confidence on the true class), else
   the layers, else the package's [0, 1] convention;
3. refuses the model (one line) when it is no better than chance at either range;
4. for a 0-255 model, returns an ordinary functional model with a ``Rescaling(255)`` layer right
   after its input and the user's layers (copied, same weights) after it, so attacks, feature
   layers, Grad-CAM, export and the service see a plain [0, 1] classifier; it saves as ``.keras``.

A final softmax is left in place: :func:`~tf_featuretest.models.introspection.as_logits_model`
gives every consumer the logits.

Example:
    >>> model, how = adapt_classifier(load_classifier("mine.keras"), x_val, y_val, num_classes=10)  # doctest: +SKIP
    >>> how.expects, how.wrapped
    ('0-255', True)
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import keras
import numpy as np

from ..errors import ModelError
from .introspection import as_logits_model, outputs_probabilities

#: Labelled images the range probe uses (a stratified subset chosen by the caller).
PROBE_IMAGES = 256
#: Input ranges a model may expect, and the factor from the package's [0, 1] images.
RANGES = {"0-1": 1.0, "0-255": 255.0}
#: Name of the layer inserted in front of a 0-255 model.
SCALE_LAYER = "featuretest_input_scale"
#: Smallest accuracy difference between the two ranges that decides the range on its own.
MIN_DIFFERENCE = 0.05
#: When accuracy ties (a ReLU network's arg-max barely changes when its input is scaled), a cross-entropy
#: lower by this many nats, and by this share, decides: fed the wrong range a model is either near-uniform
#: (0-255 model given [0, 1]) or wildly over-confident (0-1 model given [0, 255]).
MIN_CE_DIFFERENCE = (0.1, 0.2)
#: Layers that pass pixel values through unchanged at inference (augmentation, resizing, cropping).
_PASS_THROUGH = ("InputLayer", "Resizing", "CenterCrop", "Dropout", "GaussianNoise", "GaussianDropout")


def range_text(r: str) -> str:
    """``"0-255"`` -> ``"[0, 255]"``."""
    lo, hi = r.split("-")
    return f"[{lo}, {hi}]"


@dataclass(frozen=True)
class RangeProbe:
    """Accuracy and mean top-1 confidence of a model on labelled images fed at each input range."""

    images: int
    split: str
    num_classes: int
    accuracy: tuple  # ((range, accuracy), ...)
    confidence: tuple  # ((range, mean top-1 probability), ...)
    cross_entropy: tuple  # ((range, mean negative log-likelihood of the true class), ...)

    def acc(self, r: str) -> float:
        return dict(self.accuracy)[r]

    def ce(self, r: str) -> float:
        return dict(self.cross_entropy)[r]

    @property
    def chance(self) -> float:
        return 1.0 / self.num_classes

    def to_dict(self) -> dict:
        return {"images": self.images, "split": self.split, "chance": self.chance,
                "accuracy": dict(self.accuracy), "confidence": dict(self.confidence),
                "cross_entropy": dict(self.cross_entropy)}


@dataclass(frozen=True)
class InputAdaptation:
    """How a user's classifier was fitted to [0, 1] logits, and why.

    Attributes:
        expects: the input range the model expects, ``"0-1"`` or ``"0-255"``.
        decided_by: ``"accuracy"`` or, when accuracy ties, ``"cross-entropy"`` (either prefixed with
            ``"rescaling layer and "`` when the layers agree), ``"rescaling layer"`` alone, or
            ``"convention"`` (nothing told the ranges apart; [0, 1] is kept).
        rescaling: combined scale of the model's leading ``Rescaling`` layers, or None.
        probe: the :class:`RangeProbe`, or None without labelled images.
        softmax: the model ends in a softmax (its logits are used).
        wrapped: a ``Rescaling(255)`` layer was put in front.
        input_shape: the model's input shape (without the batch dimension).
    """

    expects: str
    decided_by: str
    rescaling: float | None
    probe: RangeProbe | None
    softmax: bool
    wrapped: bool
    input_shape: tuple

    def describe(self) -> str:
        """What was found and done, in one or two sentences (for the report and the terminal)."""
        evidence = []
        if self.rescaling is not None:
            evidence.append(f"its leading Rescaling layers multiply pixels by {self.rescaling:.4g}")
        p = self.probe
        if p is not None:
            evidence.append(f"on {p.images} labelled {p.split} images it gets {p.acc('0-255'):.1%} right when fed "
                            f"[0, 255] pixels and {p.acc('0-1'):.1%} when fed [0, 1] pixels")
            if "cross-entropy" in self.decided_by:
                evidence.append(f"its cross-entropy on them is {p.ce('0-255'):.3f} at [0, 255] against "
                                f"{p.ce('0-1'):.3f} at [0, 1] (mean confidence {dict(p.confidence)['0-255']:.0%} "
                                f"against {dict(p.confidence)['0-1']:.0%})")
        why = "; ".join(evidence) if evidence else "nothing in the model or the data told the ranges apart"
        if self.decided_by == "convention":
            head = "It is taken to expect [0, 1] pixels, the package's convention"
            head += f" ({why})" if evidence else f" ({why}: the range was not checked)"
        else:
            head = f"It expects {range_text(self.expects)} pixels ({why})"
        what = ("so it runs behind a Rescaling(255) layer that turns the package's [0, 1] images into "
                "[0, 255]" if self.wrapped else "so it is used as it is")
        soft = " It ends in a softmax: attacks and metrics use the logits before it." if self.softmax else ""
        return f"{head}, {what}.{soft}"

    def to_dict(self) -> dict:
        return {"expects": self.expects, "decided_by": self.decided_by, "rescaling": self.rescaling,
                "probe": None if self.probe is None else self.probe.to_dict(), "softmax": self.softmax,
                "wrapped": self.wrapped, "input_shape": list(self.input_shape), "note": self.describe()}


def _walk_leading(model):
    """Layers from the input on, descending into nested models, up to the first one that changes values."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            inner = list(_walk_leading(layer))
            yield from inner
            if not inner or not _passes(inner[-1]):
                return
            continue
        yield layer
        if not _passes(layer):
            return


def _passes(layer) -> bool:
    name = type(layer).__name__
    return name in _PASS_THROUGH or name.startswith("Random") or isinstance(layer, keras.layers.Rescaling)


def leading_rescaling(model):
    """``(scale, offset)`` of the model's leading ``Rescaling`` layers combined, or None if it has none."""
    scale, offset, found = 1.0, 0.0, False
    for layer in _walk_leading(model):
        if isinstance(layer, keras.layers.Rescaling):
            s = float(np.max(np.asarray(layer.scale, np.float64)))
            o = float(np.max(np.asarray(layer.offset, np.float64)))
            scale, offset, found = scale * s, offset * s + o, True
    return (scale, offset) if found else None


def layer_range(rescaling) -> str | None:
    """The range a combined rescaling implies: ``"0-255"`` when it maps 255 to at most about 2."""
    if rescaling is None:
        return None
    scale, _ = rescaling
    return "0-255" if 0 < scale * 255.0 <= 2.5 else "0-1"


def probe_range(model, x, y, *, num_classes: int, split: str = "validation", batch_size: int = 64) -> RangeProbe:
    """Accuracy and mean confidence of ``model`` on ``x`` (in [0, 1]) and on ``255 * x``."""
    logits = as_logits_model(model)
    x = np.asarray(x, np.float32)
    y = np.asarray(y, np.int64).reshape(-1)
    acc, conf, ces = [], [], []
    for r, factor in RANGES.items():
        outs = [np.asarray(logits(x[i:i + batch_size] * factor, training=False), np.float64)
                for i in range(0, len(x), batch_size)]
        out = np.concatenate(outs)
        logp = out - out.max(axis=1, keepdims=True)
        logp = logp - np.log(np.exp(logp).sum(axis=1, keepdims=True))
        acc.append((r, float(np.mean(logp.argmax(1) == y))))
        conf.append((r, float(np.mean(np.exp(logp.max(1))))))
        ces.append((r, float(-np.mean(logp[np.arange(len(y)), y]))))
    return RangeProbe(images=len(y), split=split, num_classes=int(num_classes), accuracy=tuple(acc),
                      confidence=tuple(conf), cross_entropy=tuple(ces))


def check_input_shape(model, data_shape, *, what: str = "the model", data_what: str = "the data's images",
                      fix: str = ""):
    """One-line :class:`ModelError` unless the model takes images of ``data_shape`` (None dimensions match all)."""
    shape = model.input_shape
    if isinstance(shape, list):
        if len(shape) != 1:
            raise ModelError(f"{what} takes {len(shape)} inputs; a classifier takes one image batch")
        shape = shape[0]
    mine, theirs = tuple(shape[1:]), tuple(int(v) for v in data_shape)
    if len(mine) != 3:
        raise ModelError(f"{what} takes inputs of shape {_fmt(mine)}; a classifier takes images (height, width, "
                         f"channels)")
    if any(a is not None and a != b for a, b in zip(mine, theirs)):
        raise ModelError(f"{what} takes images of shape {_fmt(mine)} but {data_what} are {_fmt(theirs)}"
                         + (f"; {fix}" if fix else ""))


def _fmt(shape) -> str:
    return "(" + ", ".join("any" if v is None else str(v) for v in shape) + ")"


def check_num_classes(model, num_classes: int, *, what: str = "the model", data_what: str = "the data"):
    """One-line :class:`ModelError` unless the model has one output per class."""
    out = model.output_shape
    out = out[0] if isinstance(out, list) else out
    if out[-1] != num_classes:
        raise ModelError(f"{what} has {out[-1]} outputs but {data_what} has {num_classes} classes")


def decide_range(rescaling, probe: RangeProbe | None, *, what: str = "the model") -> tuple:
    """``(expects, decided_by)`` from the layer evidence and the probe; refuses a model at chance."""
    by_layer = layer_range(rescaling)
    if probe is None:
        return (by_layer, "rescaling layer") if by_layer else ("0-1", "convention")
    a01, a255 = probe.acc("0-1"), probe.acc("0-255")
    n = probe.images
    se = math.sqrt(max(a01 * (1 - a01) + a255 * (1 - a255), 1e-12) / n)
    c01, c255 = probe.ce("0-1"), probe.ce("0-255")
    if abs(a255 - a01) >= max(MIN_DIFFERENCE, 3 * se):
        expects = "0-255" if a255 > a01 else "0-1"
        by = "rescaling layer and accuracy" if by_layer == expects else "accuracy"
    elif abs(c255 - c01) >= max(MIN_CE_DIFFERENCE[0], MIN_CE_DIFFERENCE[1] * min(c01, c255)):
        expects = "0-255" if c255 < c01 else "0-1"
        by = "rescaling layer and cross-entropy" if by_layer == expects else "cross-entropy"
    elif by_layer:
        expects, by = by_layer, "rescaling layer"
    else:
        expects, by = "0-1", "convention"
    best = probe.acc(expects)
    floor = probe.chance + 3 * math.sqrt(probe.chance * (1 - probe.chance) / n)
    if best <= floor:
        raise ModelError(f"{what} is no better than chance on this data: {a01:.1%} right at [0, 1] and {a255:.1%} "
                         f"at [0, 255] on {n} labelled {probe.split} images (chance {probe.chance:.1%}); check that "
                         f"its classes are in the data's order and that it was trained on images like these")
    return expects, by


def with_input_scale(model, factor: float = 255.0) -> keras.Model:
    """``model`` with a ``Rescaling(factor)`` layer right after its input: an ordinary, flat functional model.

    The user's layers are rebuilt from their configuration and get the same weights, so each layer
    has one input node (feature sub-models and Grad-CAM read layer outputs). Sequential and
    functional models are rebuilt as functional ones; any other model is nested behind the layer.
    """
    layer_cfg = keras.saving.serialize_keras_object(keras.layers.Rescaling(float(factor), name=SCALE_LAYER))
    cfg = copy.deepcopy(model.get_config())
    layers = cfg.get("layers") if isinstance(cfg, dict) else None
    try:
        if type(model) is keras.Sequential and layers is not None:
            at = 1 if layers and layers[0].get("class_name") == "InputLayer" else 0
            layers.insert(at, layer_cfg)
            rebuilt = _functional_from_layers(layers, model.input_shape[1:], model.name)
        elif layers is not None and "input_layers" in cfg and type(model).__name__ == "Functional":
            rebuilt = keras.Model.from_config(_rewire(cfg, layer_cfg))
        else:
            rebuilt = None
        if rebuilt is not None:
            rebuilt.set_weights(model.get_weights())
    except (ValueError, TypeError, KeyError):
        rebuilt = None
    if rebuilt is None:  # a subclassed model: nest it
        shape = model.input_shape[1:]
        inputs = keras.Input(shape, name="image")
        rebuilt = keras.Model(inputs, model(keras.layers.Rescaling(float(factor), name=SCALE_LAYER)(inputs)),
                              name=model.name)
    return rebuilt


def as_functional(model) -> keras.Model:
    """A ``keras.Sequential`` model as an equal functional one (fresh layers, the same weights); others unchanged.

    Sub-models for feature layers and Grad-CAM are cut from a functional graph; a Sequential model's
    layers do not give usable gradients there, so a user's Sequential model is rebuilt once.
    """
    if type(model) is not keras.Sequential:
        return model
    rebuilt = _functional_from_layers(copy.deepcopy(model.get_config())["layers"], model.input_shape[1:], model.name)
    rebuilt.set_weights(model.get_weights())
    return rebuilt


def _functional_from_layers(layer_cfgs, input_shape, name) -> keras.Model:
    inputs = keras.Input(tuple(input_shape), name="image")
    x = inputs
    for lc in layer_cfgs:
        if lc.get("class_name") == "InputLayer":
            continue
        x = keras.saving.deserialize_keras_object(lc)(x)
    return keras.Model(inputs, x, name=name)


def _rewire(cfg: dict, layer_cfg: dict) -> dict:
    inputs = cfg["input_layers"]  # ["name", 0, 0] for one input, [["name", 0, 0], ...] for several
    if inputs and isinstance(inputs[0], (list, tuple)):
        if len(inputs) != 1:
            raise ValueError("one input expected")
        inputs = inputs[0]
    src = inputs[0]
    pos = next(i for i, lay in enumerate(cfg["layers"]) if lay.get("name") == src)
    shape = cfg["layers"][pos]["config"].get("batch_shape")
    for lay in cfg["layers"]:
        for node in lay.get("inbound_nodes", ()):
            _replace_history(node, src, SCALE_LAYER)
    entry = dict(layer_cfg, name=SCALE_LAYER, inbound_nodes=[{"args": [{"class_name": "__keras_tensor__", "config": {
        "shape": shape, "dtype": "float32", "keras_history": [src, 0, 0]}}], "kwargs": {}}])
    cfg["layers"].insert(pos + 1, entry)
    return cfg


def _replace_history(tree, old: str, new: str):
    if isinstance(tree, dict):
        hist = tree.get("keras_history")
        if isinstance(hist, (list, tuple)) and hist and hist[0] == old:
            tree["keras_history"] = [new] + list(hist[1:])
        for v in tree.values():
            _replace_history(v, old, new)
    elif isinstance(tree, (list, tuple)):
        for v in tree:
            _replace_history(v, old, new)


def adapt_classifier(model, x=None, y=None, *, num_classes: int | None = None, data_shape=None,
                     what: str = "the model", data_what: str = "the data's images", fix: str = "",
                     split: str = "validation") -> tuple:
    """Check a user's classifier against the data and fit it to [0, 1] images: ``(model, InputAdaptation)``.

    Args:
        model: the loaded Keras classifier.
        x, y: labelled images in [0, 1] (a stratified subset, e.g. :data:`PROBE_IMAGES` of the
            validation split) for the range probe; without them only the layers decide.
        num_classes: classes of the data (checked against the model's outputs).
        data_shape: ``(height, width, channels)`` of the data's images (checked against the model's input).
        what, data_what, fix: how the one-line errors name the model, the data and the remedy.
        split: the split ``x`` comes from (for the description).

    Raises:
        ModelError: one line, when the shapes or class counts differ, or the model is at chance.
    """
    if not isinstance(model, keras.Model):
        raise ModelError(f"{what} is a {type(model).__name__}, not a Keras model")
    if data_shape is not None:
        check_input_shape(model, data_shape, what=what, data_what=data_what, fix=fix)
    if num_classes is not None:
        check_num_classes(model, num_classes, what=what)
    rescaling = leading_rescaling(model)
    probe = None
    if x is not None and y is not None and len(y):
        probe = probe_range(model, x, y, num_classes=num_classes or model.output_shape[-1], split=split)
    expects, by = decide_range(rescaling, probe, what=what)
    wrapped = expects == "0-255"
    adapted = with_input_scale(model, RANGES[expects]) if wrapped else as_functional(model)
    shape = tuple(model.input_shape[1:]) if not isinstance(model.input_shape, list) else tuple(model.input_shape[0][1:])
    how = InputAdaptation(expects=expects, decided_by=by, rescaling=None if rescaling is None else rescaling[0],
                          probe=probe, softmax=outputs_probabilities(model), wrapped=wrapped, input_shape=shape)
    return adapted, how
