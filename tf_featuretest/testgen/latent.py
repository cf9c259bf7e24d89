"""Labelled test cases sampled from a VAE's latent space, checked by an independent checker.

For each anchor (a real test image with a known label) we take its latent mean ``z_a``, draw points
uniformly from the Euclidean ball of radius ``rho_a`` around it, decode them and give each the
anchor's label. Generators break labels often (Riccio & Tonella, ICSE 2023, found that only 9-58%
of latent-space "failures" were real misclassifications), so every case is checked by
:class:`~tf_featuretest.testgen.checker.CaseChecker`: in distribution (density scores calibrated
on held-out real images) and label kept (a committee of classifiers trained by the tool, never
the model under test). Only cases passing both are valid tests; ambiguous ones never count as
failures.

The radius: ``"found"`` (default) searches, per anchor, the largest radius up to the anchor's
latent margin r_i at which a target share of samples pass the checker (:mod:`.radius`);
``"<f>found"`` bounds the search by ``f * r_i``. ``"local"`` / ``"<f>local"`` take ``f * r_i``
itself, ``"global"`` / ``"<f>global"`` the data set's latent r, a number a fixed radius. Anchors
whose own reconstruction is not a valid case are skipped (and replaced by further images of the
same class from the pool, while there are any), so no class is starved by a poor reconstruction.

``sample_ball_tf`` and ``sample_latent_tests_tf`` are the pure-TensorFlow sampler used by the
exported ``sample_tests`` signature and the Keras callback (checks through the VAE only, see
:mod:`.validity`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from .._util import checks, seeds
from ..data.subset import stratified_indices
from ..errors import ConfigError, DataError
from ..models.introspection import compiled_predict
from .cases import TestCases, case_id
from .radius import FoundRadii, decode, find_radii, sample_ball
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


_RADIUS = re.compile(r"^\s*(\d*\.?\d+)?\s*(global|local|found)\s*$")


def parse_radius(radius):
    """``"found"``, ``"local"``, ``"global"`` (each optionally prefixed by a factor, e.g. ``"0.5local"``) or a
    positive number -> ``(kind, factor)``."""
    if isinstance(radius, (int, float, np.floating, np.integer)) and not isinstance(radius, bool):
        if not np.isfinite(radius) or radius <= 0:
            raise ConfigError(f"radius must be positive, got {radius!r}")
        return "fixed", float(radius)
    m = _RADIUS.match(str(radius)) if isinstance(radius, str) else None
    if m is None:
        try:
            return parse_radius(float(radius))
        except (TypeError, ValueError):
            raise ConfigError(f"radius must be 'found', 'local', 'global', e.g. '0.5local', or a positive number, "
                              f"got {radius!r}") from None
    factor = float(m.group(1)) if m.group(1) else 1.0
    if factor <= 0:
        raise ConfigError(f"radius factor must be positive, got {radius!r}")
    return m.group(2), factor


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


@dataclass(frozen=True)
class LatentTests:
    """Latent test cases around the chosen anchors, and how the anchors and radii were found.

    Attributes:
        cases: the random test cases (:class:`~tf_featuretest.testgen.cases.TestCases`, ``origin="random"``).
        radius_kind, radius_factor: how the radius was chosen (:func:`parse_radius`).
        anchor_index: ``[A]`` indices (into the split) of the anchors sampled around.
        anchor_images, anchor_labels, anchor_latents, margins: the anchors, their latent means and margins r_i.
        radii: the radius search over every examined pool image (:class:`~tf_featuretest.testgen.radius.FoundRadii`).
        examined_index: ``[E]`` split indices of the examined pool images (``radii`` rows).
        quota: ``[C]`` anchors wanted per class.
        seed: the seed used.
    """

    cases: TestCases
    radius_kind: str
    radius_factor: float
    anchor_index: np.ndarray
    anchor_images: np.ndarray
    anchor_labels: np.ndarray
    anchor_latents: np.ndarray
    anchor_radius: np.ndarray
    margins: np.ndarray
    radii: FoundRadii
    examined_index: np.ndarray
    examined_labels: np.ndarray
    quota: np.ndarray
    seed: int

    def to_dict(self) -> dict:
        num_classes = len(self.quota)
        ex = self.examined_labels
        rec = self.radii.reconstruction_valid
        per_class = lambda m: [int(np.sum(m & (ex == c))) for c in range(num_classes)]  # noqa: E731
        return {"radius": {"kind": self.radius_kind, "factor": self.radius_factor, "search": self.radii.to_dict()},
                "anchors": {"index": self.anchor_index.tolist(), "labels": self.anchor_labels.tolist(),
                            "radius": self.anchor_radius.tolist(), "margin": self.margins.tolist(),
                            "quota_per_class": self.quota.tolist(),
                            "per_class": [int(np.sum(self.anchor_labels == c)) for c in range(num_classes)],
                            "examined": int(len(ex)), "examined_per_class": per_class(np.ones(len(ex), bool)),
                            "reconstruction_kept": float(np.mean(rec)) if len(rec) else 0.0,
                            "skipped_reconstruction_per_class": per_class(~rec),
                            "skipped_no_radius_per_class": per_class(rec & ~self.radii.usable)},
                "seed": self.seed}


def _margins(vae, x, y, z_train, y_train, batch_size):
    z = encode_features(vae, x, batch_size)
    dist, _ = nearest_other_class(z, y, z_train, y_train, norm=2)
    return z, (dist / 2.0).astype(np.float32)


def _concat_radii(parts) -> FoundRadii:
    cat = lambda k: np.concatenate([getattr(p, k) for p in parts])  # noqa: E731
    p0 = parts[0]
    return FoundRadii(radius=cat("radius"), upper=cat("upper"), share=cat("share"),
                      reconstruction_valid=cat("reconstruction_valid"), reconstruction_status=cat("reconstruction_status"),
                      usable=cat("usable"), target=p0.target, probes=p0.probes, steps=p0.steps,
                      checks=int(sum(p.checks for p in parts)))


def latent_tests(model, vae, checker, train, pool, *, num_anchors=100, per_anchor=10, radius="found", target=0.9,
                 probes=16, steps=5, pool_index=None, separation=None, seed=0, batch_size=256) -> LatentTests:
    """Choose anchors from ``pool``, find their radii, sample ``per_anchor`` cases each, check them, ask ``model``.

    Args:
        model: the classifier under test ([0, 1] images; logits or probabilities).
        vae: a trained VAE.
        checker: the :class:`~tf_featuretest.testgen.checker.CaseChecker`.
        train: ``(x_train, y_train)``: the latent margins are measured against it.
        pool: ``(x, y)`` real labelled images to take anchors from, in preference order (e.g. a
            stratified, prefix-balanced ordering of the test split).
        num_anchors: anchors wanted, split over the classes in proportion to the pool.
        per_anchor: cases sampled around each anchor.
        radius: see the module docstring.
        target, probes, steps: the radius search (:func:`~tf_featuretest.testgen.radius.find_radii`).
        pool_index: ``[P]`` the pool images' indices in their split (default ``0..P-1``).
        separation: a latent (L2) :class:`SeparationResult` of the training set, for ``"global"``.
        seed: seed of the radius search and the sampling.

    Returns:
        :class:`LatentTests`.

    Example:
        >>> lt = latent_tests(cnn, vae, checker, (x_train, y_train), (x_test, y_test), num_anchors=50)  # doctest: +SKIP
        >>> lt.cases.summary()["yield"]  # doctest: +SKIP
    """
    kind, factor = parse_radius(radius)
    num_anchors = checks.positive_int(num_anchors, "num_anchors")
    per_anchor = checks.positive_int(per_anchor, "per_anchor")
    seed = checks.seed(seed)
    xp, yp = np.asarray(pool[0], np.float32), np.asarray(pool[1], np.int64)
    if len(xp) == 0 or len(xp) != len(yp):
        raise DataError(f"the anchor pool needs equal, non-zero numbers of images and labels, got {len(xp)} and {len(yp)}")
    pool_index = np.arange(len(xp)) if pool_index is None else np.asarray(pool_index, np.int64)
    num_classes = checker.num_classes
    z_train = encode_features(vae, np.asarray(train[0], np.float32), batch_size)
    y_train = np.asarray(train[1], np.int64)
    quota = np.bincount(yp[stratified_indices(yp, min(num_anchors, len(yp)), seed=seed, num_classes=num_classes)],
                        minlength=num_classes)
    global_r = None
    if kind == "global":
        global_r = (separation if separation is not None else r_separation(z_train, y_train, norm=2)).r
    taken = np.zeros(num_classes, np.int64)
    examined, parts, z_parts, m_parts = [], [], [], []
    cursor = np.zeros(num_classes, np.int64)
    by_class = [np.flatnonzero(yp == c) for c in range(num_classes)]
    for round_ in range(4):  # first choice, then replacements for skipped anchors
        want = [by_class[c][cursor[c]:cursor[c] + quota[c] - taken[c]] for c in range(num_classes)]
        batch = np.sort(np.concatenate(want)) if any(len(w) for w in want) else np.zeros(0, np.int64)
        if not len(batch):
            break
        for c in range(num_classes):
            cursor[c] += len(want[c])
        z, marg = _margins(vae, xp[batch], yp[batch], z_train, y_train, batch_size)
        upper = {"fixed": np.full(len(batch), factor, np.float32),
                 "global": np.full(len(batch), factor * (global_r or 0.0), np.float32)}.get(kind, factor * marg)
        if kind == "found":
            found = find_radii(checker, vae, z, yp[batch], upper, target=target, probes=probes, steps=steps,
                               seed=seeds.derive(seed, 100 + round_))
        else:  # a given radius: only the reconstruction is checked
            found = find_radii(checker, vae, z, yp[batch], upper, target=0.0, probes=1, steps=0,
                               seed=seeds.derive(seed, 100 + round_))
        examined.append(batch)
        parts.append(found)
        z_parts.append(z)
        m_parts.append(marg)
        taken += np.bincount(yp[batch][found.usable], minlength=num_classes)
        if np.all(taken >= quota):
            break
    radii = _concat_radii(parts)
    ex = np.concatenate(examined)
    z_ex, m_ex = np.concatenate(z_parts), np.concatenate(m_parts)
    use = np.flatnonzero(radii.usable)
    use = use[np.argsort(ex[use], kind="stable")]
    za, ya, rho = z_ex[use], yp[ex[use]], radii.radius[use]
    idx = pool_index[ex[use]]
    if len(use):
        pts = sample_ball(za, per_anchor, rho, seeds.derive(seed, 1))
        images = decode(vae, pts, batch_size)
        labels = np.repeat(ya, per_anchor)
        owner = np.repeat(np.arange(len(use)), per_anchor)
        c = checker.check(images, labels, batch_size)
        preds = predict_labels(model, images, batch_size)
        ids = np.asarray([case_id("latent", idx[o], "random", p) for o, p in zip(owner, pts)])
    else:
        shape = xp.shape[1:]
        pts, images = np.zeros((0, z_train.shape[1]), np.float32), np.zeros((0, *shape), np.float32)
        labels, owner, preds = (np.zeros(0, np.int64),) * 3
        c = checker.check(images, labels)
        ids = np.zeros(0, str)
    cases = TestCases(source="latent", images=images, labels=labels, anchor=idx[owner], latent=pts,
                      radius=rho[owner], origin=np.full(len(labels), "random"), case_ids=ids, checks=c,
                      predictions=preds, num_classes=num_classes)
    return LatentTests(cases=cases, radius_kind=kind, radius_factor=float(factor), anchor_index=idx,
                       anchor_images=xp[ex[use]], anchor_labels=ya, anchor_latents=za, anchor_radius=rho,
                       margins=m_ex[use], radii=radii, examined_index=pool_index[ex], examined_labels=yp[ex],
                       quota=quota, seed=int(seed))
