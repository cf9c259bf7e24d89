"""Saving and loading models: atomic ``.keras`` files and loaders with one-line errors.

Example:
    >>> save_model_atomic(model, "runs/cnn.keras")  # doctest: +SKIP
    'runs/cnn.keras'
    >>> load_classifier("runs/cnn.keras")  # doctest: +SKIP
"""
from __future__ import annotations

import os
import zipfile

import keras

from .._util.io import atomic_path
from ..errors import ConfigError, ModelError, first_line
from . import advgan, dcgan, vae  # noqa: F401  (registers the generative models for deserialisation)

MODEL_SUFFIXES = (".keras", ".h5")


def save_model_atomic(model: keras.Model, path: str) -> str:
    """Save as ``.keras`` through a temporary file, fsync and a rename: a failure never leaves half a file."""
    if not str(path).endswith(".keras"):
        raise ConfigError(f"model path must end in .keras, got {path!r}")
    with atomic_path(path, suffix=".keras") as tmp:
        model.save(tmp)
    return str(path)


def check_model_path(path, what: str = "model") -> str:
    """``path`` if it names an existing ``.keras``/``.h5`` file that looks like one; a one-line error otherwise."""
    path = str(path)
    if not os.path.isfile(path):
        raise ModelError(f"{what} file not found: {path}")
    if path.endswith(".keras") and not zipfile.is_zipfile(path):
        raise ModelError(f"{path} is not a Keras model file (a .keras file is a zip archive; this one is "
                         f"{'empty' if os.path.getsize(path) == 0 else 'truncated or of another kind'})")
    return path


def _load(path, what):
    check_model_path(path, what)
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as exc:  # Keras raises many kinds for bad files
        raise ModelError(f"cannot load {what} {path}: {first_line(exc)}") from None


def load_classifier(path: str) -> keras.Model:
    """Load a ``.keras`` (or legacy ``.h5``) classifier, with a clear error for a missing or bad file."""
    return _load(path, "model")


def load_generative(path: str, kind: str):
    """Load a saved VAE (``kind="vae"``), ConditionalDCGAN (``"generator"``) or AdvGAN (``"advgan"``)."""
    model = _load(path, kind)
    need = {"vae": "encode", "advgan": "perturb"}.get(kind, "generate")
    if not hasattr(model, need):
        raise ModelError(f"{path} is a {type(model).__name__}, not a {kind} (it has no .{need})")
    return model
