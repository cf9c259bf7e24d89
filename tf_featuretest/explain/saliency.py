"""Vanilla gradient, SmoothGrad and Grad-CAM maps from one compiled gradient pass (see the package docs)."""
from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

from .._util import cache, checks
from ..errors import ConfigError, DataError, ModelError
from .layers import find_cam_layer, resolve_layer, two_output_model

METHODS = ("vanilla", "smoothgrad", "gradcam")
METHOD_TITLES = {"vanilla": "Vanilla gradient", "smoothgrad": "SmoothGrad", "gradcam": "Grad-CAM"}


@dataclass(frozen=True, eq=False)
class SaliencyResult:
    """Saliency maps of a batch of images.

    Attributes:
        methods: the methods computed, in order.
        maps: method -> ``float32 [N, H, W]`` maps (gradients unscaled, Grad-CAM in [0, 1]).
        images: the ``[N, H, W, C]`` images explained.
        labels: true labels ``[N]`` or None.
        predictions: predicted classes ``[N]``.
        confidences: softmax probability of the predicted class ``[N]``.
        targets: the class each map explains ``[N]``.
        layer: the Grad-CAM layer (``"a/b"`` inside a sub-model) or None.
        settings: ``n``, ``sigma``, ``seed`` and ``target`` as used.
    """

    methods: tuple
    maps: dict
    images: np.ndarray
    labels: np.ndarray | None
    predictions: np.ndarray
    confidences: np.ndarray
    targets: np.ndarray
    layer: str | None = None
    settings: dict = field(default_factory=dict)

    def __len__(self):
        return len(self.predictions)

    def to_dict(self, include_maps: bool = False) -> dict:
        """Summary for results.json: labels, predictions and per-method concentration.

        ``concentration`` is the share of a map's total mass in its top 10% of pixels (0.1 for a
        flat map, 1.0 when everything sits in a tenth of the image), averaged over images.
        """
        d = {"methods": list(self.methods), "layer": self.layer, "settings": dict(self.settings),
             "num_images": len(self), "predictions": [int(v) for v in self.predictions],
             "confidences": [round(float(v), 6) for v in self.confidences],
             "targets": [int(v) for v in self.targets],
             "labels": None if self.labels is None else [int(v) for v in self.labels],
             "concentration": {m: round(float(np.mean(concentration(self.maps[m]))), 6) for m in self.methods}}
        if self.labels is not None:
            d["accuracy"] = float(np.mean(self.labels == self.predictions)) if len(self) else float("nan")
        if include_maps:
            d["maps"] = {m: np.round(self.maps[m], 6).tolist() for m in self.methods}
        return d


def concentration(maps, top=0.1) -> np.ndarray:
    """Share of each map's mass in its top ``top`` fraction of pixels (``[N]``; 0 for an all-zero map)."""
    flat = np.asarray(maps, np.float64).reshape(len(maps), -1)
    k = max(1, int(round(flat.shape[1] * top)))
    total = flat.sum(axis=1)
    best = -np.sort(-flat, axis=1)[:, :k].sum(axis=1)
    return np.where(total > 0, best / np.where(total > 0, total, 1.0), 0.0)


def _noise(seed, start, count, sample, shape) -> np.ndarray:
    """Standard normal noise for images ``start .. start+count-1``, keyed by (seed, image, sample)."""
    return np.stack([np.random.default_rng((int(seed), start + i, int(sample))).standard_normal(shape, np.float32)
                     for i in range(count)])


