"""Export every artifact of a pipeline in one call (what ``featuretest export`` runs).

Example:
    >>> results = export_all(model, "saved_models", "digits", data="digits", vae=vae, gan=gan)  # doctest: +SKIP
    >>> [r.artifact for r in results]
    ['classifier', 'attacks', 'vae', 'generator']
"""
from __future__ import annotations

import importlib.util
import os

import keras

from . import export
from .errors import ConfigError, ModelError


def load_generative(path: str, kind: str):
    """Load a saved VAE or ConditionalDCGAN (``.keras``) with a one-line error for a missing or bad file."""
    from .models import dcgan, vae  # noqa: F401  (registers the classes for deserialisation)

    if not os.path.isfile(path):
        raise ModelError(f"{kind} file not found: {path}")
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as exc:  # Keras raises many kinds for bad files
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelError(f"cannot load {kind} {path}: {first}") from None
    need = "encode" if kind == "vae" else "generate"
    if not hasattr(model, need):
        raise ModelError(f"{path} is a {type(model).__name__}, not a {kind} (it has no .{need})")
    return model


def _separation_radius(x, y):
    """The data's r-separation radius (pixel space, L-inf) when testgen.separation is available, else None."""
    if importlib.util.find_spec("tf_featuretest.testgen.separation") is None:
        return None
    from .testgen.separation import r_separation

    res = r_separation(x, y)
    return float(res.r)


def export_all(model, root="saved_models", pipeline="digits", *, data=None, class_names=None, vae=None, gan=None,
               max_centroid_examples=2000, progress=None) -> list:
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
        progress: optional ``callable(message)``.

    Returns:
        The :class:`~tf_featuretest.export.ExportResult` of each artifact written.
    """
    say = progress or (lambda message: None)
    x = y = None
    radius = None
    if data is not None:
        from .data import load_arrays
        from .export_signatures import model_image_shape

        shape = model_image_shape(model)
        x, y, info = load_arrays(data, "train", image_size=shape[:2], channels=shape[2])
        x, y = x[:max_centroid_examples], y[:max_centroid_examples]
        class_names = class_names or list(info.class_names)
        radius = _separation_radius(x, y)
    elif vae is not None:
        raise ConfigError("exporting a VAE needs --data (its training images give the reference latents)")
    results = []
    say("exporting classifier ...")
    results.append(export.export_classifier(model, root, pipeline, class_names=class_names, separation_radius=radius))
    centroids = None
    if x is not None:
        from .attacks.feature_space import class_centroids

        centroids = class_centroids(model, x, y, k=1, seed=0)
    say("exporting attacks ...")
    results.append(export.export_attacks(model, root, pipeline, class_names=class_names, centroids=centroids,
                                         separation_radius=radius))
    names = export.read_metadata(results[0].path)["class_names"]  # the defaults when none were given
    if vae is not None:
        say("exporting vae ...")
        results.append(export.export_vae(vae, root, pipeline, train_images=x, train_labels=y, class_names=names,
                                         separation_radius=radius))
    if gan is not None:
        say("exporting generator ...")
        results.append(export.export_generator(gan, root, pipeline, class_names=names, separation_radius=radius))
    return results
