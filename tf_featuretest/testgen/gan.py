"""Labelled test cases from a class-conditional DCGAN, checked through a VAE's encoder.

A conditional generator asked for class ``c`` does not always draw a ``c``. Each generated image is
labelled with its condition and kept as a valid test only if an independent model agrees: through
the VAE (see :mod:`tf_featuretest.testgen.validity`), (a) its nearest training latent has label
``c``; (b) its latent mean lies within the r-separation radius of that nearest training point
(``"local"``: the point's own margin r_i; ``"global"``: the data set's latent r; or a fraction
or a fixed number), the region that r-separation assigns to the training point's label; (c) its
ELBO is above a low percentile of the training ELBOs.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from .._util import checks, seeds
from ..errors import ConfigError
from .latent import parse_radius, predict_labels, reference_latents, summarize
from .separation import r_separation
from .validity import check_cases


def gan_tests(model, gan, vae, train, *, n=1000, radius="local", elbo_percentile=1.0, separation=None, seed=0,
              batch_size=256):
    """Generate ``n`` class-balanced images with ``gan``, check them with ``vae``, query ``model``.

    Args:
        model: a classifier taking [0, 1] images.
        gan: a trained conditional DCGAN (``generate(labels, seed)``, ``num_classes``).
        vae: a trained VAE on the same data.
        train: ``(x_train, y_train)``.
        n: number of generated cases (labels cycle through the classes).
        radius: ``"local"``, ``"global"``, ``"<f>local"``, ``"<f>global"`` or a positive number.
        elbo_percentile: percentile of the training ELBOs used as the threshold.
        separation: a latent-space (L2) :class:`SeparationResult` of the training set to reuse.
        seed: generation seed.

    Returns:
        :class:`~tf_featuretest.testgen.latent.LatentTestResult` with ``source="dcgan"``.

    Example:
        >>> res = gan_tests(cnn, gan, vae, (x_train, y_train), n=200)  # doctest: +SKIP
    """
    kind, factor = parse_radius(radius)
    n = checks.positive_int(n, "n")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise ConfigError(f"seed must be an integer, got {seed!r}")
    num_classes = int(getattr(gan, "num_classes", 0) or 0)
    if num_classes < 1:
        raise ConfigError(f"gan must be a conditional generator with num_classes, got {type(gan).__name__}")
    z_train, y_train, threshold = reference_latents(vae, train[0], train[1], elbo_percentile=elbo_percentile,
                                                    batch_size=batch_size)
    train_radius = None
    scalar = np.float32(factor)
    if kind != "fixed":
        sep = separation if separation is not None else r_separation(z_train, y_train, norm=2)
        if kind == "global":
            scalar = np.float32(factor * sep.r)
        else:
            train_radius = tf.constant((factor * sep.train_margins).astype(np.float32))
    labels = (np.arange(n) % num_classes).astype(np.int64)
    zt, yt, th = tf.constant(z_train), tf.constant(y_train), tf.constant(threshold, tf.float32)

    def run(lab, s):
        images = tf.cast(gan.generate(lab, seed=s), tf.float32)
        out = check_cases(vae, images, lab, None, scalar, zt, yt, th, nearest_center=True, train_radius=train_radius)
        out.update(images=images, labels=lab)
        return out

    fn = tf.function(run, input_signature=[tf.TensorSpec([None], tf.int64), tf.TensorSpec([], tf.int32)])
    parts = []
    for b, i in enumerate(range(0, n, batch_size)):
        out = fn(tf.constant(labels[i:i + batch_size]), tf.constant(seeds.derive(seed, b), tf.int32))
        parts.append({k: np.asarray(v) for k, v in out.items()})
    out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    out["anchor_index"] = out["nearest_index"]
    preds = predict_labels(model, out["images"], batch_size)
    return summarize("dcgan", kind, factor, out, preds, num_classes, threshold, seed, anchors=None)
