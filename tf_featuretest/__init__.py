"""tf-featuretest: test image classifiers at the pixel level and the feature level.

The public API is re-exported here lazily: ``import tf_featuretest`` stays cheap (TensorFlow is
imported only when a name that needs it is first used). See ``shared/DESIGN.md`` for the map.

Example:
    >>> import tf_featuretest as ft
    >>> ds, info = ft.load("digits", "train")  # doctest: +SKIP
"""
from __future__ import annotations

import importlib

from .errors import ConfigError, DataError, FeatureTestError, ModelError

__version__ = "0.1.0"

#: public name -> the module that defines it
_EXPORTS = {
    # data
    "load": "data", "load_arrays": "data", "DatasetInfo": "data", "AugmentConfig": "data",
    # models
    "build_classifier": "models", "compile_classifier": "models", "train_classifier": "models",
    "load_classifier": "models", "save_model_atomic": "models", "as_logits_model": "models", "VAE": "models",
    "ConditionalDCGAN": "models", "train_vae": "models", "train_dcgan": "models",
    # attacks and noise
    "fgsm": "attacks", "pgd": "attacks", "one_pixel": "attacks", "one_pixel_attack": "attacks",
    "fooling_images": "attacks", "feature_space": "attacks", "class_centroids": "attacks",
    "AdversarialModel": "attacks", "train_adversarial": "attacks", "get_attack": "attacks",
    "NOISES": "noise", "get_noise": "noise", "noise_transform": "noise",
    # evaluation and metrics
    "sweep": "evaluation", "failure_threshold": "evaluation", "noise_robustness": "evaluation",
    "compare_with_pgd": "evaluation", "evaluate_classifier": "metrics", "classification_report": "metrics",
    "fid": "metrics", "kid": "metrics", "inception_score": "metrics", "generative_report": "metrics",
    # feature level, explanations, export
    "r_separation": "testgen", "latent_tests": "testgen", "gan_tests": "testgen", "saliency_maps": "explain",
    "export_all": "export", "export_classifier": "export", "load_artifact": "export",
    # pipelines
    "load_config": "config", "parse_config": "config", "PipelineConfig": "config",
    "run_pipeline": "pipeline", "generate_tests": "pipeline",
    # callbacks
    "RobustAccuracy": "callbacks", "NoiseThreshold": "callbacks", "GeneratedTestAccuracy": "callbacks",
    "SampleGrid": "callbacks",
}

__all__ = ["ConfigError", "DataError", "FeatureTestError", "ModelError", "__version__", *sorted(_EXPORTS)]


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tf_featuretest' has no attribute {name!r}")


def __dir__():
    return __all__
