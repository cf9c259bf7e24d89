"""Adversarial training: fit a classifier on batches where a fraction of the images is replaced by
FGSM or PGD examples crafted against the current weights (Goodfellow et al., 2015; Madry et al., 2018).
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from .._util import checks
from ..errors import ConfigError
from ..models.introspection import as_logits_model
from ..models.training import compile_classifier
from .fgsm import fgsm_tf
from .pgd import pgd_tf


@keras.saving.register_keras_serializable(package="tf_featuretest")
class AdversarialModel(keras.Model):
    """Wrap a logits classifier so that ``fit`` trains on a mix of clean and adversarial images.

    In each training step the first ``round(ratio * batch)`` images of the batch are replaced by
    adversarial versions (FGSM, or PGD with a random start) made against the current weights; the
    loss and metrics are computed on the mixed batch. Inference (``call``, ``predict``, ``evaluate``)
    is the wrapped classifier's.

    Args:
        classifier: a Keras model returning logits for [0, 1] images.
        attack: ``"fgsm"`` or ``"pgd"``.
        eps: L-inf radius of the perturbation.
        ratio: fraction of each batch replaced by adversarial images, in [0, 1].
        steps: PGD iterations (ignored by FGSM).
        step_size: PGD step; default ``2.5 * eps / steps``.
        seed: seed of PGD's random starts.

    Example:
        >>> base = build_classifier("small_cnn", 10, (32, 32, 1))  # doctest: +SKIP
        >>> model = AdversarialModel(base, attack="fgsm", eps=0.1, ratio=0.5)  # doctest: +SKIP
        >>> compile_classifier(model, num_classes=10); model.fit(train_ds, epochs=3)  # doctest: +SKIP
    """

    def __init__(self, classifier, attack="fgsm", eps=0.1, ratio=0.5, steps=7, step_size=None, seed=None,
                 **kwargs):
        super().__init__(**kwargs)
        if attack not in ("fgsm", "pgd"):
            raise ConfigError(f"adversarial training attack must be 'fgsm' or 'pgd', got {attack!r}")
        if not isinstance(eps, (int, float, np.floating)) or not 0 <= float(eps) <= 1:
            raise ConfigError(f"eps must be a number in [0, 1], got {eps!r}")
        if not isinstance(ratio, (int, float, np.floating)) or not 0 <= float(ratio) <= 1:
            raise ConfigError(f"ratio must be a number in [0, 1], got {ratio!r}")
        steps = checks.positive_int(steps, "steps")
        if step_size is not None and (not isinstance(step_size, (int, float)) or step_size <= 0):
            raise ConfigError(f"step_size must be a positive number or None, got {step_size!r}")
        self.classifier = as_logits_model(classifier)
        self.attack = attack
        self.eps = float(eps)
        self.ratio = float(ratio)
        self.steps = int(steps)
        self.step_size = None if step_size is None else float(step_size)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=False):
        return self.classifier(inputs, training=training)

    def adversarial_batch(self, x, y):
        """``x`` with its first ``round(ratio * N)`` images replaced by adversarial ones (pure TF)."""
        x = tf.cast(x, tf.float32)
        y = tf.reshape(tf.cast(y, tf.int64), [-1])
        n = tf.shape(x)[0]
        k = tf.cast(tf.round(self.ratio * tf.cast(n, tf.float32)), tf.int32)
        xa, ya = x[:k], y[:k]
        untargeted = tf.constant(-1, tf.int64)
        if self.attack == "fgsm":
            adv = fgsm_tf(self.classifier, xa, ya, tf.constant(self.eps), untargeted)
        else:
            size = self.step_size if self.step_size is not None else 2.5 * self.eps / self.steps
            seed = tf.cast(keras.random.randint((2,), 0, 2**31 - 1, seed=self.seed_generator, dtype="int32"), tf.int64)
            adv = pgd_tf(self.classifier, xa, ya, tf.constant(self.eps), tf.constant(size), self.steps, untargeted,
                         random_start=True, seed=seed)
        return tf.concat([tf.stop_gradient(adv), x[k:]], axis=0)

    def train_step(self, data):
        x, y = data[0], data[1]
        sample_weight = data[2] if len(data) > 2 else None
        x_mix = self.adversarial_batch(x, y)
        with tf.GradientTape() as tape:
            logits = self.classifier(x_mix, training=True)
            loss = self.compute_loss(x=x_mix, y=y, y_pred=logits, sample_weight=sample_weight)
        variables = self.classifier.trainable_variables
        grads = tape.gradient(loss, variables)
        self.optimizer.apply(grads, variables)
        # compute_metrics reports the metric named "loss" but does not feed it: the step must, weighted by
        # the batch size as Keras's own train_step does, or fit logs 0.0 every epoch.
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss, sample_weight=tf.shape(x_mix)[0])
        return self.compute_metrics(x_mix, y, logits, sample_weight=sample_weight)

    def get_config(self):
        return {**super().get_config(), "classifier": keras.saving.serialize_keras_object(self.classifier),
                "attack": self.attack, "eps": self.eps, "ratio": self.ratio, "steps": self.steps,
                "step_size": self.step_size, "seed": self.seed}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["classifier"] = keras.saving.deserialize_keras_object(config["classifier"])
        return cls(**config)


def train_adversarial(classifier, train_ds, val_ds=None, *, attack="fgsm", eps=0.1, ratio=0.5, steps=7,
                      step_size=None, epochs=5, learning_rate=1e-3, seed=0, callbacks=(), verbose=0):
    """Adversarially train ``classifier`` in place and return it.

    Args:
        classifier: a Keras model returning logits (a final softmax is stripped first).
        train_ds, val_ds: ``tf.data`` datasets of ``(image, label)`` batches.
        attack, eps, ratio, steps, step_size: see :class:`AdversarialModel`.
        epochs: training epochs.
        learning_rate: Adam learning rate.
        seed: seed of PGD's random starts.
        callbacks: Keras callbacks.

    Returns:
        The trained classifier (logits output; its weights are the trained ones).

    Example:
        >>> robust = train_adversarial(build_classifier("small_cnn", 10), train_ds, eps=0.1)  # doctest: +SKIP
    """
    epochs = checks.positive_int(epochs, "epochs")
    wrapper = AdversarialModel(classifier, attack=attack, eps=eps, ratio=ratio, steps=steps, step_size=step_size,
                               seed=seed)
    compile_classifier(wrapper, learning_rate=learning_rate, num_classes=wrapper.classifier.output_shape[-1])
    wrapper.fit(train_ds, validation_data=val_ds, epochs=epochs, callbacks=list(callbacks), verbose=verbose)
    return wrapper.classifier
