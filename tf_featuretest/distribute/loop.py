"""One custom training loop for every ``tf.distribute`` strategy: default, mirrored, multiworker, TPU.

Keras 3's ``model.fit`` does not run under ``MultiWorkerMirroredStrategy`` (keras#20585) and its
``BackupAndRestore`` cannot share a folder between workers, so distributed training runs this loop:
the model and optimizer are built in ``strategy.scope()``, the data come from
``distribute_datasets_from_function`` (:mod:`.stream`), each step is ``strategy.run`` of
:func:`.steps.train_replica` and the metric sums are reduced over the replicas. The history has the
keys and meaning ``fit`` gives them (``loss``, ``accuracy``, ``top5_accuracy`` and their ``val_``
twins: means over the epoch's images), early stopping watches ``val_loss`` (``loss`` without
validation data) and restores the best weights, and :mod:`.state` checkpoints make a killed run
resume bit-identically.

Example:
    >>> strategy = make_strategy("multiworker")  # first thing in the program  # doctest: +SKIP
    >>> result = fit_distributed(lambda: build_classifier("small_cnn", 10, (32, 32, 1)), (x, y), (xv, yv),
    ...                          strategy=strategy, epochs=5, work_dir="runs/cnn-work")  # doctest: +SKIP
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from .._util import checks
from ..errors import ConfigError
from ..models.introspection import as_logits_model
from ..models.saving import save_model_atomic
from ..models.training import TrainResult
from .state import TrainState
from .steps import Adversarial, eval_replica, train_replica
from .strategy import worker_info
from .stream import GlobalBatches


def _build(strategy, model, learning_rate):
    with strategy.scope():
        if not isinstance(model, keras.Model):
            model = model()
        if not all(strategy.extended.variable_created_in_scope(getattr(v, "value", v)) for v in model.weights):
            raise ConfigError("build the model inside strategy.scope(), or pass a function that builds it")
        optimizer = keras.optimizers.Adam(learning_rate)
        optimizer.build(model.trainable_variables)  # variables first: a step must not create any
    return model, optimizer


def _metrics(s, prefix, k) -> dict:
    n = max(float(s[3]), 1.0)
    return {f"{prefix}loss": float(s[0]) / n, f"{prefix}accuracy": float(s[1]) / n,
            f"{prefix}top{k}_accuracy": float(s[2]) / n}


def fit_distributed(model, train, validation=None, *, strategy, epochs=10, learning_rate=1e-3, patience=3,
                    global_batch_size=64, seed=0, adversarial=None, augment=None, work_dir=None, save_path=None,
                    checkpoint_every=None, verbose=0):
    """Train a logits classifier with ``strategy``: every worker calls this with the same arguments.

    Args:
        model: a Keras classifier built in ``strategy.scope()``, or a function building one (called in it).
        train, validation: ``(x, y)`` arrays (``x`` float32 NHWC in [0, 1]); every worker holds them.
        strategy: from :func:`~tf_featuretest.distribute.make_strategy`.
        epochs: maximum epochs.
        learning_rate: Adam learning rate.
        patience: early-stopping patience on ``val_loss`` (``loss`` without validation data).
        global_batch_size: images per step over all replicas (a replica gets its share of each).
        seed: seed of the epoch orders, the augmentation and PGD's random starts.
        adversarial: an :class:`~.steps.Adversarial` (or None) mixing FGSM/PGD images into each batch.
        augment: None, or ``fn(epoch) -> callable(x) -> x'`` (see :class:`~.stream.GlobalBatches`).
        work_dir: checkpoint folder: a run killed there resumes from its last checkpoint, exactly.
        save_path: the chief saves the trained model here as ``.keras``.
        checkpoint_every: also checkpoint every this many steps (default: at the end of each epoch only).
        verbose: 1 prints one line per epoch on the chief.

    Returns:
        ``(model, result)``: the trained model (best weights restored) and a
        :class:`~tf_featuretest.models.training.TrainResult` whose ``extra`` says the strategy,
        replicas, workers and the step training resumed from (None: a fresh start).
    """
    epochs = checks.positive_int(epochs, "epochs")
    patience = checks.non_negative_int(patience, "patience")
    if checkpoint_every is not None:
        checkpoint_every = checks.positive_int(checkpoint_every, "checkpoint_every")
    if adversarial is not None and not isinstance(adversarial, Adversarial):
        raise ConfigError(f"adversarial must be an Adversarial or None, got {adversarial!r}")
    worker = worker_info(strategy)
    model, optimizer = _build(strategy, model, learning_rate)
    logits_model = as_logits_model(model)
    k = min(5, int(logits_model.output_shape[-1]))
    replicas = strategy.num_replicas_in_sync
    stream = GlobalBatches(*train, global_batch_size, seed=seed, augment=augment)
    val = None if validation is None else GlobalBatches(*validation, global_batch_size, shuffle=False)
    state = TrainState(model, optimizer, work_dir=work_dir, is_chief=worker.is_chief, index=worker.index)
    resumed = state.restore()

    @tf.function
    def train_step(iterator, step):
        seed_pair = tf.stack([tf.constant(seed, tf.int64), step])
        out = strategy.run(lambda el: train_replica(logits_model, optimizer, adversarial, k, el, seed_pair),
                           args=(next(iterator),))
        return strategy.reduce("SUM", out, axis=None)

    @tf.function
    def eval_step(iterator):
        return strategy.reduce("SUM", strategy.run(lambda el: eval_replica(logits_model, k, el),
                                                   args=(next(iterator),)), axis=None)

    def evaluate():
        it, total = iter(strategy.distribute_datasets_from_function(val.dataset_fn(0, 0, replicas))), 0.0
        for _ in range(val.num_batches):
            total = total + eval_step(it).numpy()
        return total

    history = state.get_history()
    monitor = "val_loss" if val is not None else "loss"
    stopped = False
    try:
        while int(state.epoch.numpy()) < epochs and not stopped:
            epoch, start = int(state.epoch.numpy()), int(state.batch.numpy())
            it = iter(strategy.distribute_datasets_from_function(stream.dataset_fn(epoch, start, replicas)))
            for _ in range(start, stream.num_batches):
                state.sums.assign_add(train_step(it, state.step.read_value()))
                state.step.assign_add(1)
                state.batch.assign_add(1)
                if checkpoint_every and int(state.step.numpy()) % checkpoint_every == 0:
                    state.save()
            logs = _metrics(state.sums.numpy(), "", k)
            if val is not None:
                logs.update(_metrics(evaluate(), "val_", k))
            for key, value in logs.items():
                history.setdefault(key, []).append(value)
            if logs[monitor] < float(state.best.numpy()):
                state.best.assign(logs[monitor])
                state.wait.assign(0)
                state.keep_best_weights()
            else:
                state.wait.assign_add(1)
                stopped = int(state.wait.numpy()) > patience - 1 and epoch > 0
            if verbose and worker.is_chief:
                print(f"epoch {epoch + 1}/{epochs}: " + "  ".join(f"{k_} {v:.4f}" for k_, v in logs.items()), flush=True)
            state.sums.assign(tf.zeros([4], tf.float64))
            state.batch.assign(0)
            state.epoch.assign(epochs if stopped else epoch + 1)
            state.set_history(history)
            state.save()
        state.restore_best_weights()
    finally:
        state.close()
    if save_path and worker.is_chief:
        save_model_atomic(model, save_path)
    vals = history.get(monitor, [])
    best = int(np.argmin(vals)) + 1 if vals else 0
    extra = {"strategy": type(strategy).__name__, "replicas": replicas, "workers": worker.count,
             "global_batch_size": global_batch_size, "resumed_from_step": resumed}
    return model, TrainResult(history=history, epochs_run=len(vals), best_epoch=best,
                              model_path=save_path if worker.is_chief else None, extra=extra)
