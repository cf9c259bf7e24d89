"""Keras callbacks for users who train their own models with ``model.fit``.

Each callback evaluates at the end of every ``every``-th epoch and writes its figure into ``logs``,
so ``History``, ``EarlyStopping`` and ``TensorBoard`` see it like any validation metric. On the
epochs it skips it only writes ``NaN`` (nothing is computed), which keeps every
``history.history`` list one value per epoch.

Example:
    >>> cb = RobustAccuracy((x_val, y_val), attack="fgsm", eps=0.1, every=2)  # doctest: +SKIP
    >>> history = model.fit(ds, epochs=4, callbacks=[cb])  # doctest: +SKIP
    >>> history.history["val_robust_accuracy_fgsm_0.1"]  # doctest: +SKIP
    [nan, 0.41, nan, 0.47]
"""
from __future__ import annotations

import math
import os

import keras
import numpy as np
import tensorflow as tf

from ._util import checks
from ._util.io import makedirs
from .attacks.registry import ATTACKS
from .errors import ConfigError
from .evaluation.sweep import as_batches, sweep
from .evaluation.thresholds import curve_crossing
from .models.introspection import compiled_predict
from .noise import NOISES, noise_transform
from .report.style import image_grid_axes, save, show_image
from .testgen.latent import sample_latent_tests_tf
from .testgen.separation import encode_features
from .testgen.validity import elbo_threshold


def _check_every(every):
    return checks.positive_int(every, "every")


def _check_count(value, name):
    return checks.positive_int(value, name)


def _transform(name):
    """``(transform, param)`` for an attack name (``eps``) or a noise name (``severity``)."""
    if name in ATTACKS:
        return ATTACKS[name], "eps"
    if name in NOISES:
        return noise_transform(name), "severity"
    raise ConfigError(f"unknown attack or noise {name!r}; expected one of {', '.join(sorted(ATTACKS) + sorted(NOISES))}")


class _EveryEpoch(keras.callbacks.Callback):
    """Shared: run ``_evaluate`` every ``every`` epochs, NaN for the keys otherwise."""

    def __init__(self, every=1):
        super().__init__()
        self.every = _check_every(every)
        self.evaluations = 0

    def _keys(self):
        return ()

    def _due(self, epoch):
        return (int(epoch) + 1) % self.every == 0

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        if not self._due(epoch):
            for key in self._keys():
                logs[key] = math.nan
            return
        self.evaluations += 1
        logs.update(self._evaluate(epoch))


@keras.saving.register_keras_serializable(package="tf_featuretest")
class RobustAccuracy(_EveryEpoch):
    """Accuracy under an attack or a noise after each epoch, logged as ``val_robust_accuracy_<name>_<eps>``.

    Args:
        dataset: a ``tf.data`` dataset of ``(image, label)`` batches or an ``(x, y)`` array pair.
        attack: an ``attacks.ATTACKS`` name (``"fgsm"``, ``"pgd"``, ...) or a ``noise.NOISES`` name.
        eps: the attack's ``eps``, or the noise's severity.
        every: evaluate every ``every`` epochs (NaN in between).
        max_examples: images evaluated (the first ones of ``dataset``).
        seed: seed of random attacks and noises; the same seed gives the same figures.
        name: the log key (default ``val_robust_accuracy_<attack>_<eps>``).

    Example:
        >>> model.fit(ds, epochs=3, callbacks=[RobustAccuracy((x_val, y_val), "fgsm", eps=0.1)])  # doctest: +SKIP
    """

    def __init__(self, dataset, attack="fgsm", eps=0.1, *, every=1, max_examples=256, seed=0, name=None):
        super().__init__(every)
        self.transform, self.param = _transform(attack)
        if not isinstance(eps, (int, float, np.floating, np.integer)) or isinstance(eps, bool) or eps < 0:
            raise ConfigError(f"eps must be a non-negative number, got {eps!r}")
        self.dataset, self.attack, self.eps = dataset, attack, float(eps)
        self.max_examples = _check_count(max_examples, "max_examples")
        self.seed = int(seed)
        self.key = name or f"val_robust_accuracy_{attack}_{self.eps:g}"

    def _keys(self):
        return (self.key,)

    def _evaluate(self, epoch):
        res = sweep(self.model, self.dataset, self.transform, self.param, [self.eps], name=self.attack,
                    seed=self.seed, max_examples=self.max_examples)
        return {self.key: res.accuracy[0]}

    def get_config(self):
        return {"attack": self.attack, "eps": self.eps, "every": self.every, "max_examples": self.max_examples,
                "seed": self.seed, "name": self.key}


