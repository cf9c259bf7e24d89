"""Labelled test cases sampled from a VAE's latent space, with measured validity.

For each anchor (a real test image with a known label) we take its latent mean ``z_a``, draw points
uniformly from the Euclidean ball of radius ``rho`` around ``z_a``, decode them, and label each
with the anchor's label. The label is justified only if the decoded image still belongs to the
anchor's class, which generators often break (Riccio & Tonella, ICSE 2023, found that only 9-58%
of latent-space "failures" were real misclassifications), so every case is checked (see
:mod:`tf_featuretest.testgen.validity`): nearest training latent has the label, the image
re-encodes within ``rho`` of ``z_a``, and its ELBO is above a low percentile of the training
ELBOs (distribution-aware testing, Dola et al., ICSE 2021). Only cases passing all three count.

The radius comes from r-separation in latent space (:func:`~tf_featuretest.testgen.separation.r_separation`):
``"global"`` = the data set's r, ``"local"`` = the anchor's own margin r_i (half its latent
distance to the nearest training point of another class), ``"0.5local"`` = a fraction of it, or a
number.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from .._util import seeds
from .._util.io import nan_to_none
from ..errors import ConfigError
from ..models.introspection import compiled_predict
from .separation import encode_features, nearest_other_class, r_separation
from .validity import check_cases, elbo_threshold


def sample_ball_tf(centers, count, radius, seed):
    """``count`` points per center drawn uniformly from the Euclidean ball of ``radius`` (pure TF).

    Args:
        centers: ``[A, D]`` float32.
        count: int32 scalar.
        radius: float32 scalar or ``[A]``.
        seed: int32 scalar; equal seeds give equal points.

    Returns:
        ``[A * count, D]``, anchor-major (rows ``a*count .. a*count+count-1`` belong to anchor ``a``).
    """
    centers = tf.cast(centers, tf.float32)
    count = tf.cast(count, tf.int32)
    seed = tf.cast(seed, tf.int32)
    a, d = tf.shape(centers)[0], tf.shape(centers)[1]
    n = a * count
    direction = tf.random.stateless_normal([n, d], seed=tf.stack([seed, 1]))
    direction = direction / tf.maximum(tf.norm(direction, axis=1, keepdims=True), 1e-12)
    u = tf.random.stateless_uniform([n, 1], seed=tf.stack([seed, 2]))
    scale = tf.pow(u, 1.0 / tf.cast(d, tf.float32))
    radius = tf.broadcast_to(tf.reshape(tf.cast(radius, tf.float32), [-1]), [a])
    rep_r = tf.repeat(radius, count)[:, None]
    return tf.repeat(centers, count, axis=0) + direction * scale * rep_r


def sample_latent_tests_tf(vae, anchors, anchor_labels, count, radius, seed, train_latents, train_labels,
                           elbo_threshold):
    """Sample, decode, label and check latent test cases; pure TensorFlow (usable in ``tf.function``).

    Args:
        vae: a VAE with ``encode``, ``decode`` and ``elbo``.
        anchors: ``[A, H, W, C]`` images in [0, 1].
        anchor_labels: ``[A]`` int labels.
        count: int32 scalar, cases per anchor.
        radius: float32 scalar or ``[A]`` latent radii.
        seed: int32 scalar.
        train_latents: ``[M, D]`` training latent means; train_labels: ``[M]``.
        elbo_threshold: float32 scalar.

    Returns:
        dict: ``images [A*count, H, W, C]``, ``labels`` int64, ``valid`` bool, ``anchor_index`` int32,
        ``sampled`` latent points, ``radius`` per case, and the per-check tensors of
        ``validity.check_cases`` (``nearest_ok``, ``reencode_ok``, ``elbo_ok``, ``elbo``, ...).

    Example:
        >>> out = sample_latent_tests_tf(vae, x[:4], y[:4], 8, 0.5, 0, z_train, y_train, -200.0)  # doctest: +SKIP
    """
    count = tf.cast(count, tf.int32)
    z_anchor = tf.cast(vae.encode(anchors)[0], tf.float32)
    a = tf.shape(z_anchor)[0]
    radius = tf.broadcast_to(tf.reshape(tf.cast(radius, tf.float32), [-1]), [a])
    sampled = sample_ball_tf(z_anchor, count, radius, seed)
    images = tf.cast(vae.decode(sampled), tf.float32)
    labels = tf.repeat(tf.cast(anchor_labels, tf.int64), count)
    case_radius = tf.repeat(radius, count)
    centers = tf.repeat(z_anchor, count, axis=0)
    out = check_cases(vae, images, labels, centers, case_radius, train_latents, train_labels, elbo_threshold)
    out.update(images=images, labels=labels, sampled=sampled, radius=case_radius,
               anchor_index=tf.repeat(tf.range(a), count))
    return out


_RADIUS = re.compile(r"^\s*(\d*\.?\d+)?\s*(global|local)\s*$")


def parse_radius(radius):
    """``"global"``, ``"local"``, ``"<f>global"``/``"<f>local"`` or a positive number -> ``(kind, factor)``."""
    if isinstance(radius, (int, float, np.floating, np.integer)) and not isinstance(radius, bool):
        if not np.isfinite(radius) or radius <= 0:
            raise ConfigError(f"radius must be positive, got {radius!r}")
        return "fixed", float(radius)
    m = _RADIUS.match(str(radius)) if isinstance(radius, str) else None
    if m is None:
        try:
            return parse_radius(float(radius))
        except (TypeError, ValueError):
            raise ConfigError(f"radius must be 'global', 'local', e.g. '0.5local', or a positive number, "
                              f"got {radius!r}") from None
    factor = float(m.group(1)) if m.group(1) else 1.0
    if factor <= 0:
        raise ConfigError(f"radius factor must be positive, got {radius!r}")
    return m.group(2), factor


@dataclass(frozen=True)
class LatentTestResult:
    """Generated test cases, their validity and the classifier's answers.

    Attributes:
        source: ``"latent"`` or ``"dcgan"``.
        radius_kind, radius_factor: how the radius was chosen (``parse_radius``).
        num_cases: cases generated; num_valid: cases passing all checks.
        validity_rate: ``num_valid / num_cases``.
        check_rates: pass rate of each check (``nearest``, ``reencode``, ``elbo``).
        elbo_threshold: the ELBO threshold used.
        accuracy: classifier accuracy on valid cases (NaN when none are valid);
        accuracy_all: on all cases, valid or not.
        per_class_accuracy: accuracy on valid cases per label (NaN where a class has none).
        per_class_valid: valid cases per label.
        images, labels, predictions, valid, anchor_index, radius: per-case arrays; ``anchor_index``
            indexes ``anchors`` (latent cases) or the nearest training point (DCGAN cases).
        latents: each case's latent mean (re-encoded through the VAE).
        anchors: the anchor images (latent cases) or None.
        seed: the seed used.
    """

    source: str
    radius_kind: str
    radius_factor: float
    num_cases: int
    num_valid: int
    validity_rate: float
    check_rates: dict
    elbo_threshold: float
    accuracy: float
    accuracy_all: float
    per_class_accuracy: tuple
    per_class_valid: tuple
    images: np.ndarray
    labels: np.ndarray
    predictions: np.ndarray
    valid: np.ndarray
    anchor_index: np.ndarray
    radius: np.ndarray
    latents: np.ndarray
    anchors: np.ndarray | None
    seed: int

    def failing(self) -> np.ndarray:
        """Indices of valid cases the classifier gets wrong."""
        return np.flatnonzero(self.valid & (self.predictions != self.labels))

    def to_dict(self) -> dict:
        num = nan_to_none
        fail = self.failing()
        return {"source": self.source, "radius": {"kind": self.radius_kind, "factor": self.radius_factor,
                                                  "mean": num(float(np.mean(self.radius)))},
                "num_cases": self.num_cases, "num_valid": self.num_valid, "validity_rate": self.validity_rate,
                "check_rates": dict(self.check_rates), "elbo_threshold": self.elbo_threshold,
                "accuracy_on_valid": num(self.accuracy), "accuracy_on_all": num(self.accuracy_all),
                "per_class_accuracy": [num(v) for v in self.per_class_accuracy],
                "per_class_valid": list(self.per_class_valid), "num_failing": int(len(fail)),
                "failing": [{"case": int(i), "anchor": int(self.anchor_index[i]), "label": int(self.labels[i]),
                             "predicted": int(self.predictions[i])} for i in fail[:100]],
                "seed": self.seed}


def summarize(source, kind, factor, out, predictions, num_classes, threshold, seed, anchors=None) -> LatentTestResult:
    """Build a :class:`LatentTestResult` from the numpy form of a check dict and predictions."""
    labels = np.asarray(out["labels"], np.int64)
    valid = np.asarray(out["valid"], bool)
    n = len(labels)
    rates = {k: float(np.mean(np.asarray(out[f"{k}_ok"], bool))) if n else 0.0 for k in ("nearest", "reencode", "elbo")}
    return LatentTestResult(
        source=source, radius_kind=kind, radius_factor=float(factor), num_cases=n, num_valid=int(valid.sum()),
        validity_rate=float(valid.mean()) if n else 0.0, check_rates=rates, elbo_threshold=float(threshold),
        images=np.asarray(out["images"], np.float32), labels=labels, valid=valid,
        anchor_index=np.asarray(out["anchor_index"], np.int64), radius=np.asarray(out["radius"], np.float32),
        latents=np.asarray(out["z"], np.float32), anchors=anchors, seed=int(seed),
        **_answers(labels, valid, predictions, num_classes))


def _answers(labels, valid, predictions, num_classes) -> dict:
    """The classifier-dependent fields of a :class:`LatentTestResult`."""
    predictions = np.asarray(predictions, np.int64)
    correct = predictions == labels
    per_acc, per_n = [], []
    for c in range(num_classes):
        m = valid & (labels == c)
        per_n.append(int(m.sum()))
        per_acc.append(float(correct[m].mean()) if m.any() else float("nan"))
    return {"predictions": predictions, "per_class_accuracy": tuple(per_acc), "per_class_valid": tuple(per_n),
            "accuracy": float(correct[valid].mean()) if valid.any() else float("nan"),
            "accuracy_all": float(correct.mean()) if len(labels) else float("nan")}


def requery(result: LatentTestResult, model, batch_size=256) -> LatentTestResult:
    """The same generated cases and validity flags, answered by another classifier.

    Generation and the validity checks depend only on the generative models, so comparing several
    classifiers needs them once.

    Example:
        >>> other = requery(latent_tests(cnn, vae, train, anchors), robust_cnn)  # doctest: +SKIP
    """
    predictions = predict_labels(model, result.images, batch_size)
    return dataclasses.replace(result, **_answers(result.labels, result.valid, predictions,
                                                  len(result.per_class_valid)))


def reference_latents(vae, x_train, y_train, *, elbo_percentile=1.0, batch_size=256):
    """Training latent means, labels and the ELBO threshold (``elbo_percentile``-th percentile)."""
    if not 0 <= elbo_percentile <= 100:
        raise ConfigError(f"elbo_percentile must be in [0, 100], got {elbo_percentile!r}")
    x_train = np.asarray(x_train, np.float32)
    z = encode_features(vae, x_train, batch_size)
    threshold = elbo_threshold(vae, x_train, elbo_percentile, batch_size)
    return z, np.asarray(y_train, np.int64), threshold


def predict_labels(model, images, batch_size=256) -> np.ndarray:
    """Arg-max predictions of a classifier on ``images``, in batches."""
    fn = compiled_predict(model)
    out = [np.argmax(np.asarray(fn(tf.constant(images[i:i + batch_size]))), axis=-1)
           for i in range(0, len(images), batch_size)]
    return np.concatenate(out).astype(np.int64) if out else np.zeros(0, np.int64)


def latent_tests(model, vae, train, anchors, *, n=1000, count=10, radius="0.5local", elbo_percentile=1.0,
                 separation=None, seed=0, batch_size=256) -> LatentTestResult:
    """Generate ``n`` labelled latent test cases around anchors, check them, and query ``model``.

    Args:
        model: a classifier taking [0, 1] images (logits or probabilities).
        vae: a trained VAE.
        train: ``(x_train, y_train)``, the reference for the validity checks and the radius.
        anchors: ``(x, y)`` real labelled images to sample around (usually the test split).
        n: total cases; ``count`` per anchor, anchors drawn (seeded) from ``anchors``.
        radius: ``"global"`` (latent r), ``"local"`` (each anchor's r_i), ``"<f>local"`` /
            ``"<f>global"`` (a fraction of either) or a positive number.
        elbo_percentile: percentile of the training ELBOs used as the ELBO threshold.
        separation: a latent-space (L2) :class:`SeparationResult` to reuse for ``"global"``.
        seed: seed of the anchor choice and the sampling.

    Returns:
        :class:`LatentTestResult`.

    Example:
        >>> res = latent_tests(cnn, vae, (x_train, y_train), (x_test, y_test), n=200)  # doctest: +SKIP
        >>> res.validity_rate, res.accuracy  # doctest: +SKIP
    """
    kind, factor = parse_radius(radius)
    for name, v in (("n", n), ("count", count), ("seed", seed)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < (0 if name == "seed" else 1):
            raise ConfigError(f"{name} must be a {'non-negative' if name == 'seed' else 'positive'} integer, got {v!r}")
    xa, ya = np.asarray(anchors[0], np.float32), np.asarray(anchors[1], np.int64)
    if len(xa) == 0 or len(xa) != len(ya):
        raise ConfigError(f"anchors need equal, non-zero numbers of images and labels, got {len(xa)} and {len(ya)}")
    z_train, y_train, threshold = reference_latents(vae, train[0], train[1], elbo_percentile=elbo_percentile,
                                                    batch_size=batch_size)
    rng = np.random.default_rng(seed)
    num_anchors = min(len(xa), -(-n // count))
    pick = np.sort(rng.choice(len(xa), num_anchors, replace=False))
    per = -(-n // num_anchors)
    xa, ya = xa[pick], ya[pick]
    if kind == "fixed":
        radii = np.full(num_anchors, factor, np.float32)
    elif kind == "global":
        sep = separation if separation is not None else r_separation(z_train, y_train, norm=2)
        radii = np.full(num_anchors, factor * sep.r, np.float32)
    else:
        dist, _ = nearest_other_class(encode_features(vae, xa, batch_size), ya, z_train, y_train, norm=2)
        radii = (factor * dist / 2.0).astype(np.float32)
    zt, yt, th = tf.constant(z_train), tf.constant(y_train), tf.constant(threshold, tf.float32)
    fn = tf.function(lambda a, b, c, r, s: sample_latent_tests_tf(vae, a, b, c, r, s, zt, yt, th),
                     input_signature=[tf.TensorSpec([None, *xa.shape[1:]], tf.float32),
                                      tf.TensorSpec([None], tf.int64), tf.TensorSpec([], tf.int32),
                                      tf.TensorSpec([None], tf.float32), tf.TensorSpec([], tf.int32)])
    step = max(1, batch_size // per)
    parts = []
    for i in range(0, num_anchors, step):
        out = fn(tf.constant(xa[i:i + step]), tf.constant(ya[i:i + step]), tf.constant(per, tf.int32),
                 tf.constant(radii[i:i + step]), tf.constant(seeds.derive(seed, i), tf.int32))
        out = {k: np.asarray(v) for k, v in out.items()}
        out["anchor_index"] = out["anchor_index"] + i
        parts.append(out)
    out = {k: np.concatenate([p[k] for p in parts])[:n] for k in parts[0]}
    preds = predict_labels(model, out["images"], batch_size)
    num_classes = int(max(y_train.max(), ya.max()) + 1)
    return summarize("latent", kind, factor, out, preds, num_classes, threshold, seed, anchors=xa)
