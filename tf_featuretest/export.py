"""Versioned SavedModels that TensorFlow Serving loads, one per artifact, with named signatures.

Layout (what ``tensorflow/serving`` expects, one model per artifact)::

    <root>/<pipeline>/<artifact>/<version>/        artifact in classifier | attacks | vae | generator
        saved_model.pb, variables/, assets/metadata.json, assets/class_names.txt

Versions are integers 1, 2, ...; a new export takes the next free number and never overwrites one.
Each export is written into a hidden temporary folder beside the versions (TF Serving ignores
non-numeric names) and renamed into place only when complete, so a failure leaves nothing behind.

The graphs are built with :class:`keras.export.ExportArchive` and ``add_endpoint``; the archive
saves only the variables the endpoints use, each once. The signature functions live in
:mod:`tf_featuretest.export_signatures`.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass

import numpy as np

from . import __version__
from . import export_signatures as _sig
from .errors import ConfigError, ModelError

ARTIFACTS = ("classifier", "attacks", "vae", "generator")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class ExportResult:
    """One written SavedModel version.

    Attributes:
        path: the version folder.
        pipeline, artifact, version: where it sits in the layout.
        signatures: signature names, ``serving_default`` first when present.
        size_bytes: bytes of the whole version folder.
        variable_bytes: bytes of the variables the signatures use (their values, no overhead).
    """

    path: str
    pipeline: str
    artifact: str
    version: int
    signatures: tuple
    size_bytes: int
    variable_bytes: int

    def to_dict(self) -> dict:
        return {"path": self.path, "pipeline": self.pipeline, "artifact": self.artifact, "version": self.version,
                "signatures": list(self.signatures), "size_bytes": self.size_bytes,
                "variable_bytes": self.variable_bytes}


# ----------------------------------------------------------------------------- reading


def _artifact_dir(root, artifact, pipeline=None):
    if artifact not in ARTIFACTS:
        raise ConfigError(f"artifact must be one of {', '.join(ARTIFACTS)}, got {artifact!r}")
    return os.path.join(str(root), pipeline, artifact) if pipeline else os.path.join(str(root), artifact)


def versions(root, artifact, *, pipeline=None) -> list:
    """Sorted integer versions present under ``root/[pipeline/]artifact`` (empty if none)."""
    folder = _artifact_dir(root, artifact, pipeline)
    if not os.path.isdir(folder):
        return []
    return sorted(int(n) for n in os.listdir(folder) if n.isdigit() and os.path.isdir(os.path.join(folder, n)))


def latest_version(root, artifact, *, pipeline=None):
    """Highest version of ``artifact`` under ``root`` (the pipeline folder), or None when there is none.

    Example:
        >>> latest_version("saved_models/digits", "classifier")  # doctest: +SKIP
        2
    """
    found = versions(root, artifact, pipeline=pipeline)
    return found[-1] if found else None


def read_metadata(version_dir) -> dict:
    """``assets/metadata.json`` of a version folder."""
    path = os.path.join(str(version_dir), "assets", "metadata.json")
    if not os.path.isfile(path):
        raise ModelError(f"no export metadata at {path}")
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def load_artifact(root, artifact, version=None, *, pipeline=None):
    """Load one exported artifact with ``tf.saved_model.load``.

    Args:
        root: the pipeline folder (``saved_models/digits``), or the export root with ``pipeline=``.
        artifact: ``classifier``, ``attacks``, ``vae`` or ``generator``.
        version: an integer version; default: the highest.
        pipeline: optional pipeline name below ``root``.

    Returns:
        ``(loaded, metadata)``: the revived object (signatures in ``loaded.signatures``) and the
        metadata dict.

    Example:
        >>> loaded, meta = load_artifact("saved_models/digits", "classifier")  # doctest: +SKIP
        >>> loaded.signatures["serving_default"](image=x)["top_k_names"]  # doctest: +SKIP
    """
    import tensorflow as tf

    found = versions(root, artifact, pipeline=pipeline)
    folder = _artifact_dir(root, artifact, pipeline)
    if not found:
        raise ModelError(f"no exported {artifact} versions under {folder}")
    if version is None:
        version = found[-1]
    if not isinstance(version, (int, np.integer)) or int(version) not in found:
        raise ModelError(f"{artifact} version {version!r} not found under {folder}; have {found}")
    path = os.path.join(folder, str(int(version)))
    return tf.saved_model.load(path), read_metadata(path)


# ----------------------------------------------------------------------------- writing


def _check_names(pipeline, class_names, image_shape):
    if not isinstance(pipeline, str) or not _NAME.match(pipeline):
        raise ConfigError(f"pipeline name must be letters, digits, '_', '-' or '.', got {pipeline!r}")
    names = [str(n) for n in class_names]
    bad = [n for n in names if not n or "\n" in n or "\r" in n]
    if bad:
        raise ConfigError(f"class names must be non-empty single lines, got {bad[0]!r}")
    shape = tuple(image_shape)
    if len(shape) != 3 or any(not isinstance(v, (int, np.integer)) or v < 1 for v in shape):
        raise ConfigError(f"image_shape must be (height, width, channels) of known sizes, got {shape}")
    return names, [int(v) for v in shape]


def _folder_bytes(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def _write(archive, root, pipeline, artifact, metadata, class_names, variable_bytes):
    """Write ``archive`` as the next version, atomically; return an :class:`ExportResult`."""
    folder = _artifact_dir(root, pipeline=pipeline, artifact=artifact)
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        archive.write_out(tmp, verbose=False)
        _write_assets(tmp, metadata, class_names)
        while True:
            found = [int(n) for n in os.listdir(folder) if n.isdigit()]
            version = max(found, default=0) + 1
            target = os.path.join(folder, str(version))
            try:
                os.rename(tmp, target)  # fails on an existing (non-empty) version: never overwrites
                break
            except OSError:
                if not os.path.exists(target):
                    raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ExportResult(path=target, pipeline=pipeline, artifact=artifact, version=version,
                        signatures=tuple(metadata["signatures"]), size_bytes=_folder_bytes(target),
                        variable_bytes=int(variable_bytes))


def _write_assets(path, metadata, class_names):
    assets = os.path.join(path, "assets")
    os.makedirs(assets, exist_ok=True)
    with open(os.path.join(assets, "class_names.txt"), "w", encoding="utf-8") as fh:
        fh.write("".join(f"{n}\n" for n in class_names))
    with open(os.path.join(assets, "metadata.json"), "w", encoding="utf-8") as fh:
        json.dump(metadata, fh, indent=2)


def _metadata(pipeline, artifact, image_shape, class_names, separation_radius, signatures, extra=None):
    return {"pipeline": pipeline, "artifact": artifact, "image_shape": list(image_shape),
            "class_names": list(class_names),
            "separation_radius": None if separation_radius is None else float(separation_radius),
            "tf_featuretest_version": __version__, "signatures": list(signatures), **(extra or {})}


def _export(pipeline, artifact, root, endpoints, image_shape, class_names, separation_radius, extra=None,
            tracked=(), variables=()):
    """Build an ExportArchive from ``endpoints`` = [(name, fn, input_signature)] and write it."""
    import keras

    archive = keras.export.ExportArchive()
    for resource in tracked:
        archive.track(resource)
    for name, fn, signature in endpoints:
        archive.add_endpoint(name, fn, input_signature=signature)
    for name, vars_ in variables:
        archive.add_variable_collection(name, list(vars_))
    used = archive._get_variables_used_by_endpoints()  # what write_out saves
    var_bytes = sum(int(np.prod(v.shape)) * v.dtype.size for group in used for v in group)
    names = [n for n, _, _ in endpoints]
    if "serving_default" not in names:
        names.append("serving_default")
    meta = _metadata(pipeline, artifact, image_shape, class_names, separation_radius, names, extra)
    return _write(archive, root, pipeline, artifact, meta, class_names, var_bytes)


def export_classifier(model, root="saved_models", pipeline="digits", *, class_names=None, separation_radius=None,
                      top_k=5, feature_layer=None) -> ExportResult:
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
    import tensorflow as tf

    from .models.classifiers import as_logits_model

    logits_model = as_logits_model(model)
    num_classes = int(logits_model.output_shape[-1])
    class_names = [str(i) for i in range(num_classes)] if class_names is None else list(class_names)
    if len(class_names) != num_classes:
        raise ConfigError(f"got {len(class_names)} class names for a model with {num_classes} outputs")
    if not isinstance(top_k, (int, np.integer)) or top_k < 1:
        raise ConfigError(f"top_k must be a positive integer, got {top_k!r}")
    names, shape = _check_names(pipeline, class_names, _sig.model_image_shape(logits_model))
    endpoints = _sig.classifier_endpoints(logits_model, names, shape, top_k=int(top_k), feature_layer=feature_layer)
    variables = []
    if separation_radius is not None:
        variables.append(("separation_radius", [tf.Variable(float(separation_radius), trainable=False,
                                                            name="separation_radius")]))
    return _export(pipeline, "classifier", root, endpoints, shape, names, separation_radius,
                   extra={"top_k": min(int(top_k), num_classes)}, variables=variables)


def export_attacks(model, root="saved_models", pipeline="digits", *, class_names=None, centroids=None,
                   feature_layer=None, feature_space_steps=60, separation_radius=None) -> ExportResult:
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

    Example:
        >>> export_attacks(model, "saved_models", "digits", centroids=class_centroids(model, x, y))  # doctest: +SKIP
    """
    from .models.classifiers import as_logits_model

    logits_model = as_logits_model(model)
    num_classes = int(logits_model.output_shape[-1])
    class_names = [str(i) for i in range(num_classes)] if class_names is None else list(class_names)
    if len(class_names) != num_classes:
        raise ConfigError(f"got {len(class_names)} class names for a model with {num_classes} outputs")
    names, shape = _check_names(pipeline, class_names, _sig.model_image_shape(logits_model))
    endpoints, variables = _sig.attack_endpoints(logits_model, shape, centroids=centroids,
                                                 feature_layer=feature_layer, steps=int(feature_space_steps))
    return _export(pipeline, "attacks", root, endpoints, shape, names, separation_radius, variables=variables)


