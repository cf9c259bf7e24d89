"""Versioned SavedModels that TensorFlow Serving loads: the layout, the signatures, one call for all artifacts.

Example:
    >>> from tf_featuretest.export import export_classifier, load_artifact
    >>> export_classifier(model, "saved_models", "digits", class_names=names)  # doctest: +SKIP
    >>> loaded, meta = load_artifact("saved_models/digits", "classifier")  # doctest: +SKIP
"""
from .artifacts import export_attacks, export_classifier, export_generator, export_vae
from .bundle import export_all
from .layout import ARTIFACTS, ExportResult, latest_version, load_artifact, read_metadata, versions

__all__ = ["ARTIFACTS", "ExportResult", "export_all", "export_attacks", "export_classifier", "export_generator",
           "export_vae", "latest_version", "load_artifact", "read_metadata", "versions"]
