"""Class-conditional DCGAN (Radford et al., 2016; conditioning as in Mirza & Osindero, 2014).

The generator maps ``[noise, label]`` to an image in [0, 1] (sigmoid output): the label's embedding
is concatenated to the noise, projected to a small feature map and upsampled by strided transposed
convolutions with batch normalisation. The discriminator sees ``[image, label]``: the label's
embedding is reshaped to one extra image channel. Each batch updates both players once from one
forward pass, with the non-saturating generator loss and one-sided label smoothing of the
discriminator's real targets (``1 - label_smoothing``, Salimans et al., 2016).
"""
from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from ..errors import ConfigError


def _levels(image_shape):
    """Number of 2x upsampling steps: the generator starts from a map with sides of 4 to 7 pixels."""
    ok = isinstance(image_shape, (tuple, list)) and len(image_shape) == 3
    shape = tuple(int(v) for v in image_shape) if ok else None
    if shape is None or shape[-1] not in (1, 3) or min(shape[:2]) < 8:
        raise ConfigError(f"image_shape must be (height >= 8, width >= 8, 1 or 3 channels), got {image_shape!r}")
    k = min(4, int(math.floor(math.log2(min(shape[:2]) / 4))))
    if shape[0] % 2 ** k or shape[1] % 2 ** k:
        raise ConfigError(f"image_shape height and width must be multiples of {2 ** k}, got {image_shape!r}")
    return shape, k


def _int_arg(name, value, low):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
        raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