class Explainer:
    """Saliency for one model, with one gradient pass compiled once and reused.

    A single compiled function returns, for a batch, the logits, the input gradient of the
    explained logit and (when the model has a convolutional layer) its Grad-CAM map, so that
    explaining a batch with every method traces the model once.

    Args:
        model: a classifier taking [0, 1] images and returning logits ``[N, classes]``.
        layer: Grad-CAM layer name (``"conv2"``, ``"backbone/out_relu"``); default found by
            :func:`find_cam_layer`.
        batch_size: images per compiled call.

    Example:
        >>> ex = Explainer(model)
        >>> ex.smoothgrad(x[:4], n=10, seed=1).shape
        (4, 32, 32)
    """

    def __init__(self, model: keras.Model, layer: str | None = None, batch_size: int = 64):
        if not isinstance(model, keras.Model):
            raise ModelError(f"model must be a keras.Model, got {type(model).__name__}")
        if len(model.inputs) != 1 or len(model.inputs[0].shape) != 4:
            raise ModelError(f"model {model.name!r} must take one NHWC image input, got inputs "
                             f"{[tuple(t.shape) for t in model.inputs]}")
        batch_size = checks.positive_int(batch_size, "batch_size")
        self._model = weakref.ref(model)  # held weakly: explainers live in the per-model cache
        self.batch_size = int(batch_size)
        self.image_shape = tuple(model.inputs[0].shape[1:])
        self.num_classes = int(model.outputs[0].shape[-1])
        self._layer = None if layer is None else "/".join(resolve_layer(model, layer))
        if self._layer is None:
            try:
                self._layer = find_cam_layer(model)
            except ModelError:  # no convolution: gradients still work, Grad-CAM raises when asked
                self._layer = None
        self._fn = None

    @property
    def model(self) -> keras.Model:
        """The explained model (raises ReferenceError once it was freed)."""
        model = self._model()
        if model is None:
            raise ReferenceError("the model of this Explainer was freed")
        return model

    @property
    def layer(self) -> str | None:
        """The Grad-CAM layer (``"a/b"`` inside sub-model ``a``), or None for a model without one."""
        return self._layer

    def _compiled(self):
        """``(x, target) -> {"logits", "target", "grad"[, "cam"]}``; target < 0 means the predicted class."""
        if self._fn is not None:
            return self._fn
        layer = self._layer
        net = two_output_model(self.model, tuple(layer.split("/"))) if layer else None  # a derived model
        model = cache.weak_call(self.model)
        height, width = self.image_shape[:2]

        def fn(x, target):
            with tf.GradientTape() as tape:
                tape.watch(x)
                if net is None:
                    logits = model(x, training=False)
                else:
                    acts, logits = net(x, training=False)
                target = tf.where(target < 0, tf.argmax(logits, axis=-1, output_type=tf.int32), target)
                score = tf.gather(logits, target, axis=1, batch_dims=1)
            if net is None:
                return {"logits": logits, "target": target, "grad": tape.gradient(score, x)}
            grad, grad_acts = tape.gradient(score, [x, acts])
            weights = tf.reduce_mean(grad_acts, axis=(1, 2), keepdims=True)
            cam = tf.nn.relu(tf.reduce_sum(weights * acts, axis=-1, keepdims=True))
            cam = tf.image.resize(cam, (height, width), method="bilinear")[..., 0]
            peak = tf.reduce_max(cam, axis=(1, 2), keepdims=True)
            cam = tf.where(peak > 0, cam / tf.where(peak > 0, peak, 1.0), tf.zeros_like(cam))
            return {"logits": logits, "target": target, "grad": grad, "cam": cam}

        spec = [tf.TensorSpec((None,) + self.image_shape, tf.float32), tf.TensorSpec((None,), tf.int32)]
        self._fn = tf.function(fn, input_signature=spec, reduce_retracing=True)
        return self._fn

    def _check(self, x):
        x = np.asarray(x, dtype=np.float32)
        if x.ndim == 3 and x.shape == self.image_shape:
            x = x[None]
        if x.ndim != 4 or x.shape[1:] != self.image_shape:
            raise DataError(f"images must have shape [N, {', '.join(map(str, self.image_shape))}], got {x.shape}")
        if x.size and (not np.isfinite(x).all() or x.min() < 0.0 or x.max() > 1.0):
            raise DataError(f"images must be finite and in [0, 1], got range [{np.nanmin(x):.3g}, {np.nanmax(x):.3g}]")
        return x

    def _targets(self, n, target):
        """Class indices ``[n]`` (int32); -1 stands for "the predicted class"."""
        if target is None:
            return np.full(n, -1, np.int32)
        t = np.asarray(target)
        if t.dtype.kind not in "iu":
            raise DataError(f"target must be integer class indices, got {t.dtype} values")
        t = np.full(n, int(t), np.int64) if t.ndim == 0 else t.astype(np.int64)
        if t.shape != (n,):
            raise DataError(f"target must be a class index or one per image ({n}), got shape {t.shape}")
        if t.size and (t.min() < 0 or t.max() >= self.num_classes):
            raise DataError(f"target class {int(t[(t < 0) | (t >= self.num_classes)][0])} outside "
                            f"0..{self.num_classes - 1}")
        return t.astype(np.int32)

    def _run(self, x, target, *, n=1, sigma=0.0, seed=0):
        """Logits, targets, SmoothGrad/vanilla maps and Grad-CAM maps (or None) of a checked batch."""
        fn = self._compiled()
        t = self._targets(len(x), target)
        logits = np.zeros((len(x), self.num_classes), np.float32)
        grads = np.zeros(x.shape[:3], np.float32)
        cams = np.zeros(x.shape[:3], np.float32) if self._layer else None
        for s in range(0, len(x), self.batch_size):
            xb, tb = x[s:s + self.batch_size], t[s:s + self.batch_size]
            out = fn(xb, tb)
            logits[s:s + len(xb)] = out["logits"].numpy()
            tb = out["target"].numpy()
            t[s:s + len(xb)] = tb
            if cams is not None:
                cams[s:s + len(xb)] = out["cam"].numpy()
            g = out["grad"].numpy()
            if sigma > 0.0:  # SmoothGrad: average over n noisy copies instead of the clean gradient
                g = np.zeros_like(xb)
                for j in range(n):
                    g += fn(xb + np.float32(sigma) * _noise(seed, s, len(xb), j, xb.shape[1:]), tb)["grad"].numpy()
                g /= np.float32(n)
            grads[s:s + len(xb)] = np.abs(g).max(axis=-1)
        return logits, t.astype(np.int64), grads, cams

    def predict(self, x) -> np.ndarray:
        """Logits ``[N, classes]``."""
        return self._run(self._check(x), None)[0]

    def vanilla(self, x, target=None) -> np.ndarray:
        """Vanilla gradient maps ``[N, H, W]``; ``target`` is a class (or one per image), default predicted."""
        return self._run(self._check(x), target)[2]

    def smoothgrad(self, x, target=None, *, n: int = 25, sigma: float = 0.15, seed: int = 0) -> np.ndarray:
        """SmoothGrad maps ``[N, H, W]`` from ``n`` noisy copies with noise ``sigma``, seeded by ``seed``."""
        _check_smooth(n, sigma, seed)
        return self._run(self._check(x), target, n=int(n), sigma=float(sigma), seed=int(seed))[2]

    def gradcam(self, x, target=None) -> np.ndarray:
        """Grad-CAM maps ``[N, H, W]`` in [0, 1] at :attr:`layer`."""
        if self._layer is None:
            raise ModelError(f"model {self.model.name!r} has no convolutional layer for Grad-CAM")
        return self._run(self._check(x), target)[3]

    def explain(self, x, y=None, methods=METHODS, *, target="predicted", n=25, sigma=0.15,
                seed=0) -> SaliencyResult:
        """All requested maps for a batch; see :func:`saliency_maps`."""
        methods = tuple(methods) if not isinstance(methods, str) else (methods,)
        bad = [m for m in methods if m not in METHODS]
        if bad or not methods:
            raise ConfigError(f"unknown saliency method(s) {bad or list(methods)!r}; expected some of "
                              f"{', '.join(METHODS)}")
        if "gradcam" in methods and self._layer is None:
            raise ModelError(f"model {self.model.name!r} has no convolutional layer for Grad-CAM")
        if "smoothgrad" in methods:
            _check_smooth(n, sigma, seed)
        x = self._check(x)
        labels = None if y is None else np.asarray(y).astype(np.int64).reshape(-1)
        if labels is not None and len(labels) != len(x):
            raise DataError(f"{len(labels)} labels for {len(x)} images")
        if isinstance(target, str):
            if target not in ("predicted", "label"):
                raise ConfigError(f"target must be 'predicted', 'label' or class indices, got {target!r}")
            if target == "label" and labels is None:
                raise ConfigError("target='label' needs the true labels y")
            wanted = None if target == "predicted" else labels
        else:
            wanted = target
        logits, targets, vanilla, cams = self._run(x, wanted)
        maps = {}
        for m in methods:
            if m == "vanilla":
                maps[m] = vanilla
            elif m == "smoothgrad":
                maps[m] = self._run(x, targets, n=int(n), sigma=float(sigma), seed=int(seed))[2]
            else:
                maps[m] = cams
        pred = np.argmax(logits, axis=1).astype(np.int64)
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True)) if len(x) else logits
        conf = (shifted.max(axis=1) / shifted.sum(axis=1)) if len(x) else np.zeros(0, np.float32)
        settings = {"target": target if isinstance(target, str) else "given"}
        if "smoothgrad" in methods:
            settings.update(n=int(n), sigma=float(sigma), seed=int(seed))
        return SaliencyResult(methods=methods, maps=maps, images=x, labels=labels, predictions=pred,
                              confidences=conf.astype(np.float32), targets=targets,
                              layer=self._layer if "gradcam" in methods else None, settings=settings)


