"""Convolutional variational autoencoder (Kingma & Welling, 2014) for feature-level test generation.

The encoder maps a [0, 1] image to the mean and log-variance of a diagonal Gaussian over the latent
space; the decoder maps a latent point back to an image through a sigmoid, so decoded images live in
the package's one pixel space. Training minimises ``reconstruction + beta * KL`` (a beta-VAE,
Higgins et al., 2017, when ``beta != 1``), where the reconstruction term is the per-pixel binary
cross-entropy summed over the image.
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from .._util import checks
from ..errors import ConfigError

_EPS = 1e-7


@keras.saving.register_keras_serializable(package="tf_featuretest")
class Sampling(keras.layers.Layer):
    """Draw ``z = z_mean + exp(z_log_var / 2) * eps`` with ``eps ~ N(0, I)`` (the reparameterisation trick).

    Args:
        seed: seed of the layer's ``keras.random.SeedGenerator``; the same seed gives the same draws.

    Example:
        >>> z = Sampling(seed=0)([np.zeros((2, 4), "float32"), np.zeros((2, 4), "float32")])
        >>> tuple(z.shape)
        (2, 4)
    """

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        if seed is not None and not isinstance(seed, (int, np.integer)):
            raise ConfigError(f"Sampling seed must be an integer or None, got {seed!r}")
        self.seed = None if seed is None else int(seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        eps = keras.random.normal(keras.ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + keras.ops.exp(0.5 * z_log_var) * eps

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


def _check_shape(input_shape, levels, what="input_shape"):
    shape = tuple(int(v) for v in input_shape) if isinstance(input_shape, (tuple, list)) else None
    step = 2 ** levels
    if (shape is None or len(shape) != 3 or shape[-1] not in (1, 3) or shape[0] % step or shape[1] % step
            or min(shape[:2]) < step):
        raise ConfigError(f"{what} must be (height, width, 1 or 3) with height and width multiples of {step}, "
                          f"got {input_shape!r}")
    return shape


def _check_filters(filters):
    if (not isinstance(filters, (tuple, list)) or not filters
            or not all(isinstance(f, (int, np.integer)) and f > 0 for f in filters)):
        raise ConfigError(f"filters must be a non-empty sequence of positive integers, got {filters!r}")
    return tuple(int(f) for f in filters)


def bernoulli_nll(x, x_hat):
    """Per-image binary cross-entropy summed over pixels: ``[N]`` from ``[N, H, W, C]`` tensors."""
    ops = keras.ops
    x_hat = ops.clip(x_hat, _EPS, 1.0 - _EPS)
    bce = -(x * ops.log(x_hat) + (1.0 - x) * ops.log(1.0 - x_hat))
    return ops.sum(ops.reshape(bce, (ops.shape(bce)[0], -1)), axis=1)


def gaussian_kl(z_mean, z_log_var):
    """Per-image ``KL(N(z_mean, exp(z_log_var)) || N(0, I))``: ``[N]``."""
    ops = keras.ops
    return -0.5 * ops.sum(1.0 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=1)


@keras.saving.register_keras_serializable(package="tf_featuretest")
class VAE(keras.Model):
    """Convolutional VAE with a custom ``train_step``/``test_step`` and named loss trackers.

    The encoder halves the image side once per entry of ``filters`` (3x3 strided convolutions), the
    decoder mirrors it with transposed convolutions and ends in a sigmoid. ``fit`` reports ``loss``,
    ``reconstruction_loss`` (per-image summed binary cross-entropy, batch mean) and ``kl_loss``.

    Args:
        input_shape: ``(height, width, channels)``, channels 1 or 3, sides multiples of
            ``2 ** len(filters)``.
        latent_dim: size of the latent space.
        filters: convolution widths of the encoder blocks (the decoder uses them reversed).
        beta: weight of the KL term.
        hidden: width of the dense layer between the convolutions and the latent heads (default
            ``max(64, 4 * latent_dim)``).
        seed: seed of the :class:`Sampling` layer used in training and of :meth:`sample` without a seed.

    Example:
        >>> vae = VAE((32, 32, 1), latent_dim=8, seed=0)
        >>> vae.compile(keras.optimizers.Adam(1e-3))
        >>> vae.fit(train_ds, epochs=20)  # doctest: +SKIP
        >>> vae.sample(16, seed=1).shape
        TensorShape([16, 32, 32, 1])
    """

    def __init__(self, input_shape=(32, 32, 1), latent_dim=16, *, filters=(32, 64), beta=1.0, hidden=None, seed=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.filters = _check_filters(filters)
        self.image_shape = _check_shape(input_shape, len(self.filters))
        latent_dim = checks.positive_int(latent_dim, "latent_dim")
        if not isinstance(beta, (int, float, np.floating, np.integer)) or not np.isfinite(beta) or beta < 0:
            raise ConfigError(f"beta must be a finite number >= 0, got {beta!r}")
        if seed is not None and not isinstance(seed, (int, np.integer)):
            raise ConfigError(f"seed must be an integer or None, got {seed!r}")
        self.latent_dim = int(latent_dim)
        self.hidden = max(64, 4 * self.latent_dim) if hidden is None else checks.positive_int(hidden, "hidden")
        self.beta = float(beta)
        self.seed = None if seed is None else int(seed)
        self.encoder = self._build_encoder()
        self.decoder = self._build_decoder()
        self.sampling = Sampling(self.seed, name="sampling")
        self.sample_seed = keras.random.SeedGenerator(None if self.seed is None else self.seed + 1)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_tracker = keras.metrics.Mean(name="kl_loss")
        self.build((None,) + self.image_shape)

    def _build_encoder(self):
        inputs = keras.Input(self.image_shape, name="image")
        x = inputs
        for i, f in enumerate(self.filters):
            x = keras.layers.Conv2D(f, 3, strides=2, padding="same", activation="relu", name=f"conv{i + 1}")(x)
        x = keras.layers.Flatten(name="flatten")(x)
        x = keras.layers.Dense(self.hidden, activation="relu", name="hidden")(x)
        z_mean = keras.layers.Dense(self.latent_dim, name="z_mean")(x)
        z_log_var = keras.layers.Dense(self.latent_dim, name="z_log_var")(x)
        return keras.Model(inputs, [z_mean, z_log_var], name="encoder")

    def _build_decoder(self):
        h, w, c = self.image_shape
        step = 2 ** len(self.filters)
        inputs = keras.Input((self.latent_dim,), name="z")
        x = keras.layers.Dense((h // step) * (w // step) * self.filters[-1], activation="relu", name="project")(inputs)
        x = keras.layers.Reshape((h // step, w // step, self.filters[-1]), name="reshape")(x)
        for i, f in enumerate(reversed(self.filters)):
            x = keras.layers.Conv2DTranspose(f, 3, strides=2, padding="same", activation="relu",
                                             name=f"deconv{i + 1}")(x)
        x = keras.layers.Conv2DTranspose(c, 3, padding="same", activation="sigmoid", name="image")(x)
        return keras.Model(inputs, x, name="decoder")

    def build(self, input_shape=None):
        # The encoder and decoder are functional models, built when created; recording the input shape
        # lets Keras rebuild the model on load and then restore the optimizer's variables.
        self.built = True

    @property
    def metrics(self):
        return [self.loss_tracker, self.reconstruction_tracker, self.kl_tracker]

    def encode(self, x):
        """``(z_mean, z_log_var)`` of images ``x`` in [0, 1]; callable inside ``tf.function``."""
        z_mean, z_log_var = self.encoder(x, training=False)
        return z_mean, z_log_var

    def decode(self, z):
        """Images (float32 in [0, 1]) decoded from latent points ``z`` ``[N, latent_dim]``."""
        return self.decoder(z, training=False)

    def sample(self, n, seed=None):
        """``n`` images decoded from ``z ~ N(0, I)``; an integer ``seed`` makes the draw repeatable."""
        n = checks.positive_int(n, "n")
        if seed is not None and not isinstance(seed, (int, np.integer)):
            raise ConfigError(f"seed must be an integer or None, got {seed!r}")
        z = keras.random.normal((int(n), self.latent_dim), seed=self.sample_seed if seed is None else int(seed))
        return self.decode(z)

    def elbo(self, x):
        """Per-image evidence lower bound ``-(reconstruction + beta * KL)``, float32 ``[N]``.

        The reconstruction term decodes ``z_mean`` (no sampling), so the value is deterministic and
        usable as a density score inside ``tf.function``.
        """
        z_mean, z_log_var = self.encode(x)
        x = keras.ops.cast(x, "float32")
        rec = bernoulli_nll(x, self.decode(z_mean))
        return -(rec + self.beta * gaussian_kl(z_mean, z_log_var))

    def call(self, x, training=False):
        z_mean, z_log_var = self.encoder(x, training=training)
        z = self.sampling([z_mean, z_log_var]) if training else z_mean
        return self.decoder(z, training=training)

    def _vae_losses(self, x, training):
        x = keras.ops.cast(x, "float32")
        z_mean, z_log_var = self.encoder(x, training=training)
        z = self.sampling([z_mean, z_log_var])
        x_hat = self.decoder(z, training=training)
        rec = keras.ops.mean(bernoulli_nll(x, x_hat))
        kl = keras.ops.mean(gaussian_kl(z_mean, z_log_var))
        return rec + self.beta * kl, rec, kl

    def _update(self, loss, rec, kl):
        self.loss_tracker.update_state(loss)
        self.reconstruction_tracker.update_state(rec)
        self.kl_tracker.update_state(kl)
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        x = data[0] if isinstance(data, (tuple, list)) else data
        with tf.GradientTape() as tape:
            loss, rec, kl = self._vae_losses(x, True)
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        return self._update(loss, rec, kl)

    def test_step(self, data):
        x = data[0] if isinstance(data, (tuple, list)) else data
        return self._update(*self._vae_losses(x, False))

    def get_config(self):
        return {**super().get_config(), "input_shape": list(self.image_shape), "latent_dim": self.latent_dim,
                "filters": list(self.filters), "beta": self.beta, "hidden": self.hidden, "seed": self.seed}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["input_shape"] = tuple(config["input_shape"])
        config["filters"] = tuple(config["filters"])
        return cls(**config)


def train_vae(train_ds, input_shape, *, latent_dim=16, epochs=30, val_ds=None, seed=0, callbacks=(), verbose=0,
              beta=1.0, filters=(32, 64), hidden=None, learning_rate=1e-3) -> VAE:
    """Build, compile and ``fit`` a :class:`VAE` on a dataset of ``(image, label)`` (or image) batches.

    Args:
        train_ds: ``tf.data.Dataset`` of batches; labels, if present, are ignored.
        input_shape: ``(height, width, channels)`` of the images.
        latent_dim: size of the latent space.
        epochs: training epochs.
        val_ds: optional validation dataset (reported as ``val_loss`` etc.).
        seed: seeds Keras's global generators and the model's sampling layer.
        callbacks: Keras callbacks (for example a per-epoch sample grid).
        verbose: ``fit`` verbosity.
        beta, filters, hidden: see :class:`VAE`.
        learning_rate: Adam learning rate.

    Returns:
        The trained :class:`VAE` (compiled, so it can be saved with its optimizer state).

    Example:
        >>> ds, info = tf_featuretest.data.load("digits", "train", batch_size=64)
        >>> vae = train_vae(ds, info.image_shape, epochs=30)  # doctest: +SKIP
    """
    epochs = checks.positive_int(epochs, "epochs")
    if not isinstance(seed, (int, np.integer)):
        raise ConfigError(f"seed must be an integer, got {seed!r}")
    keras.utils.set_random_seed(int(seed))
    vae = VAE(input_shape, latent_dim, filters=filters, beta=beta, hidden=hidden, seed=int(seed))
    vae.compile(optimizer=keras.optimizers.Adam(learning_rate))
    vae.fit(train_ds, validation_data=val_ds, epochs=int(epochs), callbacks=list(callbacks), verbose=verbose)
    return vae
