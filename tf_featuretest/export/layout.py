"""The TF Serving layout: versioned folders per artifact, written atomically and read back with metadata.

Layout (what ``tensorflow/serving`` expects, one model per artifact)::

    <root>/<pipeline>/<artifact>/<version>/        artifact in classifier | attacks | vae | generator
        saved_model.pb, variables/, assets/metadata.json, assets/class_names.txt

Versions are integers 1, 2, ...; a new export takes the next free number and never overwrites one.
Each export is written into a hidden temporary folder beside the versions (TF Serving ignores
non-numeric names) and renamed into place only when complete, so a failure leaves nothing behind.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from .._util.io import TMP_MARK, atomic_write, dumps_json
from ..errors import ConfigError, ModelError

ARTIFACTS = ("classifier", "attacks", "vae", "generator")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


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


def artifact_dir(root, artifact, pipeline=None):
    if artifact not in ARTIFACTS:
        raise ConfigError(f"artifact must be one of {', '.join(ARTIFACTS)}, got {artifact!r}")
    return os.path.join(str(root), pipeline, artifact) if pipeline else os.path.join(str(root), artifact)


def versions(root, artifact, *, pipeline=None) -> list:
    """Sorted integer versions present under ``root/[pipeline/]artifact`` (empty if none)."""
    folder = artifact_dir(root, artifact, pipeline)
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
    found = versions(root, artifact, pipeline=pipeline)
    folder = artifact_dir(root, artifact, pipeline)
    if not found:
        raise ModelError(f"no exported {artifact} versions under {folder}")
    if version is None:
        version = found[-1]
    if not isinstance(version, (int, np.integer)) or int(version) not in found:
        raise ModelError(f"{artifact} version {version!r} not found under {folder}; have {found}")
    path = os.path.join(folder, str(int(version)))
    return tf.saved_model.load(path), read_metadata(path)


# ----------------------------------------------------------------------------- writing


def check_names(pipeline, class_names, image_shape):
    """Checked ``(class names, [H, W, C])``; the pipeline name must be a safe folder name."""
    if not isinstance(pipeline, str) or not NAME.match(pipeline):
        raise ConfigError(f"pipeline name must be letters, digits, '_', '-' or '.', got {pipeline!r}")
    names = [str(n) for n in class_names]
    bad = [n for n in names if not n or "\n" in n or "\r" in n]
    if bad:
        raise ConfigError(f"class names must be non-empty single lines, got {bad[0]!r}")
    shape = tuple(image_shape)
    if len(shape) != 3 or any(not isinstance(v, (int, np.integer)) or v < 1 for v in shape):
        raise ConfigError(f"image_shape must be (height, width, channels) of known sizes, got {shape}")
    return names, [int(v) for v in shape]


def folder_bytes(path) -> int:
    """Bytes of all files under ``path``."""
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def saved_variable_bytes(version_dir) -> int:
    """Bytes of the variable values a SavedModel stores (from its checkpoint index, not the files)."""
    reader = tf.train.load_checkpoint(os.path.join(str(version_dir), "variables", "variables"))
    shapes, dtypes = reader.get_variable_to_shape_map(), reader.get_variable_to_dtype_map()
    total = 0
    for key, shape in shapes.items():
        dtype = dtypes[key]
        if key.startswith("_CHECKPOINTABLE_OBJECT_GRAPH") or dtype == tf.string:
            continue
        total += int(np.prod(shape)) * dtype.size
    return total


def write_version(write, root, pipeline, artifact, metadata, class_names) -> ExportResult:
    """Write the next version of ``artifact`` atomically; ``write(folder)`` fills a temporary folder.

    The folder is renamed to the next free version number only once it is complete (with its
    ``assets/metadata.json`` and ``class_names.txt``); a rename onto a version that appeared in the
    meantime fails and takes the next number, so nothing is ever overwritten.
    """
    folder = artifact_dir(root, pipeline=pipeline, artifact=artifact)
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".version{TMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        write(tmp)
        write_assets(tmp, metadata, class_names)
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
                        signatures=tuple(metadata["signatures"]), size_bytes=folder_bytes(target),
                        variable_bytes=saved_variable_bytes(target))


def write_assets(path, metadata, class_names) -> None:
    """``assets/class_names.txt`` and ``assets/metadata.json`` of a version folder."""
    assets = os.path.join(path, "assets")
    os.makedirs(assets, exist_ok=True)
    atomic_write(os.path.join(assets, "class_names.txt"), "".join(f"{n}\n" for n in class_names))
    atomic_write(os.path.join(assets, "metadata.json"), dumps_json(metadata))
