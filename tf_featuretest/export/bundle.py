"""Export every artifact of a pipeline in one call (what ``featuretest export`` runs).

Example:
    >>> results = export_all(model, "saved_models", "digits", data="digits", vae=vae, gan=gan)  # doctest: +SKIP
    >>> [(r.artifact, r.version) for r in results]
    [('classifier', 3), ('attacks', 3), ('vae', 3), ('generator', 3)]
"""
from __future__ import annotations

import os

from .._util.io import clean_leftovers
from .._util.locks import FolderLock
from ..attacks.feature_space import class_centroids
from ..data import load_arrays
from ..data.subset import subset
from ..errors import ConfigError
from ..models.introspection import num_classes
from ..models.training import check_finite_weights
from ..testgen.separation import r_separation
from .artifacts import export_attacks, export_classifier, export_generator, export_vae
from .layout import ARTIFACTS, check_names, next_shared_version
from .signatures import model_image_shape

#: Temporaries older than this (seconds) are removed before an export even when their pid is alive.
LEFTOVER_AGE_S = 24 * 3600


def export_together(root, pipeline, jobs) -> list:
    """Write several artifacts as one export: every one gets the same version number.

    Args:
        root, pipeline: versions land in ``root/pipeline/<artifact>/<n>``.
        jobs: ``{artifact: callable(version) -> ExportResult}``.

    Holds the export lock of ``root/pipeline`` (one whole export at a time; a second one gets a
    one-line ``LockedError``), takes one number above every artifact's versions and writes the
    classifier last: a kill midway leaves the previous export whole (the service reads the
    classifier's highest version and the attacks of the same number), and the next export takes a
    fresh number again. Returns the results in :data:`~.layout.ARTIFACTS` order.
    """
    unknown = [a for a in jobs if a not in ARTIFACTS]
    if unknown:
        raise ConfigError(f"unknown artifact {unknown[0]!r}; expected one of {', '.join(ARTIFACTS)}")
    check_names(pipeline, ["0"], (1, 1, 1))
    folder = os.path.join(str(root), pipeline)
    with FolderLock(folder, what="an export"):
        clean_leftovers(folder, older_than=LEFTOVER_AGE_S)
        version = next_shared_version(root, pipeline)
        done = {a: jobs[a](version) for a in reversed(ARTIFACTS) if a in jobs}
    return [done[a] for a in ARTIFACTS if a in done]


def export_all(model, root="saved_models", pipeline="digits", *, data=None, class_names=None, vae=None, gan=None,
               max_centroid_examples=2000, seed=0, progress=None) -> list:
    """Export the classifier, its attacks and (when given) the VAE and the DCGAN generator, as one version.

    Args:
        model: the classifier (any Keras model on [0, 1] images; a softmax output is handled).
        root, pipeline: versions land in ``root/pipeline/<artifact>/<n>``, the same ``n`` for every
            artifact (:func:`export_together`).
        data: a source name (e.g. ``"digits"``); its training split gives the class names, the
            class centroids of the ``feature_space`` attack, the VAE's reference latents and the
            separation radius. Without it, the attacks export has no ``feature_space`` and ``vae``
            cannot be exported.
        class_names: override the names (default: from ``data``, else ``"0"``, ``"1"``, ...).
        vae, gan: a trained VAE / ConditionalDCGAN, or None.
        max_centroid_examples: training images used for centroids, latents and the radius.
        seed: the k-means seed of the centroids.
        progress: optional ``callable(message)``.

    Returns:
        The :class:`~tf_featuretest.export.layout.ExportResult` of each artifact written.
    """
    say = progress or (lambda message: None)
    check_finite_weights(model)
    x = y = None
    radius = None
    shape = model_image_shape(model)
    if data is not None:
        x, y, info = load_arrays(data, "train", image_size=shape[:2], channels=shape[2])
        if tuple(info.image_shape) != tuple(shape):
            raise ConfigError(f"the model takes {shape[0]}x{shape[1]} images with {shape[2]} channel(s) but {data} "
                              f"gives {info.image_shape[0]}x{info.image_shape[1]} with {info.image_shape[2]}")
        x, y = subset(y, max_centroid_examples, split="train", seed=seed).take(x, y)  # stratified, not the first N
        class_names = class_names or list(info.class_names)
        radius = float(r_separation(x, y).r)
    elif vae is not None:
        raise ConfigError("exporting a VAE needs --data (its training images give the reference latents)")
    names = list(class_names) if class_names is not None else [str(i) for i in range(num_classes(model))]
    centroids = class_centroids(model, x, y, k=1, seed=seed) if x is not None else None

    def job(artifact, fn):
        def run(version):
            say(f"exporting {artifact} ...")
            return fn(version)
        return run

    jobs = {"classifier": job("classifier", lambda v: export_classifier(
                model, root, pipeline, class_names=names, separation_radius=radius, version=v)),
            "attacks": job("attacks", lambda v: export_attacks(
                model, root, pipeline, class_names=names, centroids=centroids, separation_radius=radius, version=v))}
    if vae is not None:
        jobs["vae"] = job("vae", lambda v: export_vae(vae, root, pipeline, train_images=x, train_labels=y,
                                                      class_names=names, separation_radius=radius, version=v))
    if gan is not None:
        jobs["generator"] = job("generator", lambda v: export_generator(gan, root, pipeline, class_names=names,
                                                                        separation_radius=radius, version=v))
    return export_together(root, pipeline, jobs)
