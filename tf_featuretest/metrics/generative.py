"""Generative-model metrics: FID, KID and Inception Score.

Each metric takes a feature function or a classifier, as TF-GAN does, so the feature space is
explicit. Without downloadable ImageNet Inception weights the pipeline passes the trained
classifier: its penultimate ("features") layer for FID/KID and its class probabilities for IS.
Every result records which extractor was used, so figures from different extractors are never
mistaken for the published Inception-based ones.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .._util import checks
from ..errors import ConfigError, DataError
from ..models.introspection import as_logits_model, feature_layer_name, feature_model


def _describe(fn, layer=None):
    """``(callable, description)`` for a keras classifier (its feature layer) or a plain function."""
    import keras

    if isinstance(fn, keras.Model):
        if layer == "logits":
            model = as_logits_model(fn)
            return model, f"{fn.name}:logits"
        name = layer or feature_layer_name(fn)
        return feature_model(fn, name), f"{fn.name}:{name}"
    if not callable(fn):
        raise ConfigError(f"feature function must be a keras.Model or a callable, got {type(fn).__name__}")
    return fn, getattr(fn, "name", None) or getattr(fn, "__name__", type(fn).__name__)


def _images(data, what):
    """Images ``[N, H, W, C]`` as a float32 array from an array, a tensor or a dataset of batches."""
    import tensorflow as tf

    if isinstance(data, tf.data.Dataset):
        parts = [np.asarray(b[0] if isinstance(b, (tuple, list)) else b) for b in data]
        data = np.concatenate(parts) if parts else np.zeros((0,), np.float32)
    arr = np.asarray(data, dtype=np.float32)
    if arr.ndim != 4 or len(arr) == 0:
        raise DataError(f"{what} must be a non-empty batch of images [N, H, W, C], got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise DataError(f"{what} contain NaN or infinity")
    return arr


def compute_features(images, feature_fn, *, layer=None, batch_size=256):
    """Run ``feature_fn`` over ``images`` in batches; returns ``(features float64 [N, D], description)``.

    Args:
        images: ``[N, H, W, C]`` array/tensor in [0, 1], or a dataset of ``(x, y)`` or ``x`` batches.
        feature_fn: a classifier ``keras.Model`` (its ``layer``, default the penultimate
            ``"features"`` layer; ``"logits"`` for its logits) or any callable ``x -> [n, D]``.
        layer: layer name for a keras model.
        batch_size: images per call.
    """
    import tensorflow as tf

    fn, desc = _describe(feature_fn, layer)
    x = _images(images, "images")
    import keras

    # Keras models are compiled once per call of this function; plain callables run as given (they may be numpy).
    run = tf.function(lambda t: fn(t, training=False), reduce_retracing=True) if isinstance(fn, keras.Model) else fn
    out = [np.asarray(run(tf.convert_to_tensor(x[i:i + batch_size]))) for i in range(0, len(x), batch_size)]
    feats = np.concatenate(out).astype(np.float64)
    return feats.reshape(len(feats), -1), desc


def _check_pair(real, generated, what):
    real, generated = np.asarray(real, np.float64), np.asarray(generated, np.float64)
    if real.ndim != 2 or generated.ndim != 2 or real.shape[1] != generated.shape[1]:
        raise DataError(f"{what} needs two [N, D] feature arrays of equal D, got {real.shape} and {generated.shape}")
    if len(real) != len(generated):
        raise ConfigError(f"{what} compares only equal sample sizes (its value depends on N), got "
                          f"{len(real)} real and {len(generated)} generated")
    return real, generated


@dataclass(frozen=True)
class FIDResult:
    """Fréchet distance between Gaussians fitted to real and generated features (Heusel et al., 2017)."""

    fid: float
    n_real: int
    n_generated: int
    feature_dim: int
    feature_extractor: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class KIDResult:
    """Unbiased MMD² with the cubic polynomial kernel, mean and std over subsets (Bińkowski et al., 2018)."""

    kid: float
    kid_std: float
    subsets: int
    subset_size: int
    n_real: int
    n_generated: int
    feature_dim: int
    feature_extractor: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class InceptionScoreResult:
    """``exp(E_x KL(p(y|x) || p(y)))``, mean and std over splits (Salimans et al., 2016)."""

    score: float
    std: float
    splits: int
    n: int
    num_classes: int
    classifier: str

    def to_dict(self) -> dict:
        return asdict(self)


def check_comparable(a, b) -> None:
    """Raise :class:`ConfigError` unless two FID/KID results share the extractor and the sample sizes."""
    if type(a) is not type(b):
        raise ConfigError(f"cannot compare a {type(a).__name__} with a {type(b).__name__}")
    if a.feature_extractor != b.feature_extractor:
        raise ConfigError(f"results use different feature extractors: {a.feature_extractor!r} vs {b.feature_extractor!r}")
    if (a.n_real, a.n_generated) != (b.n_real, b.n_generated):
        raise ConfigError(f"results use different sample sizes: {(a.n_real, a.n_generated)} vs "
                          f"{(b.n_real, b.n_generated)}")


def _psd_sqrt(m):
    w, v = np.linalg.eigh((m + m.T) / 2.0)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """``|mu1 - mu2|² + tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2))`` in float64.

    The trace of the matrix square root is computed as ``tr((s1^½ s2 s1^½)^½)`` (same eigenvalues as
    ``s1 s2``) with symmetric eigendecompositions, which stays real and stable for singular covariances.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1 = np.atleast_2d(np.asarray(sigma1, np.float64))
    sigma2 = np.atleast_2d(np.asarray(sigma2, np.float64))
    root1 = _psd_sqrt(sigma1)
    inner = root1 @ sigma2 @ root1
    tr_covmean = float(np.sum(np.sqrt(np.clip(np.linalg.eigvalsh((inner + inner.T) / 2.0), 0.0, None))))
    diff = mu1 - mu2
    return float(max(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean, 0.0))