@keras.saving.register_keras_serializable(package="tf_featuretest")
class ConditionalDCGAN(keras.Model):
    """Class-conditional DCGAN with custom ``compile`` and ``train_step``, trained through ``fit``.

    ``fit`` takes batches of ``(image in [0, 1], int label)`` and reports ``d_loss`` (discriminator
    binary cross-entropy on real plus fake) and ``g_loss`` (non-saturating generator loss).

    Args:
        image_shape: ``(height, width, channels)``, channels 1 or 3; sides of at least 8 and
            multiples of the number of upsampling steps' scale (4 for 28, 8 for 32, 16 for 64).
        num_classes: number of class labels the models are conditioned on.
        latent_dim: size of the noise vector.
        width: channels of the generator's last (and discriminator's first) convolution; the
            others double per level.
        seed: seed of the noise drawn in training and by :meth:`generate` without a seed.

    Example:
        >>> gan = ConditionalDCGAN((32, 32, 1), num_classes=10, seed=0)
        >>> gan.compile(label_smoothing=0.1)
        >>> gan.fit(train_ds, epochs=20)  # doctest: +SKIP
        >>> gan.generate([0, 1, 2], seed=1).shape
        TensorShape([3, 32, 32, 1])
    """

    def __init__(self, image_shape=(32, 32, 1), num_classes=10, latent_dim=64, *, width=16, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.image_shape, self.levels = _levels(image_shape)
        self.num_classes = _int_arg("num_classes", num_classes, 2)
        self.latent_dim = _int_arg("latent_dim", latent_dim, 1)
        self.width = _int_arg("width", width, 1)
        if seed is not None and (not isinstance(seed, (int, np.integer)) or isinstance(seed, bool)):
            raise ConfigError(f"seed must be an integer or None, got {seed!r}")
        self.seed = None if seed is None else int(seed)
        self.generator = self._build_generator()
        self.discriminator = self._build_discriminator()
        self.noise_seed = keras.random.SeedGenerator(self.seed)
        self.sample_seed = keras.random.SeedGenerator(None if self.seed is None else self.seed + 1)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.label_smoothing = 0.1
        self.d_optimizer = None
        self.g_optimizer = None
        self.build((None,) + self.image_shape)

    def _build_generator(self):
        h, w, c = self.image_shape
        k = self.levels
        noise = keras.Input((self.latent_dim,), name="noise")
        label = keras.Input((), dtype="int64", name="label")
        emb = keras.layers.Embedding(self.num_classes, 32, name="label_embedding")(label)
        x = keras.layers.Concatenate(name="noise_and_label")([noise, emb])
        top = self.width * 2 ** (k - 1)
        x = keras.layers.Dense((h >> k) * (w >> k) * top, use_bias=False, name="project")(x)
        x = keras.layers.BatchNormalization(momentum=0.9, name="project_bn")(x)
        x = keras.layers.LeakyReLU(0.2, name="project_act")(x)
        x = keras.layers.Reshape((h >> k, w >> k, top), name="reshape")(x)
        for i in range(k):
            x = keras.layers.Conv2DTranspose(self.width * 2 ** (k - 1 - i), 4, strides=2, padding="same",
                                             use_bias=False, name=f"up{i + 1}")(x)
            x = keras.layers.BatchNormalization(momentum=0.9, name=f"up{i + 1}_bn")(x)
            x = keras.layers.LeakyReLU(0.2, name=f"up{i + 1}_act")(x)
        x = keras.layers.Conv2D(c, 3, padding="same", activation="sigmoid", name="image")(x)
        return keras.Model([noise, label], x, name="generator")

    def _build_discriminator(self):
        h, w, c = self.image_shape
        image = keras.Input(self.image_shape, name="image")
        label = keras.Input((), dtype="int64", name="label")
        emb = keras.layers.Embedding(self.num_classes, h * w, name="label_embedding")(label)
        emb = keras.layers.Reshape((h, w, 1), name="label_map")(emb)
        x = keras.layers.Rescaling(2.0, offset=-1.0, name="to_signed")(image)
        x = keras.layers.Concatenate(name="image_and_label")([x, emb])
        for i in range(self.levels):
            x = keras.layers.Conv2D(self.width * 2 ** i, 4, strides=2, padding="same", name=f"down{i + 1}")(x)
            x = keras.layers.LeakyReLU(0.2, name=f"down{i + 1}_act")(x)
        x = keras.layers.Flatten(name="flatten")(x)
        x = keras.layers.Dropout(0.3, name="dropout")(x)
        logit = keras.layers.Dense(1, name="logit")(x)
        return keras.Model([image, label], logit, name="discriminator")

    def build(self, input_shape=None):
        # Generator and discriminator are functional models, built when created.
        self.built = True

    def compile(self, d_optimizer=None, g_optimizer=None, label_smoothing=0.1, **kwargs):
        """Set the two optimizers (default Adam(2e-4, beta_1=0.5) each) and the label smoothing.

        Args:
            d_optimizer: discriminator optimizer (instance, name or config dict).
            g_optimizer: generator optimizer.
            label_smoothing: one-sided smoothing of the real targets, in [0, 1).
            **kwargs: passed to ``keras.Model.compile`` (for example ``run_eagerly``).
        """
        if not isinstance(label_smoothing, (int, float, np.floating)) or not 0.0 <= label_smoothing < 1.0:
            raise ConfigError(f"label_smoothing must be a number in [0, 1), got {label_smoothing!r}")
        if "optimizer" in kwargs:
            raise ConfigError(f"ConditionalDCGAN takes d_optimizer and g_optimizer, got optimizer={kwargs['optimizer']!r}")
        super().compile(optimizer=None, **kwargs)
        self.d_optimizer = keras.optimizers.get(d_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5))
        self.g_optimizer = keras.optimizers.get(g_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5))
        if self.d_optimizer is self.g_optimizer:
            raise ConfigError("d_optimizer and g_optimizer must be two different optimizer objects")
        self.label_smoothing = float(label_smoothing)
        # Build the optimizers now so that a model saved before its first step still round-trips.
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.g_optimizer.build(self.generator.trainable_variables)

    def get_compile_config(self):
        if self.d_optimizer is None:
            return {}
        return {"d_optimizer": keras.optimizers.serialize(self.d_optimizer),
                "g_optimizer": keras.optimizers.serialize(self.g_optimizer),
                "label_smoothing": self.label_smoothing}

    def compile_from_config(self, config):
        if not config:
            return
        self.compile(d_optimizer=keras.optimizers.deserialize(config["d_optimizer"]),
                     g_optimizer=keras.optimizers.deserialize(config["g_optimizer"]),
                     label_smoothing=config["label_smoothing"])

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker]

    def _noise(self, n, seed):
        if seed is None:
            return keras.random.normal((n, self.latent_dim), seed=self.sample_seed)
        pair = tf.stack([tf.cast(seed, tf.int64), tf.constant(0, tf.int64)])
        return tf.random.stateless_normal(tf.stack([tf.cast(n, tf.int32), self.latent_dim]), seed=pair)

    def generate(self, labels, seed=None):
        """One image (float32 in [0, 1]) per class label; the same integer ``seed`` gives the same images.

        ``labels`` and ``seed`` may be tensors, so this works inside ``tf.function`` (for export).
        """
        if not tf.is_tensor(labels):
            arr = np.asarray(labels)
            if arr.ndim != 1 or arr.size == 0 or not np.issubdtype(arr.dtype, np.integer) \
                    or arr.min() < 0 or arr.max() >= self.num_classes:
                raise ConfigError(f"labels must be a non-empty 1-D array of integers in 0..{self.num_classes - 1}, "
                                  f"got {labels!r}")
            labels = arr
        if seed is not None and not tf.is_tensor(seed) and (not isinstance(seed, (int, np.integer))
                                                            or isinstance(seed, bool)):
            raise ConfigError(f"seed must be an integer or None, got {seed!r}")
        labels = tf.cast(tf.convert_to_tensor(labels), tf.int64)
        noise = self._noise(tf.shape(labels)[0], seed)
        return self.generator([noise, labels], training=False)

    def call(self, inputs, training=False):
        """Discriminator logits ``[N, 1]`` for ``images`` or ``(images, labels)`` (labels default 0)."""
        if isinstance(inputs, (tuple, list)):
            images, labels = inputs
        else:
            images = inputs
            labels = tf.zeros(tf.shape(images)[:1], tf.int64)
        return self.discriminator([images, tf.cast(labels, tf.int64)], training=training)

    def _split(self, data):
        if not isinstance(data, (tuple, list)) or len(data) < 2:
            raise ConfigError("ConditionalDCGAN trains on (image, label) batches")
        return tf.cast(data[0], tf.float32), tf.cast(data[1], tf.int64)

    def _d_loss(self, real_logits, fake_logits):
        bce = keras.losses.binary_crossentropy
        real = bce(tf.fill(tf.shape(real_logits), 1.0 - self.label_smoothing), real_logits, from_logits=True)
        fake = bce(tf.zeros_like(fake_logits), fake_logits, from_logits=True)
        return tf.reduce_mean(real) + tf.reduce_mean(fake)

    def _g_loss(self, fake_logits):
        return tf.reduce_mean(keras.losses.binary_crossentropy(tf.ones_like(fake_logits), fake_logits,
                                                               from_logits=True))

    def train_step(self, data):
        # Both players update from the same forward pass (as in TensorFlow's DCGAN tutorial), which
        # saves a second generator pass per step.
        x, y = self._split(data)
        noise = keras.random.normal((tf.shape(x)[0], self.latent_dim), seed=self.noise_seed)
        with tf.GradientTape() as d_tape, tf.GradientTape() as g_tape:
            fake = self.generator([noise, y], training=True)
            real_logits = self.discriminator([x, y], training=True)
            fake_logits = self.discriminator([fake, y], training=True)
            d_loss = self._d_loss(real_logits, fake_logits)
            g_loss = self._g_loss(fake_logits)
        d_vars = self.discriminator.trainable_variables
        g_vars = self.generator.trainable_variables
        self.d_optimizer.apply_gradients(zip(d_tape.gradient(d_loss, d_vars), d_vars))
        self.g_optimizer.apply_gradients(zip(g_tape.gradient(g_loss, g_vars), g_vars))
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, data):
        x, y = self._split(data)
        noise = keras.random.normal((tf.shape(x)[0], self.latent_dim), seed=self.noise_seed)
        fake_logits = self.discriminator([self.generator([noise, y], training=False), y], training=False)
        self.d_loss_tracker.update_state(self._d_loss(self.discriminator([x, y], training=False), fake_logits))
        self.g_loss_tracker.update_state(self._g_loss(fake_logits))
        return {m.name: m.result() for m in self.metrics}

    def get_config(self):
        return {**super().get_config(), "image_shape": list(self.image_shape), "num_classes": self.num_classes,
                "latent_dim": self.latent_dim, "width": self.width, "seed": self.seed}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["image_shape"] = tuple(config["image_shape"])
        return cls(**config)


