"""Resumable training: the state of a ``fit`` kept after every epoch, safe against kills and full disks.

Each epoch's state is one folder ``<backup>/epoch-<n>/`` written through
:func:`~tf_featuretest._util.io.atomic_dir`: a kill leaves either the whole folder or only a
temporary that :func:`~tf_featuretest._util.io.clean_leftovers` removes. It holds

- ``weights.npz``: the model's weights, the optimizer's variables and early stopping's best
  weights (NumPy arrays, read back with ``allow_pickle=False``), serialised in memory first so
  that a full disk is an ordinary ``OSError`` (HDF5 crashes the process on one);
- ``state.json``: the epoch, the history so far, early stopping's counters, the training
  settings, the shapes of every array and the SHA-256 of ``weights.npz``.

The newest two states are kept. On restart the newest state that checks out (hash, shapes,
settings) is restored; a damaged one is moved aside to ``damaged-...`` with a warning and the
next older one is tried, then a fresh start: a backup never makes training fail for good.
"""
from __future__ import annotations

import datetime
import hashlib
import io
import os
import re
import shutil
import warnings

import keras
import numpy as np

from .._util.io import WriteError, atomic_dir, atomic_write, clean_leftovers, read_json, write_json
from ..errors import first_line

FORMAT = 1
_EPOCH_DIR = re.compile(r"^epoch-(\d+)$")
KEEP = 2


class ResumedEarlyStopping(keras.callbacks.EarlyStopping):
    """:class:`keras.callbacks.EarlyStopping` that can pick up counters and best weights from a backup."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.resume_state = None

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        state, self.resume_state = self.resume_state, None
        if state:
            self.wait, self.best, self.best_epoch = state["wait"], state["best"], state["best_epoch"]
            self.stopped_epoch = state.get("stopped_epoch", 0)
            self.best_weights = state.get("best_weights")

    def state(self) -> dict:
        best = self.best
        return {"wait": int(self.wait), "best": None if best is None else float(best), "best_epoch": int(self.best_epoch),
                "stopped_epoch": int(self.stopped_epoch)}


def _arrays(model) -> list:
    """The arrays a backup keeps, in a fixed order: model weights, then optimizer variables."""
    out = [np.asarray(v) for v in model.get_weights()]
    opt = getattr(model, "optimizer", None)
    if opt is not None and opt.built:
        out += [np.asarray(keras.ops.convert_to_numpy(v)) for v in opt.variables]
    return out


def _signature(arrays) -> list:
    return [[list(a.shape), str(a.dtype)] for a in arrays]


def save_state(folder, model, *, epoch: int, history: dict, settings: dict, stopper=None) -> str:
    """Write the state after ``epoch`` epochs as ``folder/epoch-<epoch>/``; returns that folder.

    Raises:
        WriteError: the disk is full or read-only (nothing half-written is left).
    """
    arrays = _arrays(model)
    best = list(stopper.best_weights) if stopper is not None and stopper.best_weights is not None else []
    buf = io.BytesIO()
    np.savez(buf, **{f"v{i}": a for i, a in enumerate(arrays)}, **{f"b{i}": np.asarray(a) for i, a in enumerate(best)})
    data = buf.getvalue()
    meta = {"format": FORMAT, "epoch": int(epoch), "history": history, "settings": settings,
            "arrays": _signature(arrays), "best_arrays": len(best),
            "early_stopping": stopper.state() if stopper is not None else None,
            "sha256": hashlib.sha256(data).hexdigest()}
    final = os.path.join(os.fspath(folder), f"epoch-{int(epoch):05d}")
    try:
        with atomic_dir(final) as tmp:
            atomic_write(os.path.join(tmp, "weights.npz"), data)
            write_json(os.path.join(tmp, "state.json"), meta)
    except WriteError as exc:
        reason = str(exc).rsplit(": ", 1)[-1]
        raise WriteError(f"cannot write the training backup of epoch {epoch} ({len(data)} bytes) in {folder}: "
                         f"{reason}") from None
    for old in states(folder)[KEEP:]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def states(folder) -> list:
    """The complete epoch folders under ``folder``, newest first."""
    if not os.path.isdir(folder):
        return []
    found = [(int(m.group(1)), os.path.join(folder, n)) for n in os.listdir(folder) if (m := _EPOCH_DIR.match(n))]
    return [p for _, p in sorted(found, reverse=True)]


def _check(path, model, settings) -> tuple:
    """``(meta, model arrays, best arrays)`` of a state folder; ValueError/OSError when it does not check out."""
    meta = read_json(os.path.join(path, "state.json"), what="training state")
    if meta.get("format") != FORMAT:
        raise ValueError(f"format {meta.get('format')!r}, expected {FORMAT}")
    if meta.get("settings") != settings:
        raise ValueError(f"made with other training settings ({meta.get('settings')} instead of {settings})")
    with open(os.path.join(path, "weights.npz"), "rb") as fh:
        data = fh.read()
    if hashlib.sha256(data).hexdigest() != meta.get("sha256"):
        raise ValueError("weights.npz does not match its recorded SHA-256 (truncated or changed)")
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        arrays = [npz[f"v{i}"] for i in range(len(meta["arrays"]))]
        best = [npz[f"b{i}"] for i in range(int(meta.get("best_arrays", 0)))]
    opt = getattr(model, "optimizer", None)
    if opt is not None and not opt.built:  # its variables must exist to compare and restore them
        opt.build(model.trainable_variables)
    if _signature(arrays) != _signature(_arrays(model)):
        raise ValueError("its arrays do not fit this model (another architecture or optimizer)")
    return meta, arrays, best


def _apply(model, arrays) -> None:
    n = len(model.get_weights())
    model.set_weights(arrays[:n])
    opt = getattr(model, "optimizer", None)
    if opt is not None:
        for var, value in zip(opt.variables, arrays[n:]):
            var.assign(value)


def move_aside(path, reason: str) -> str:
    """Rename a damaged state folder to ``damaged-<name>-<time>`` beside it, with a warning; returns the new path."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    target = os.path.join(os.path.dirname(path), f"damaged-{os.path.basename(path)}-{stamp}")
    try:
        os.rename(path, target)
    except OSError:
        shutil.rmtree(path, ignore_errors=True)
        target = "(removed)"
    warnings.warn(f"ignoring the damaged training backup {path} ({reason}); moved to {target}", stacklevel=3)
    return target


