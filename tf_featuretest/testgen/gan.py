"""Labelled test cases from a class-conditional DCGAN, judged by the same checker as the latent cases.

A conditional generator asked for class ``c`` does not always draw a ``c``. Each generated image is
labelled with its condition and is a valid test only if the
:class:`~tf_featuretest.testgen.checker.CaseChecker` says it is in distribution and the label
committee keeps ``c``; ambiguous images never count as failures.

Example:
    >>> cases = gan_tests(cnn, gan, checker, n=500, vae=vae)  # doctest: +SKIP
    >>> cases.summary()["yield"]  # doctest: +SKIP
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from .._util import checks, seeds
from ..errors import ConfigError
from .cases import TestCases, case_id
from .latent import predict_labels
from .separation import encode_features


def gan_tests(model, gan, checker, *, n=500, vae=None, seed=0, batch_size=256) -> TestCases:
    """Generate ``n`` class-balanced images with ``gan``, check them, and ask ``model``.

    Args:
        model: the classifier under test.
        gan: a trained conditional DCGAN (``generate(labels, seed)``, ``num_classes``).
        checker: the :class:`~tf_featuretest.testgen.checker.CaseChecker`.
        n: number of cases (labels cycle through the classes).
        vae: optional VAE: each case's ``latent`` is its latent mean there (for the latent map).
        seed: generation seed (batch ``b`` uses ``derive(seed, b)``).

    Returns:
        :class:`~tf_featuretest.testgen.cases.TestCases` with ``origin="dcgan"`` and ``anchor = -1``.
    """
    n = checks.positive_int(n, "n")
    seed = checks.seed(seed)
    num_classes = int(getattr(gan, "num_classes", 0) or 0)
    if num_classes < 2:
        raise ConfigError(f"gan must be a conditional generator with num_classes, got {type(gan).__name__}")
    if num_classes != checker.num_classes:
        raise ConfigError(f"the generator has {num_classes} classes, the checker {checker.num_classes}")
    labels = (np.arange(n) % num_classes).astype(np.int64)
    parts = []
    for b, i in enumerate(range(0, n, batch_size)):
        s = tf.constant(seeds.derive(seed, b), tf.int32)
        parts.append(np.asarray(gan.generate(tf.constant(labels[i:i + batch_size]), seed=s), np.float32))
    images = np.concatenate(parts)
    c = checker.check(images, labels, batch_size)
    latent = encode_features(vae, images, batch_size) if vae is not None else np.zeros((n, 0), np.float32)
    ids = np.asarray([case_id("dcgan", seed, i, int(labels[i])) for i in range(n)])
    return TestCases(source="dcgan", images=images, labels=labels, anchor=np.full(n, -1, np.int64), latent=latent,
                     radius=np.zeros(n, np.float32), origin=np.full(n, "dcgan"), case_ids=ids, checks=c,
                     predictions=predict_labels(model, images, batch_size), num_classes=num_classes)
