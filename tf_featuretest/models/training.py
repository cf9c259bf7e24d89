"""Training classifiers: compile for integer labels and logits, fit with early stopping and resumable backups."""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

from .._util import checks
from .._util.locks import FolderLock
from ..errors import ConfigError, ModelError
from . import backup
from .saving import save_model_atomic


@dataclass(frozen=True)
class TrainResult:
    """Outcome of :func:`train_classifier`."""

    history: dict  # metric name -> list of per-epoch values
    epochs_run: int
    best_epoch: int
    model_path: str | None = None
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"history": {k: [float(v) for v in vals] for k, vals in self.history.items()},
                "epochs_run": self.epochs_run, "best_epoch": self.best_epoch, "model_path": self.model_path,
                **self.extra}


def check_finite_weights(model, what: str | None = None):
    """``model`` when every weight is finite; a one-line :class:`ModelError` naming how many are NaN or infinite.

    A model whose training diverged (or a damaged file) computes NaN for every input; attacking,
    exporting or evaluating it would report numbers that mean nothing.
    """
    bad = total = 0
    for w in model.get_weights():
        arr = np.asarray(w)
        if arr.dtype.kind == "f":
            total += arr.size
            bad += int(arr.size - np.count_nonzero(np.isfinite(arr)))
    if bad:
        raise ModelError(f"{what or 'model ' + repr(model.name)} has {bad} NaN or infinite weights of {total}; "
                         "it cannot give meaningful results (retrain it, e.g. with a lower learning rate)")
    return model


def get_strategy(name: str | None = "default"):
    """``tf.distribute`` strategy by name: ``"default"`` (one device) or ``"mirrored"`` (all local GPUs)."""
    if name in (None, "default"):
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    raise ConfigError(f"unknown distribution strategy {name!r}; expected 'default' or 'mirrored'")


def compile_classifier(model: keras.Model, *, learning_rate=1e-3, num_classes=None, optimizer=None):
    """Compile for integer labels and logits, with accuracy and top-5 accuracy."""
    k = min(5, num_classes or model.output_shape[-1])
    model.compile(
        optimizer=optimizer or keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
                 keras.metrics.SparseTopKCategoricalAccuracy(k=k, name=f"top{k}_accuracy")],
    )
    return model


def train_classifier(model: keras.Model, train_ds, val_ds=None, *, epochs=10, learning_rate=1e-3, patience=3,
                     work_dir=None, save_path=None, callbacks=(), verbose=1, compile=True) -> TrainResult:
    """Train with early stopping, best-weights checkpointing and resumable backups.

    Args:
        model: a classifier returning logits (already compiled if ``compile=False``).
        train_ds, val_ds: ``tf.data`` datasets of ``(image, label)`` batches.
        epochs: maximum epochs.
        patience: early-stopping patience on ``val_loss`` (``loss`` without validation data).
        work_dir: folder for the per-epoch backups (:mod:`.backup`): a run interrupted there (a
            kill, a full disk) resumes from its last good epoch, with its history and early
            stopping's state; a damaged backup is moved aside with a warning. One training at a
            time may use a folder (a second one gets a ``LockedError``).
        save_path: where to save the best model as ``.keras`` (checked before training starts).
        callbacks: more Keras callbacks.

    Returns:
        A :class:`TrainResult`; ``epochs_run`` counts the epochs of an interrupted run too, and
        ``extra["resumed_from_epoch"]`` says where a resumed run picked up.

    Example:
        >>> result = train_classifier(model, train_ds, val_ds, epochs=5, work_dir="runs/cnn_work")  # doctest: +SKIP
        >>> result.epochs_run
        5
    """
    epochs = checks.positive_int(epochs, "epochs")
    if save_path and not str(save_path).endswith(".keras"):
        raise ConfigError(f"model path must end in .keras, got {save_path!r}")
    if compile:
        compile_classifier(model, learning_rate=learning_rate)
    monitor = "val_loss" if val_ds is not None else "loss"
    stopper = backup.ResumedEarlyStopping(monitor=monitor, patience=patience, restore_best_weights=True)
    if not model.built:  # subclassed wrappers (e.g. adversarial training) build on a first batch
        for xb, _ in train_ds.take(1):
            model(xb[:1])
    lock = None
    history, initial_epoch, extra = {}, 0, {}
    cbs = [stopper]
    if work_dir:
        lock = FolderLock(work_dir, what="a training").acquire()
        folder = os.path.join(work_dir, "backup")
        settings = {"epochs": epochs, "patience": int(patience), "monitor": monitor,
                    "optimizer": type(model.optimizer).__name__ if model.optimizer is not None else None,
                    "learning_rate": _learning_rate(model)}
        state = backup.restore_state(folder, model, settings, stopper)
        if state is not None:
            history, initial_epoch = state["history"], int(state["epoch"])
            extra["resumed_from_epoch"] = initial_epoch
            if (state.get("early_stopping") or {}).get("stopped_epoch"):
                initial_epoch = epochs  # it had stopped early: nothing more to train
        cbs.append(backup.EpochBackup(folder, settings, stopper, history))
    cbs += list(callbacks)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*shuffle=True.*")
            hist = model.fit(train_ds, validation_data=val_ds, epochs=epochs, callbacks=cbs, verbose=verbose,
                             initial_epoch=min(initial_epoch, epochs))
        for k, vals in hist.history.items():
            history = {**history, k: list(history.get(k, [])) + [float(v) for v in vals]}
        vals = history.get(monitor, [])
        best = int(np.nanargmin(vals)) + 1 if vals and not np.all(np.isnan(vals)) else 0
        if save_path:
            save_model_atomic(model, save_path)
        if work_dir:
            backup.finish(folder)
    finally:
        if lock is not None:
            lock.release()
    return TrainResult(history=history, epochs_run=len(vals), best_epoch=best, model_path=save_path, extra=extra)


def _learning_rate(model):
    opt = getattr(model, "optimizer", None)
    lr = getattr(opt, "learning_rate", None)
    try:
        return float(keras.ops.convert_to_numpy(lr))
    except (TypeError, ValueError):
        return None  # a schedule: not a single number