def fid_from_features(real, generated, *, feature_extractor="precomputed features") -> FIDResult:
    """FID from feature arrays ``[N, D]`` (equal N required)."""
    real, generated = _check_pair(real, generated, "FID")
    if len(real) < 2:
        raise DataError(f"FID needs at least 2 samples per set, got {len(real)}")
    value = frechet_distance(real.mean(0), np.cov(real, rowvar=False), generated.mean(0),
                             np.cov(generated, rowvar=False))
    return FIDResult(value, len(real), len(generated), real.shape[1], str(feature_extractor))


def fid(real, generated, feature_fn, *, layer=None, batch_size=256) -> FIDResult:
    """Fréchet distance of real and generated images in the space of ``feature_fn``.

    Args:
        real, generated: image batches ``[N, H, W, C]`` in [0, 1] (or datasets) of equal size.
        feature_fn: classifier ``keras.Model`` (penultimate layer by default) or callable ``x -> [n, D]``.
        layer: a keras model's layer to use instead of the penultimate one.
        batch_size: images per feature call.

    Example:
        >>> fid(x_test[:256], gan.generate(y_test[:256], seed=0), cnn).fid  # doctest: +SKIP
    """
    fr, desc = compute_features(real, feature_fn, layer=layer, batch_size=batch_size)
    fg, _ = compute_features(generated, feature_fn, layer=layer, batch_size=batch_size)
    return fid_from_features(fr, fg, feature_extractor=desc)


def _cubic_kernel(a, b):
    return (a @ b.T / a.shape[1] + 1.0) ** 3