@keras.saving.register_keras_serializable(package="tf_featuretest")
class NoiseThreshold(_EveryEpoch):
    """The noise severity at which accuracy falls below ``level``, per epoch (``val_noise_threshold_<noise>``).

    Sweeps the given severities and interpolates between the two around ``level``; logs ``inf`` when
    accuracy never falls below it. Higher is more robust.

    Args:
        dataset: ``(image, label)`` batches or an ``(x, y)`` pair.
        noise: a ``noise.NOISES`` name.
        severities: increasing severities in [0, 1] (the noise module's scale) to sweep.
        level: the accuracy that counts as failure.
        every, max_examples, seed: as for :class:`RobustAccuracy`.

    Example:
        >>> cb = NoiseThreshold((x_val, y_val), noise="gaussian", severities=(0.2, 0.5, 1.0))  # doctest: +SKIP
    """

    def __init__(self, dataset, noise="gaussian", severities=(0.1, 0.25, 0.5, 0.75, 1.0), *, level=0.5, every=1,
                 max_examples=256, seed=0):
        super().__init__(every)
        if noise not in NOISES:
            raise ConfigError(f"unknown noise {noise!r}; expected one of {', '.join(NOISES)}")
        sev = tuple(float(s) for s in severities)
        if not sev or any(b <= a for a, b in zip(sev, sev[1:])) or sev[0] < 0 or sev[-1] > 1:
            raise ConfigError(f"severities must be increasing values in [0, 1], got {tuple(severities)!r}")
        if not 0.0 < float(level) < 1.0:
            raise ConfigError(f"level must be in (0, 1), got {level!r}")
        self.dataset, self.noise, self.severities, self.level = dataset, noise, sev, float(level)
        self.transform = noise_transform(noise)
        self.max_examples = _check_count(max_examples, "max_examples")
        self.seed = int(seed)
        self.key = f"val_noise_threshold_{noise}"

    def _keys(self):
        return (self.key,)

    def _evaluate(self, epoch):
        res = sweep(self.model, self.dataset, self.transform, "severity", self.severities, name=self.noise,
                    seed=self.seed, max_examples=self.max_examples)
        return {self.key: curve_crossing(self.severities, res.accuracy, self.level)}

    def get_config(self):
        return {"noise": self.noise, "severities": list(self.severities), "level": self.level, "every": self.every,
                "max_examples": self.max_examples, "seed": self.seed}


@keras.saving.register_keras_serializable(package="tf_featuretest")
class GeneratedTestAccuracy(_EveryEpoch):
    """Accuracy on valid latent-space test cases from a trained VAE, per epoch.

    At the first evaluation the VAE encodes ``dataset`` once (the latent means and labels used by
    the validity checks, and the ELBO threshold); every evaluation then draws
    ``count`` cases around each of ``anchors`` images with ``testgen.latent.sample_latent_tests_tf``
    (fixed ``seed``, so epochs are compared on the same cases) and logs ``val_generated_accuracy``
    (on the valid cases) and ``val_generated_valid_fraction``.

    Args:
        vae: a trained :class:`~tf_featuretest.models.vae.VAE` (not trained further here).
        dataset: ``(image, label)`` batches or an ``(x, y)`` pair (anchors are its first images).
        anchors, count: anchor images, and cases per anchor.
        radius: latent sampling radius.
        elbo_threshold: lowest ELBO of a valid case (default: 1st percentile over ``dataset``).
        every, max_examples, seed: as for :class:`RobustAccuracy`.

    Example:
        >>> cb = GeneratedTestAccuracy(vae, (x_val, y_val), anchors=32, count=4, radius=0.5)  # doctest: +SKIP
    """

    def __init__(self, vae, dataset, *, anchors=32, count=4, radius=0.5, elbo_threshold=None, every=1,
                 max_examples=1024, seed=0):
        super().__init__(every)
        if not all(hasattr(vae, a) for a in ("encode", "decode", "elbo")):
            raise ConfigError(f"vae must have encode, decode and elbo, got {type(vae).__name__}")
        if not float(radius) > 0:
            raise ConfigError(f"radius must be positive, got {radius!r}")
        self.vae, self.dataset = vae, dataset
        self.anchors, self.count = _check_count(anchors, "anchors"), _check_count(count, "count")
        self.radius, self.elbo_threshold = float(radius), elbo_threshold
        self.max_examples, self.seed = _check_count(max_examples, "max_examples"), int(seed)
        self._ref = None

    def _keys(self):
        return ("val_generated_accuracy", "val_generated_valid_fraction")

    def _reference(self):
        batches = as_batches(self.dataset, 256, self.max_examples)
        x = np.concatenate([b[0] for b in batches])
        y = np.concatenate([b[1] for b in batches])
        threshold = self.elbo_threshold
        if threshold is None:
            threshold = elbo_threshold(self.vae, x)
        return {"anchors": tf.constant(x[:self.anchors]), "anchor_labels": tf.constant(y[:self.anchors]),
                "latents": tf.constant(encode_features(self.vae, x)), "labels": tf.constant(y),
                "threshold": tf.constant(float(threshold), tf.float32)}

    def _evaluate(self, epoch):
        if self._ref is None:
            self._ref = self._reference()
        r = self._ref
        out = sample_latent_tests_tf(self.vae, r["anchors"], r["anchor_labels"], tf.constant(self.count, tf.int32),
                                     tf.constant(self.radius, tf.float32), tf.constant(self.seed, tf.int32),
                                     r["latents"], r["labels"], r["threshold"])
        valid = np.asarray(out["valid"], bool)
        if not valid.any():
            return {"val_generated_accuracy": math.nan, "val_generated_valid_fraction": 0.0}
        images = tf.boolean_mask(tf.convert_to_tensor(out["images"], tf.float32), valid)
        pred = np.argmax(compiled_predict(self.model)(images).numpy(), axis=-1)
        labels = np.asarray(out["labels"], np.int64)[valid]
        return {"val_generated_accuracy": float(np.mean(pred == labels)),
                "val_generated_valid_fraction": float(valid.mean())}

    def get_config(self):
        return {"anchors": self.anchors, "count": self.count, "radius": self.radius,
                "elbo_threshold": self.elbo_threshold, "every": self.every, "max_examples": self.max_examples,
                "seed": self.seed}


