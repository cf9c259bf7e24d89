"""The TF Serving layout: versioned folders per artifact, written atomically and read back with metadata.

Layout (what ``tensorflow/serving`` expects, one model per artifact)::

    <root>/<pipeline>/<artifact>/<version>/        artifact in classifier | attacks | vae | generator
        saved_model.pb, variables/, assets/metadata.json, assets/class_names.txt

Versions are integers 1, 2, ...; a new export takes the next free number and never overwrites one.
Each export is written into a hidden temporary folder beside the versions (TF Serving ignores
non-numeric names) and renamed into place only when complete, so a failure leaves nothing behind
(a hard kill leaves a hidden temporary that the next run's leftover cleaning removes). One whole
export (:func:`~tf_featuretest.export.bundle.export_all`, the run's export stage) gives every
artifact the same number. Readers pass over an empty or broken version folder
(:func:`latest_version`, :func:`load_artifact`).
"""
from __future__ import annotations

import errno
import json
import os
import re
import shutil
import uuid
import warnings
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from .._util.io import TMP_MARK, WriteError, atomic_write, describe_os_error, dumps_json, fsync_tree, makedirs
from ..errors import ConfigError, FeatureTestError, ModelError, first_line

ARTIFACTS = ("classifier", "attacks", "vae", "generator", "judge")
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


def is_complete(version_dir) -> bool:
    """Whether a version folder holds a whole export (``saved_model.pb``, ``variables/``, readable metadata)."""
    version_dir = str(version_dir)
    if not (os.path.isfile(os.path.join(version_dir, "saved_model.pb"))
            and os.path.isdir(os.path.join(version_dir, "variables"))):
        return False
    try:
        read_metadata(version_dir)
    except (ModelError, OSError, ValueError):
        return False
    return True


def latest_version(root, artifact, *, pipeline=None):
    """Highest complete version of ``artifact`` under ``root`` (the pipeline folder), or None when there is none.

    An empty or half-copied version folder (:func:`is_complete` is False) is passed over.

    Example:
        >>> latest_version("saved_models/digits", "classifier")  # doctest: +SKIP
        2
    """
    folder = artifact_dir(root, artifact, pipeline)
    found = [v for v in versions(root, artifact, pipeline=pipeline) if is_complete(os.path.join(folder, str(v)))]
    return found[-1] if found else None


def read_metadata(version_dir) -> dict:
    """``assets/metadata.json`` of a version folder."""
    path = os.path.join(str(version_dir), "assets", "metadata.json")
    if not os.path.isfile(path):
        raise ModelError(f"no export metadata at {path}")
    try:
        with open(path, encoding="utf-8") as fh:
            meta = json.load(fh)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"export metadata {path} is unreadable ({exc})") from None
    if not isinstance(meta, dict):
        raise ModelError(f"export metadata {path} is not a JSON object")
    return meta


def load_artifact(root, artifact, version=None, *, pipeline=None):
    """Load one exported artifact with ``tf.saved_model.load``.

    Args:
        root: the pipeline folder (``saved_models/digits``), or the export root with ``pipeline=``.
        artifact: ``classifier``, ``attacks``, ``vae`` or ``generator``.
        version: an integer version; default: the highest one that loads (an empty, half-copied or
            broken version folder is passed over with a warning, so the one before it is used).
        pipeline: optional pipeline name below ``root``.

    Returns:
        ``(loaded, metadata)``: the revived object (signatures in ``loaded.signatures``) and the
        metadata dict; ``metadata["version"]`` is the version loaded.

    Example:
        >>> loaded, meta = load_artifact("saved_models/digits", "classifier")  # doctest: +SKIP
        >>> loaded.signatures["serving_default"](image=x)["top_k_names"]  # doctest: +SKIP
    """
    found = versions(root, artifact, pipeline=pipeline)
    folder = artifact_dir(root, artifact, pipeline)
    if not found:
        raise ModelError(f"no exported {artifact} versions under {folder}")
    if version is not None:
        if not isinstance(version, (int, np.integer)) or int(version) not in found:
            raise ModelError(f"{artifact} version {version!r} not found under {folder}; have {found}")
        return _load_version(os.path.join(folder, str(int(version))), int(version))
    problems = []
    for v in reversed(found):
        path = os.path.join(folder, str(v))
        try:
            loaded = _load_version(path, v)
        except ModelError as exc:
            problems.append(f"{v}: {first_line(exc)}")
            continue
        if problems:
            warnings.warn(f"passed over broken {artifact} versions under {folder} ({'; '.join(problems)}); "
                          f"using version {v}", stacklevel=2)
        return loaded
    raise ModelError(f"no loadable {artifact} version under {folder} ({'; '.join(problems)})")


def _load_version(path, version):
    if not is_complete(path):
        raise ModelError(f"{path} is not a complete export (empty, or missing saved_model.pb, variables/ or "
                         f"assets/metadata.json)")
    meta = read_metadata(path)
    try:
        loaded = tf.saved_model.load(path)
    except Exception as exc:  # TF raises many kinds for a damaged SavedModel
        raise ModelError(f"cannot load {path}: {first_line(exc)}") from None
    return loaded, {**meta, "version": int(version)}


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


def next_shared_version(root, pipeline) -> int:
    """One more than the highest version of any artifact of ``pipeline``: the number one whole export takes."""
    found = [v for a in ARTIFACTS for v in versions(root, a, pipeline=pipeline)]
    return max(found, default=0) + 1


def write_version(write, root, pipeline, artifact, metadata, class_names, *, version=None) -> ExportResult:
    """Write a version of ``artifact`` atomically; ``write(folder)`` fills a temporary folder.

    The folder is synced and renamed into place only once it is complete (with its
    ``assets/metadata.json`` and ``class_names.txt``). Without ``version`` it takes the next free
    number (a rename onto a version that appeared in the meantime fails and takes the next one);
    with ``version`` it takes exactly that number, and an existing one is an error. Nothing is ever
    overwritten, and a failure (a full disk is a ``WriteError``) leaves no version behind.
    """
    folder = artifact_dir(root, pipeline=pipeline, artifact=artifact)
    makedirs(folder)
    tmp = os.path.join(folder, f".version{TMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        write(tmp)
        write_assets(tmp, metadata, class_names)
        fsync_tree(tmp)
        while True:
            number = int(version) if version is not None else max(
                (int(n) for n in os.listdir(folder) if n.isdigit()), default=0) + 1
            target = os.path.join(folder, str(number))
            try:
                os.rename(tmp, target)  # fails on an existing (non-empty) version: never overwrites
                break
            except OSError as exc:
                if not os.path.exists(target) or exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
                if version is not None:
                    raise ConfigError(f"{artifact} version {number} already exists under {folder}") from None
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, FeatureTestError):
            raise
        raise WriteError(describe_os_error(exc, folder)) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ExportResult(path=target, pipeline=pipeline, artifact=artifact, version=number,
                        signatures=tuple(metadata["signatures"]), size_bytes=folder_bytes(target),
                        variable_bytes=saved_variable_bytes(target))


def write_assets(path, metadata, class_names) -> None:
    """``assets/class_names.txt`` and ``assets/metadata.json`` of a version folder."""
    assets = os.path.join(path, "assets")
    os.makedirs(assets, exist_ok=True)
    atomic_write(os.path.join(assets, "class_names.txt"), "".join(f"{n}\n" for n in class_names))
    atomic_write(os.path.join(assets, "metadata.json"), dumps_json(metadata))
