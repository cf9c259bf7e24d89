"""Training classifiers: compile for integer labels and logits, fit with early stopping and resumable backups."""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

from .._util import checks
from ..errors import ConfigError
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
        work_dir: folder for ``BackupAndRestore``: a run interrupted there resumes from its last epoch.
        save_path: where to save the best model as ``.keras``.
        callbacks: more Keras callbacks.

    Returns:
        A :class:`TrainResult`.
    """
    epochs = checks.positive_int(epochs, "epochs")
    if compile:
        compile_classifier(model, learning_rate=learning_rate)
    monitor = "val_loss" if val_ds is not None else "loss"
    cbs = [keras.callbacks.EarlyStopping(monitor=monitor, patience=patience, restore_best_weights=True)]
    if work_dir:
        os.makedirs(work_dir, exist_ok=True)
        cbs.append(keras.callbacks.BackupAndRestore(os.path.join(work_dir, "backup")))
    cbs += list(callbacks)
    if not model.built:  # subclassed wrappers (e.g. adversarial training) build on a first batch
        for xb, _ in train_ds.take(1):
            model(xb[:1])
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*shuffle=True.*")
        hist = model.fit(train_ds, validation_data=val_ds, epochs=epochs, callbacks=cbs, verbose=verbose)
    history = {k: [float(v) for v in vals] for k, vals in hist.history.items()}
    vals = history.get(monitor, [0.0])
    best = int(np.argmin(vals)) + 1 if vals else 0
    if save_path:
        save_model_atomic(model, save_path)
    return TrainResult(history=history, epochs_run=len(vals), best_epoch=best, model_path=save_path)