@keras.saving.register_keras_serializable(package="tf_featuretest")
class SampleGrid(keras.callbacks.Callback):
    """Save a PNG grid of generated images every ``every`` epochs while a VAE or a DCGAN trains.

    Uses ``.generate(labels, seed)`` (conditional DCGAN; one column per class) or ``.sample(n, seed)``
    (VAE) of ``model`` (default: the model being trained), with a fixed ``seed`` so the grids of
    successive epochs show the same noise.

    Args:
        model: the generative model; None uses the one ``fit`` trains.
        every: write a grid every ``every`` epochs.
        path: file name pattern with ``{epoch}`` (1-based), e.g. ``"samples/epoch_{epoch:03d}.png"``.
        n: images per grid.
        seed: noise seed.

    Example:
        >>> vae.fit(ds, epochs=10, callbacks=[SampleGrid(every=5, path="grids/vae_{epoch:02d}.png")])  # doctest: +SKIP
    """

    def __init__(self, model=None, every=1, path="samples/epoch_{epoch:03d}.png", *, n=16, seed=0):
        super().__init__()
        self.every = _check_every(every)
        if "{epoch" not in str(path) or not str(path).endswith(".png"):
            raise ConfigError(f"path must be a .png pattern containing {{epoch}}, got {path!r}")
        self.generator, self.path, self.n, self.seed = model, str(path), _check_count(n, "n"), int(seed)
        self.paths = []

    def _images(self, gen):
        if hasattr(gen, "generate") and hasattr(gen, "num_classes"):
            labels = np.arange(self.n, dtype=np.int64) % int(gen.num_classes)
            return np.asarray(gen.generate(labels, seed=self.seed)), [str(v) for v in labels]
        if hasattr(gen, "sample"):
            return np.asarray(gen.sample(self.n, seed=self.seed)), None
        raise ConfigError(f"SampleGrid needs a model with .generate (DCGAN) or .sample (VAE), got "
                          f"{type(gen).__name__}")

    def on_epoch_end(self, epoch, logs=None):
        if (int(epoch) + 1) % self.every:
            return
        images, titles = self._images(self.generator if self.generator is not None else self.model)
        cols = int(math.ceil(math.sqrt(len(images))))
        rows = int(math.ceil(len(images) / cols))
        fig, axes = image_grid_axes(rows, cols, title=f"Samples after epoch {epoch + 1}")
        for i, ax in enumerate(axes.flat):
            if i < len(images):
                show_image(ax, images[i])
                if titles:
                    ax.set_title(f"class {titles[i]}", fontsize=7)
            else:
                ax.axis("off")
        path = self.path.format(epoch=int(epoch) + 1)
        makedirs(os.path.dirname(os.path.abspath(path)))
        self.paths.append(save(fig, path))

    def get_config(self):
        return {"every": self.every, "path": self.path, "n": self.n, "seed": self.seed}


__all__ = ["GeneratedTestAccuracy", "NoiseThreshold", "RobustAccuracy", "SampleGrid"]