def export_vae(vae, root="saved_models", pipeline="digits", *, train_images, train_labels, class_names,
               elbo_threshold=None, separation_radius=None, batch_size=256) -> ExportResult:
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
    names, shape = _check_names(pipeline, class_names, tuple(int(v) for v in vae.encoder.input_shape[1:]))
    endpoints, variables, threshold = _sig.vae_endpoints(vae, shape, train_images, train_labels,
                                                         elbo_threshold=elbo_threshold, batch_size=batch_size)
    return _export(pipeline, "vae", root, endpoints, shape, names, separation_radius,
                   extra={"latent_dim": int(vae.decoder.input_shape[-1]), "elbo_threshold": threshold},
                   variables=variables)


def export_generator(gan, root="saved_models", pipeline="digits", *, class_names, separation_radius=None
                     ) -> ExportResult:
    """Export a conditional DCGAN's generator as ``generate(labels, seed) -> images``.

    The signature calls ``gan.generate(labels, seed=seed)``, whose noise is
    ``tf.random.stateless_normal([N, latent_dim], seed=[seed, 0])``: equal ``(labels, seed)`` give
    equal images in the export and in process.

    Example:
        >>> export_generator(gan, "saved_models", "digits", class_names=names)  # doctest: +SKIP
    """
    shape = tuple(int(v) for v in gan.generator.output_shape[1:])
    names, shape = _check_names(pipeline, class_names, shape)
    endpoints = _sig.generator_endpoints(gan)
    return _export(pipeline, "generator", root, endpoints, shape, names, separation_radius,
                   extra={"latent_dim": int(_sig.gan_latent_dim(gan))})