def restore_state(folder, model, settings: dict, stopper=None) -> dict | None:
    """Restore the newest good state under ``folder`` into ``model`` (and ``stopper``); None to start afresh.

    Returns the state's metadata (``epoch``, ``history``...). Damaged or unfitting states are moved
    aside with a warning; the model's weights are left as they were when none fits.
    """
    clean_leftovers(folder)
    for path in states(folder):
        try:
            meta, arrays, best = _check(path, model, settings)
        except Exception as exc:  # any reader error (zip, JSON, shapes) means this state cannot be used
            move_aside(path, f"{type(exc).__name__}: {first_line(exc)}")
            continue
        _apply(model, arrays)
        if stopper is not None and meta.get("early_stopping"):
            stopper.resume_state = {**meta["early_stopping"], "best_weights": best or None}
        meta["history"] = {k: [float("nan") if v is None else float(v) for v in vals]
                           for k, vals in meta.get("history", {}).items()}
        return meta
    return None


def finish(folder) -> None:
    """Remove the kept states once training has ended (damaged copies stay for inspection)."""
    for path in states(folder):
        shutil.rmtree(path, ignore_errors=True)
    clean_leftovers(folder, own=True)
    try:
        os.rmdir(folder)  # only when empty: damaged copies stay
    except OSError:
        pass


class EpochBackup(keras.callbacks.Callback):
    """Keeps the training state (:func:`save_state`) at the end of every epoch.

    Args:
        folder: the backup folder.
        settings: what must be equal for a state to be resumed (epochs, learning rate...).
        stopper: the run's :class:`ResumedEarlyStopping`, whose state is kept too.
        history: the history of epochs before this ``fit`` (when resuming).
    """

    def __init__(self, folder, settings: dict, stopper=None, history=None):
        super().__init__()
        self.folder, self.settings, self.stopper = os.fspath(folder), settings, stopper
        self.history = {k: list(v) for k, v in (history or {}).items()}

    def on_epoch_end(self, epoch, logs=None):
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(float(v))
        save_state(self.folder, self.model, epoch=epoch + 1, history=self.history, settings=self.settings,
                   stopper=self.stopper)