def _check_smooth(n, sigma, seed):
    n = checks.positive_int(n, "SmoothGrad n")
    if not isinstance(sigma, (int, float, np.floating)) or not np.isfinite(sigma) or sigma < 0:
        raise ConfigError(f"SmoothGrad sigma must be a non-negative number, got {sigma!r}")
    if not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2 ** 63:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")


def get_explainer(model: keras.Model, layer: str | None = None, batch_size: int = 64) -> Explainer:
    """The cached :class:`Explainer` of ``model`` for these settings (compiled functions reused).

    Explainers live in the one per-model cache (:mod:`tf_featuretest._util.cache`) and go away with
    the model.
    """
    if not isinstance(model, keras.Model):
        raise ModelError(f"model must be a keras.Model, got {type(model).__name__}")
    batch_size = checks.positive_int(batch_size, "batch_size")
    if layer is not None and not isinstance(layer, str):
        raise ConfigError(f"Grad-CAM layer must be a layer name, got {layer!r}")
    return cache.cached(model, ("explainer", layer, int(batch_size)),
                        lambda: Explainer(model, layer=layer, batch_size=batch_size))


def saliency_maps(model: keras.Model, x, y=None, methods=METHODS, *, target="predicted", n: int = 25,
                  sigma: float = 0.15, seed: int = 0, layer: str | None = None,
                  batch_size: int = 64) -> SaliencyResult:
    """Saliency maps of images ``x`` for a logits ``model``.

    Args:
        model: classifier taking [0, 1] NHWC images and returning logits.
        x: images ``[N, H, W, C]`` in [0, 1].
        y: optional true labels ``[N]`` (kept in the result for plots and accuracy).
        methods: any of ``"vanilla"``, ``"smoothgrad"``, ``"gradcam"``.
        target: class explained: ``"predicted"`` (default), ``"label"`` (needs ``y``), or class
            indices (one, or one per image).
        n, sigma, seed: SmoothGrad samples, noise standard deviation and seed.
        layer: Grad-CAM layer; default the last spatial convolutional layer.
        batch_size: images per compiled call.

    Returns:
        A :class:`SaliencyResult`.

    Example:
        >>> res = saliency_maps(model, x[:8], y[:8], methods=("vanilla", "gradcam"))
        >>> sorted(res.maps)
        ['gradcam', 'vanilla']
    """
    return get_explainer(model, layer, batch_size).explain(x, y, methods, target=target, n=n, sigma=sigma, seed=seed)
