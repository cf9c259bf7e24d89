"""Versioned SavedModels that TensorFlow Serving loads, one per artifact, with named signatures.

The layout and the atomic version folders are :mod:`.layout`'s.

The graphs are built with :class:`keras.export.ExportArchive` and ``add_endpoint``; the archive
saves only the variables the endpoints use, each once. The signature functions live in
:mod:`.signatures`.
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from .. import __version__
from .._util import checks
from ..errors import ConfigError
from ..models.introspection import as_logits_model
from ..models.training import check_finite_weights
from . import signatures as _sig
from .layout import ExportResult, check_names, write_version


def _metadata(pipeline, artifact, image_shape, class_names, separation_radius, signatures, extra=None):
    return {"pipeline": pipeline, "artifact": artifact, "image_shape": list(image_shape),
            "class_names": list(class_names),
            "separation_radius": None if separation_radius is None else float(separation_radius),
            "tf_featuretest_version": __version__, "signatures": list(signatures), **(extra or {})}


def _export(pipeline, artifact, root, endpoints, image_shape, class_names, separation_radius, extra=None,
            tracked=(), variables=(), version=None):
    """Build an ExportArchive from ``endpoints`` = [(name, fn, input_signature)] and write it."""
    archive = keras.export.ExportArchive()
    for resource in tracked:
        archive.track(resource)
    for name, fn, signature in endpoints:
        archive.add_endpoint(name, fn, input_signature=signature)
    for name, vars_ in variables:
        archive.add_variable_collection(name, list(vars_))
    names = [n for n, _, _ in endpoints]
    if "serving_default" not in names:
        names.append("serving_default")
    meta = _metadata(pipeline, artifact, image_shape, class_names, separation_radius, names, extra)
    return write_version(lambda folder: archive.write_out(folder, verbose=False), root, pipeline, artifact,
                         meta, class_names, version=version)


def export_classifier(model, root="saved_models", pipeline="digits", *, class_names=None, separation_radius=None,
                      top_k=5, feature_layer=None, version=None) -> ExportResult:
    """Export a classifier: ``serving_default`` (logits, probabilities, top-k) and ``features``.

    Works for any Keras classifier taking [0, 1] NHWC images, including a user's own functional or
    Sequential model ending in a softmax (it is converted to logits first).

    Args:
        model: the classifier.
        root: the export root; the version lands in ``root/pipeline/classifier/<n>``.
        pipeline: the pipeline name.
        class_names: names indexed by label (default ``"0"``, ``"1"``, ...).
        separation_radius: the data set's r-separation radius, stored in the metadata and as the
            variable collection ``separation_radius`` (None when unknown).
        top_k: how many top classes ``serving_default`` returns (capped at the class count).
        feature_layer: the layer ``features`` returns (default: the penultimate ``"features"``).

    Returns:
        An :class:`ExportResult`.

    Example:
        >>> res = export_classifier(model, "saved_models", "digits", class_names=info.class_names)  # doctest: +SKIP
        >>> res.path
        'saved_models/digits/classifier/1'
    """
    check_finite_weights(model)
    logits_model = as_logits_model(model)
    num_classes = int(logits_model.output_shape[-1])
    class_names = [str(i) for i in range(num_classes)] if class_names is None else list(class_names)
    if len(class_names) != num_classes:
        raise ConfigError(f"got {len(class_names)} class names for a model with {num_classes} outputs")
    top_k = checks.positive_int(top_k, "top_k")
    names, shape = check_names(pipeline, class_names, _sig.model_image_shape(logits_model))
    endpoints = _sig.classifier_endpoints(logits_model, names, shape, top_k=int(top_k), feature_layer=feature_layer)
    variables = []
    if separation_radius is not None:
        variables.append(("separation_radius", [tf.Variable(float(separation_radius), trainable=False,
                                                            name="separation_radius")]))
    return _export(pipeline, "classifier", root, endpoints, shape, names, separation_radius,
                   extra={"top_k": min(int(top_k), num_classes)}, variables=variables, version=version)


def export_attacks(model, root="saved_models", pipeline="digits", *, class_names=None, centroids=None,
                   feature_layer=None, feature_space_steps=60, separation_radius=None, version=None,
                   advgan=None) -> ExportResult:
    """Export graph-compiled attacks on ``model``: ``fgsm``, ``pgd`` and (with centroids) ``feature_space``.

    Scalar parameters (``eps``, ``step_size``, ``steps``, ``target``) are rank-0 inputs, so the
    signatures accept TF Serving's column ("inputs") request format. ``target = -1`` is untargeted.

    Args:
        model: the classifier attacked (a softmax output is converted to logits).
        root, pipeline: where the version is written (``root/pipeline/attacks/<n>``).
        class_names: names indexed by label.
        centroids: a ``ClassCentroids`` (from ``attacks.feature_space.class_centroids``) or a
            ``[C, k, D]`` array; enables the ``feature_space`` signature, stored as a variable.
        feature_layer: layer whose features the centroids describe (default: the centroids' layer).
        feature_space_steps: iterations of the exported feature-space attack.
        separation_radius: stored in the metadata.
        advgan: a trained :class:`~tf_featuretest.models.advgan.AdvGAN` against ``model``: adds the
            ``advgan`` signature (image [+ target] -> adversarial image, predicted label).

    Example:
        >>> export_attacks(model, "saved_models", "digits", centroids=class_centroids(model, x, y))  # doctest: +SKIP
    """
    check_finite_weights(model)
    logits_model = as_logits_model(model)
    num_classes = int(logits_model.output_shape[-1])
    class_names = [str(i) for i in range(num_classes)] if class_names is None else list(class_names)
    if len(class_names) != num_classes:
        raise ConfigError(f"got {len(class_names)} class names for a model with {num_classes} outputs")
    names, shape = check_names(pipeline, class_names, _sig.model_image_shape(logits_model))
    endpoints, variables = _sig.attack_endpoints(logits_model, shape, centroids=centroids,
                                                 feature_layer=feature_layer, steps=int(feature_space_steps),
                                                 advgan=advgan)
    extra = None if advgan is None else {"advgan": {"family": advgan.family, "budget": advgan.budget,
                                                    "norm": str(advgan.norm), "mode": advgan.mode}}
    return _export(pipeline, "attacks", root, endpoints, shape, names, separation_radius, variables=variables,
                   version=version, extra=extra)


def export_vae(vae, root="saved_models", pipeline="digits", *, train_images, train_labels, class_names,
               elbo_threshold=None, separation_radius=None, batch_size=256, version=None) -> ExportResult:
    """Export a VAE: ``encode``, ``decode`` and ``sample_tests`` (labelled latent test cases).

    ``sample_tests`` runs ``testgen.latent.sample_latent_tests_tf`` with the training set's latent
    means and labels stored in the export as variables.

    Args:
        vae: a trained :class:`~tf_featuretest.models.vae.VAE`.
        train_images, train_labels: the training set, encoded once for the validity checks.
        class_names: names indexed by label.
        elbo_threshold: lowest ELBO of a valid case (default: the training set's 1st percentile).
        separation_radius: the r-separation radius, also the default sampling radius in the metadata.

    Example:
        >>> export_vae(vae, "saved_models", "digits", train_images=x, train_labels=y, class_names=names)  # doctest: +SKIP
    """
    names, shape = check_names(pipeline, class_names, tuple(int(v) for v in vae.encoder.input_shape[1:]))
    endpoints, variables, threshold = _sig.vae_endpoints(vae, shape, train_images, train_labels,
                                                         elbo_threshold=elbo_threshold, batch_size=batch_size)
    return _export(pipeline, "vae", root, endpoints, shape, names, separation_radius,
                   extra={"latent_dim": int(vae.decoder.input_shape[-1]), "elbo_threshold": threshold},
                   variables=variables, version=version)


def export_generator(gan, root="saved_models", pipeline="digits", *, class_names, separation_radius=None,
                     version=None) -> ExportResult:
    """Export a conditional DCGAN's generator as ``generate(labels, seed) -> images``.

    The signature calls ``gan.generate(labels, seed=seed)``, whose noise is
    ``tf.random.stateless_normal([N, latent_dim], seed=[seed, 0])``: equal ``(labels, seed)`` give
    equal images in the export and in process.

    Example:
        >>> export_generator(gan, "saved_models", "digits", class_names=names)  # doctest: +SKIP
    """
    shape = tuple(int(v) for v in gan.generator.output_shape[1:])
    names, shape = check_names(pipeline, class_names, shape)
    endpoints = _sig.generator_endpoints(gan)
    return _export(pipeline, "generator", root, endpoints, shape, names, separation_radius,
                   extra={"latent_dim": int(_sig.gan_latent_dim(gan))}, version=version)


def export_judge(committee, root="saved_models", pipeline="digits", *, image_shape, class_names,
                 samples=None, separation_radius=None, version=None) -> ExportResult:
    """Export the label committee as the ``judge`` artifact: ``votes(image) -> probabilities [N, M, K]``.

    The service asks it whether a look-alike still shows the original label (the rule of
    :meth:`~tf_featuretest.testgen.judge.LabelCommittee.verdict`, with the members and ``agree``
    kept in the metadata). ``samples = (images, labels)``, a few test images, are stored as the
    variable collection ``samples`` so the web page has images to try.
    """
    class_names = list(class_names)
    if len(class_names) != committee.num_classes:
        raise ConfigError(f"got {len(class_names)} class names for a committee of {committee.num_classes} classes")
    names, shape = check_names(pipeline, class_names, tuple(int(v) for v in image_shape))
    endpoints, variables = _sig.judge_endpoints(committee, shape)
    extra = {"members": list(committee.names), "agree": float(committee.agree),
             "accuracies": {k: float(v) for k, v in committee.accuracies.items()}}
    if samples is not None:
        images, labels = (np.asarray(samples[0], np.float32), np.asarray(samples[1], np.int64))
        if images.shape[1:] != tuple(shape) or len(images) != len(labels):
            raise ConfigError(f"samples must be [N, {', '.join(map(str, shape))}] with N labels, got {images.shape} "
                              f"and {labels.shape}")
        variables = [*variables, ("samples", [tf.Variable(images, trainable=False, name="sample_images"),
                                              tf.Variable(labels, trainable=False, name="sample_labels")])]
        extra["samples"] = int(len(images))
    return _export(pipeline, "judge", root, endpoints, shape, names, separation_radius, extra=extra,
                   variables=variables, version=version)
