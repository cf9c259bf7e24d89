"""Export every artifact of a pipeline in one call (what ``featuretest export`` runs).

Example:
    >>> results = export_all(model, "saved_models", "digits", data="digits", vae=vae, gan=gan)  # doctest: +SKIP
    >>> [r.artifact for r in results]
    ['classifier', 'attacks', 'vae', 'generator']
"""
from __future__ import annotations

from ..attacks.feature_space import class_centroids
from ..data import load_arrays
from ..data.subset import subset
from ..errors import ConfigError
from ..testgen.separation import r_separation
from .artifacts import export_attacks, export_classifier, export_generator, export_vae
from .layout import read_metadata
from .signatures import model_image_shape


def export_all(model, root="saved_models", pipeline="digits", *, data=None, class_names=None, vae=None, gan=None,
               max_centroid_examples=2000, seed=0, progress=None) -> list:
    """Export the classifier, its attacks and (when given) the VAE and the DCGAN generator.

    Args:
        model: the classifier (any Keras model on [0, 1] images; a softmax output is handled).
        root, pipeline: versions land in ``root/pipeline/<artifact>/<n>``.
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
    x = y = None
    radius = None
    if data is not None:
        shape = model_image_shape(model)
        x, y, info = load_arrays(data, "train", image_size=shape[:2], channels=shape[2])
        x, y = subset(y, max_centroid_examples, split="train", seed=seed).take(x, y)  # stratified, not the first N
        class_names = class_names or list(info.class_names)
        radius = float(r_separation(x, y).r)
    elif vae is not None:
        raise ConfigError("exporting a VAE needs --data (its training images give the reference latents)")
    results = []
    say("exporting classifier ...")
    results.append(export_classifier(model, root, pipeline, class_names=class_names, separation_radius=radius))
    centroids = None
    if x is not None:
        centroids = class_centroids(model, x, y, k=1, seed=seed)
    say("exporting attacks ...")
    results.append(export_attacks(model, root, pipeline, class_names=class_names, centroids=centroids,
                                         separation_radius=radius))
    names = read_metadata(results[0].path)["class_names"]  # the defaults when none were given
    if vae is not None:
        say("exporting vae ...")
        results.append(export_vae(vae, root, pipeline, train_images=x, train_labels=y, class_names=names,
                                         separation_radius=radius))
    if gan is not None:
        say("exporting generator ...")
        results.append(export_generator(gan, root, pipeline, class_names=names, separation_radius=radius))
    return results