def kid_from_features(real, generated, *, subsets=10, subset_size=1000, seed=0,
                      feature_extractor="precomputed features") -> KIDResult:
    """KID from feature arrays: unbiased MMD² with ``k(x, y) = (x·y / D + 1)³`` averaged over subsets.

    Each subset draws ``min(subset_size, N)`` rows of each set without replacement (seeded).
    """
    real, generated = _check_pair(real, generated, "KID")
    subsets = checks.positive_int(subsets, "subsets")
    if not isinstance(subset_size, (int, np.integer)) or subset_size < 2:
        raise ConfigError(f"subset_size must be an integer >= 2, got {subset_size!r}")
    m = int(min(subset_size, len(real)))
    if m < 2:
        raise DataError(f"KID needs at least 2 samples per set, got {len(real)}")
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(int(subsets)):
        x = real[rng.choice(len(real), m, replace=False)]
        y = generated[rng.choice(len(generated), m, replace=False)]
        kxx, kyy, kxy = _cubic_kernel(x, x), _cubic_kernel(y, y), _cubic_kernel(x, y)
        values.append((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                      - 2.0 * kxy.mean())
    values = np.asarray(values)
    return KIDResult(float(values.mean()), float(values.std()), int(subsets), m, len(real), len(generated),
                     real.shape[1], str(feature_extractor))


def kid(real, generated, feature_fn, *, layer=None, subsets=10, subset_size=1000, seed=0, batch_size=256) -> KIDResult:
    """Kernel Inception Distance of real and generated images in the space of ``feature_fn`` (see :func:`fid`)."""
    fr, desc = compute_features(real, feature_fn, layer=layer, batch_size=batch_size)
    fg, _ = compute_features(generated, feature_fn, layer=layer, batch_size=batch_size)
    return kid_from_features(fr, fg, subsets=subsets, subset_size=subset_size, seed=seed, feature_extractor=desc)


def inception_score_from_logits(logits, *, splits=10, classifier="precomputed logits") -> InceptionScoreResult:
    """Inception Score from class logits ``[N, C]``: ``exp`` of the mean KL of ``p(y|x)`` from the split's ``p(y)``."""
    logits = np.asarray(logits, np.float64)
    if logits.ndim != 2 or logits.shape[1] < 2 or not np.isfinite(logits).all():
        raise DataError(f"logits must be a finite [N, C >= 2] array, got shape {logits.shape}")
    if not isinstance(splits, (int, np.integer)) or not 1 <= splits <= len(logits):
        raise ConfigError(f"splits must be an integer in 1..{len(logits)} (the sample count), got {splits!r}")
    log_p = logits - logits.max(1, keepdims=True)
    log_p = log_p - np.log(np.exp(log_p).sum(1, keepdims=True))
    scores = []
    for part in np.array_split(log_p, int(splits)):
        p = np.exp(part)
        log_marginal = np.log(np.maximum(p.mean(0), 1e-300))
        scores.append(np.exp(np.mean(np.sum(p * (part - log_marginal), axis=1))))
    return InceptionScoreResult(float(np.mean(scores)), float(np.std(scores)), int(splits), len(logits),
                                logits.shape[1], str(classifier))


def inception_score(images, classifier, *, splits=10, batch_size=256) -> InceptionScoreResult:
    """Inception Score of ``images`` under ``classifier`` (a logits ``keras.Model`` or callable ``x -> logits``).

    Example:
        >>> inception_score(gan.generate(np.arange(500) % 10, seed=0), cnn).score  # doctest: +SKIP
    """
    logits, desc = compute_features(images, classifier, layer="logits", batch_size=batch_size)
    return inception_score_from_logits(logits, splits=splits, classifier=desc)


@dataclass(frozen=True)
class GenerativeReport:
    """FID, KID and IS of generated images against real ones, plus the IS of the real images for scale."""

    fid: FIDResult
    kid: KIDResult
    inception_score: InceptionScoreResult
    real_inception_score: InceptionScoreResult

    def to_dict(self) -> dict:
        return {"fid": self.fid.to_dict(), "kid": self.kid.to_dict(), "inception_score": self.inception_score.to_dict(),
                "real_inception_score": self.real_inception_score.to_dict(),
                "note": f"features from {self.fid.feature_extractor} (a trained classifier, not ImageNet Inception); "
                        "compare only figures with the same extractor and sample sizes"}


def generative_report(real, generated, classifier, *, layer=None, kid_subsets=10, kid_subset_size=1000,
                      is_splits=10, seed=0, batch_size=256) -> GenerativeReport:
    """FID, KID and Inception Score of ``generated`` against ``real`` (equal sizes) under one classifier.

    Args:
        real, generated: image batches ``[N, H, W, C]`` in [0, 1] of equal size.
        classifier: a trained classifier ``keras.Model`` returning logits (its penultimate layer gives
            the FID/KID features, its logits the IS class probabilities).
        layer: feature layer instead of the penultimate one.
        kid_subsets, kid_subset_size, seed: see :func:`kid_from_features`.
        is_splits: splits of the Inception Score (clipped to the sample count).
    """
    fr, desc = compute_features(real, classifier, layer=layer, batch_size=batch_size)
    fg, _ = compute_features(generated, classifier, layer=layer, batch_size=batch_size)
    lr, cdesc = compute_features(real, classifier, layer="logits", batch_size=batch_size)
    lg, _ = compute_features(generated, classifier, layer="logits", batch_size=batch_size)
    splits = max(1, min(int(is_splits), len(lg)))
    return GenerativeReport(
        fid=fid_from_features(fr, fg, feature_extractor=desc),
        kid=kid_from_features(fr, fg, subsets=kid_subsets, subset_size=kid_subset_size, seed=seed,
                              feature_extractor=desc),
        inception_score=inception_score_from_logits(lg, splits=splits, classifier=cdesc),
        real_inception_score=inception_score_from_logits(lr, splits=splits, classifier=cdesc))