def train_dcgan(train_ds, image_shape, num_classes, *, epochs=30, seed=0, callbacks=(), verbose=0, latent_dim=64,
                width=16, learning_rate=2e-4, label_smoothing=0.1) -> ConditionalDCGAN:
    """Build, compile and ``fit`` a :class:`ConditionalDCGAN` on ``(image, label)`` batches.

    Args:
        train_ds: ``tf.data.Dataset`` of ``(image in [0, 1], int label)`` batches.
        image_shape: ``(height, width, channels)``.
        num_classes: number of classes.
        epochs: training epochs.
        seed: seeds Keras's global generators and the model's noise.
        callbacks: Keras callbacks (for example a per-epoch sample grid).
        verbose: ``fit`` verbosity.
        latent_dim, width: see :class:`ConditionalDCGAN`.
        learning_rate: Adam learning rate of both players (``beta_1 = 0.5``).
        label_smoothing: one-sided smoothing of the discriminator's real targets.

    Returns:
        The trained, compiled model.

    Example:
        >>> ds, info = tf_featuretest.data.load("digits", "train", batch_size=64)
        >>> gan = train_dcgan(ds, info.image_shape, info.num_classes, epochs=40)  # doctest: +SKIP
    """
    epochs = _int_arg("epochs", epochs, 1)
    if not isinstance(seed, (int, np.integer)):
        raise ConfigError(f"seed must be an integer, got {seed!r}")
    keras.utils.set_random_seed(int(seed))
    gan = ConditionalDCGAN(image_shape, num_classes, latent_dim, width=width, seed=int(seed))
    gan.compile(d_optimizer=keras.optimizers.Adam(learning_rate, beta_1=0.5),
                g_optimizer=keras.optimizers.Adam(learning_rate, beta_1=0.5), label_smoothing=label_smoothing)
    gan.fit(train_ds, epochs=epochs, callbacks=list(callbacks), verbose=verbose)
    return gan
