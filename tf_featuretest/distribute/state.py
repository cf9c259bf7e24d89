"""What a distributed training run checkpoints, so that a killed run resumes exactly where it was.

The checkpoint holds the model's variables (weights and dropout seed states) and the optimizer's,
the position in the data stream (epoch and batch), the global step (PGD's random starts are
seeded by it), the running sums of the current epoch's metrics, the early-stopping state and best
weights, and the history so far (as JSON). The chief writes ``<work_dir>/checkpoints``; every
other worker writes a throwaway folder (saving is a collective act, every worker must take part),
and every worker restores from the chief's folder, which must therefore be on a shared file system
on a real cluster.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile

import numpy as np
import tensorflow as tf

#: Checkpoints kept in the chief's folder.
KEEP = 2


class TrainState:
    """The checkpointed state of one run (see the module docstring); variables live on this process's CPU."""

    def __init__(self, model, optimizer, *, work_dir=None, is_chief=True, index=0):
        with tf.device("/cpu:0"):
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
            self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
            self.batch = tf.Variable(0, dtype=tf.int64, trainable=False, name="batch")
            self.sums = tf.Variable(tf.zeros([4], tf.float64), trainable=False, name="epoch_sums")
            self.best = tf.Variable(np.inf, dtype=tf.float64, trainable=False, name="best")
            self.wait = tf.Variable(0, dtype=tf.int64, trainable=False, name="wait")
            self.history = tf.Variable("{}", dtype=tf.string, trainable=False, name="history")
            self.best_weights = [tf.Variable(v.value if hasattr(v, "value") else v, trainable=False,
                                             name=f"best_{i}") for i, v in enumerate(model.weights)]
        self.model, self.optimizer = model, optimizer
        # model.variables holds more than model.weights: the dropout layers' seed-generator states, which
        # must be restored for a resumed run to draw the masks an uninterrupted one draws
        self.checkpoint = tf.train.Checkpoint(
            model=model, variables=[getattr(v, "value", v) for v in model.variables], optimizer=optimizer,
            step=self.step, epoch=self.epoch, batch=self.batch, sums=self.sums,
            best=self.best, wait=self.wait, history=self.history, best_weights=self.best_weights)
        self.chief_dir = os.path.join(work_dir, "checkpoints") if work_dir else None
        self._throwaway = None
        if self.chief_dir is None:
            self.manager = None
        else:
            target = self.chief_dir
            if not is_chief:
                self._throwaway = tempfile.mkdtemp(prefix=f"featuretest-worker{index}-")
                target = self._throwaway
            self.manager = tf.train.CheckpointManager(self.checkpoint, target, max_to_keep=KEEP)

    def restore(self) -> int | None:
        """Restore the chief's latest checkpoint; the step it was taken at, or None when there is none."""
        if self.chief_dir is None:
            return None
        latest = tf.train.latest_checkpoint(self.chief_dir)
        if latest is None:
            return None
        self.checkpoint.restore(latest).assert_existing_objects_matched()
        return int(self.step.numpy())

    def save(self):
        """Write a checkpoint (every worker calls this together)."""
        if self.manager is not None:
            self.manager.save(checkpoint_number=int(self.step.numpy()))

    def get_history(self) -> dict:
        return json.loads(self.history.numpy().decode())

    def set_history(self, history: dict):
        self.history.assign(json.dumps(history))

    def keep_best_weights(self):
        for dst, src in zip(self.best_weights, self.model.weights):
            dst.assign(src.value if hasattr(src, "value") else src)

    def restore_best_weights(self):
        for dst, src in zip(self.model.weights, self.best_weights):
            dst.assign(src)

    def close(self):
        """Remove a non-chief worker's throwaway checkpoints."""
        if self._throwaway:
            shutil.rmtree(self._throwaway, ignore_errors=True)
            self._throwaway = None
