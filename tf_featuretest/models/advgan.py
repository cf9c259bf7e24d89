"""AdvGAN (Xiao et al., IJCAI 2018): a generator that learns to break a fixed classifier in one pass.

The generator maps an image (and a target token) to the raw outputs of a family
(:mod:`.advgan_families`): a bounded perturbation ``eps * tanh(r)`` for the ``pixel`` family, or the
place, content or lines of a structured noise family. A discriminator sees real images and
``x + G(x)`` and keeps the adversarial images close to the data (the GAN loss). The generator's loss
is ``L_adv + alpha L_GAN + beta L_hinge``:

* ``L_adv``: the C&W margin on the classifier's logits (Carlini & Wagner, 2017), untargeted
  ``max(Z_y - max_{j != y} Z_j, -kappa)`` or targeted ``max(max_{j != t} Z_j - Z_t, -kappa)``;
* ``L_GAN``: the non-saturating GAN loss of the adversarial images;
* ``L_hinge``: ``max(0, |x' - x|_2 - c)`` with ``c = hinge_fraction`` times the largest L2 change
  the budget allows, which keeps perturbations smaller than the hard bound where it can.

The target is a conditioning input (a token embedded and broadcast over the image), so one
generator serves every target class; the extra token ``num_classes`` means "untargeted". The
classifier is fixed: it is called in inference mode and none of its variables is trained.
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from .._util import checks
from ..errors import ConfigError
from . import advgan_families as fam
from .introspection import as_logits_model, num_classes

MODES = ("untargeted", "targeted", "both")
#: Share of a ``"both"`` generator's training images that get the untargeted token.
UNTARGETED_SHARE = 0.3
_TINY_L2 = 1e-12
DEFAULT_ALPHA, DEFAULT_BETA = 0.05, 0.1
#: Adam learning rate of :func:`train_advgan` by default: pixel family, structured families.
LEARNING_RATES = (3e-3, 1e-2)


def _image_shape(model):
    shape = model.input_shape
    shape = shape[0] if isinstance(shape, list) else shape
    shape = tuple(shape[1:])
    if len(shape) != 3 or any(v is None for v in shape) or shape[-1] not in (1, 3):
        raise ConfigError(f"AdvGAN needs a classifier with a fixed (height, width, 1 or 3) input, got {shape}")
    return tuple(int(v) for v in shape)


def _seed(seed):
    return checks.seed(seed, allow_none=True)


@keras.saving.register_keras_serializable(package="tf_featuretest")
class AdvGAN(keras.Model):
    """AdvGAN against a fixed classifier, with a custom ``compile`` and ``train_step``, trained through ``fit``.

    ``fit`` takes ``(image in [0, 1], int label)`` batches and reports ``loss`` (the generator's),
    ``adversarial_loss``, ``gan_loss``, ``hinge_loss``, ``d_loss`` and ``success`` (share of the
    batch the classifier gets wrong, or puts in the target class).

    Args:
        classifier: the Keras classifier attacked ([0, 1] images; a final softmax is stripped).
        family: one of ``pixel``, ``patch``, ``sticker``, ``black_rows``, ``black_columns``,
            ``brightness_contrast`` (see :mod:`.advgan_families`).
        eps: the pixel family's budget (L-inf per pixel or L2 per image).
        severity: a structured family's budget on the noise registry's scale, in [0, 1].
        norm: ``"inf"`` or ``2`` (pixel family).
        mode: ``"untargeted"``, ``"targeted"`` or ``"both"`` (which targets training draws).
        location: ``(fy, fx)`` fractions placing the patch at a given spot; None learns the place.
        width: channels of the first convolution (doubled twice in the encoder).
        alpha, beta: weights of the GAN and hinge losses; default 0.05 and 0.1 for the pixel family
            and 0 for the structured ones, whose support is their constraint (no discriminator is
            then trained, which saves its passes).
        hinge_fraction: the hinge's free L2 size, as a fraction of the largest the budget allows.
        kappa: confidence margin of the C&W loss (in logits).
        seed: seed of the target draws and of the Gumbel noise in training.

    Example:
        >>> gan = AdvGAN(classifier, eps=0.3, mode="both", seed=0)
        >>> gan.compile()
        >>> gan.fit(train_ds, epochs=5)  # doctest: +SKIP
        >>> x_adv = gan.perturb(x, target=3)  # doctest: +SKIP
    """

    def __init__(self, classifier, *, family="pixel", eps=0.3, severity=0.3, norm="inf", mode="untargeted",
                 location=None, width=8, alpha=None, beta=None, hinge_fraction=0.5, kappa=2.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.classifier = as_logits_model(classifier)
        self.image_shape = _image_shape(self.classifier)
        self.num_classes = num_classes(self.classifier)
        self.family = fam.check_family(family)
        self.norm = "inf" if norm in ("inf", np.inf, float("inf")) else 2 if norm == 2 else None
        if self.norm is None:
            raise ConfigError(f"norm must be 'inf' or 2, got {norm!r}")
        self.eps = fam.check_budget("pixel", eps, norm=self.norm)
        self.severity = checks.fraction(severity, "severity")
        self.mode = checks.choice(mode, "mode", MODES)
        if location is not None:
            ok = isinstance(location, (tuple, list)) and len(location) == 2
            location = tuple(checks.fraction(v, "location") for v in location) if ok else None
            if location is None or self.family != "patch":
                raise ConfigError(f"location must be (fy, fx) in [0, 1] for the patch family, got {location!r}")
        self.location = location
        self.width = checks.positive_int(width, "width")
        pixel = self.family == "pixel"
        self.alpha = checks.non_negative((DEFAULT_ALPHA if pixel else 0.0) if alpha is None else alpha, "alpha")
        self.beta = checks.non_negative((DEFAULT_BETA if pixel else 0.0) if beta is None else beta, "beta")
        self.hinge_fraction = checks.fraction(hinge_fraction, "hinge_fraction")
        self.kappa = checks.non_negative(kappa, "kappa")
        self.seed = _seed(seed)
        self.stickers = fam.sticker_count(self.severity) if self.family == "sticker" else 0
        if self.family == "sticker" and self.stickers < 1:
            raise ConfigError(f"a sticker generator needs severity > 0, got {severity!r}")
        self.generator = self._build_generator()
        self.discriminator = self._build_discriminator()
        self.target_seed = keras.random.SeedGenerator(self.seed)
        self.gumbel_seed = keras.random.SeedGenerator(None if self.seed is None else self.seed + 1)
        self.trackers = {n: keras.metrics.Mean(name=n) for n in
                         ("loss", "adversarial_loss", "gan_loss", "hinge_loss", "d_loss", "success")}
        self.g_optimizer = self.d_optimizer = None
        self.built = True

    # ------------------------------------------------------------------ networks

    def _build_generator(self):
        h, w, c = self.image_shape
        image = keras.Input(self.image_shape, name="image")
        token = keras.Input((), dtype="int64", name="target")
        ph, pw = (-h) % 4, (-w) % 4
        H, W = h + ph, w + pw

        def cond(side_h, side_w, name):
            e = keras.layers.Embedding(self.num_classes + 1, 8, name=f"{name}_embedding")(token)
            e = keras.layers.Reshape((1, 1, 8), name=f"{name}_reshape")(e)
            return keras.layers.UpSampling2D((side_h, side_w), name=f"{name}_map")(e)

        x = keras.layers.ZeroPadding2D(((0, ph), (0, pw)), name="pad")(image) if ph or pw else image
        x = keras.layers.Concatenate(name="image_and_target")([x, cond(H, W, "target")])
        k = self.width

        def conv(t, f, stride, name, act=True, transpose=False):
            layer = keras.layers.Conv2DTranspose if transpose else keras.layers.Conv2D
            t = layer(f, 3, strides=stride, padding="same", name=name)(t)
            t = keras.layers.GroupNormalization(groups=-1, name=f"{name}_norm")(t)
            return keras.layers.ReLU(name=f"{name}_act")(t) if act else t

        x = conv(x, k, 1, "enc1")
        x = conv(x, 2 * k, 2, "enc2")
        x = conv(x, 4 * k, 2, "enc3")
        x = keras.layers.Concatenate(name="code_and_target")([x, cond(H // 4, W // 4, "code")])
        x = conv(x, 4 * k, 1, "mix")
        for i in range(2):
            r = conv(conv(x, 4 * k, 1, f"res{i + 1}a"), 4 * k, 1, f"res{i + 1}b", act=False)
            x = keras.layers.Add(name=f"res{i + 1}")([x, r])
        x = conv(x, 2 * k, 2, "dec1", transpose=True)
        x = conv(x, k, 2, "dec2", transpose=True)
        if ph or pw:
            x = keras.layers.Cropping2D(((0, ph), (0, pw)), name="crop")(x)
        return keras.Model([image, token], fam.build_heads(self.family, x, self.image_shape, self.stickers),
                           name="generator")

    def _build_discriminator(self):
        image = keras.Input(self.image_shape, name="image")
        x = keras.layers.Rescaling(2.0, offset=-1.0, name="to_signed")(image)
        for i in range(3):
            x = keras.layers.Conv2D(self.width * 2 ** i, 4, strides=2, padding="same", name=f"down{i + 1}")(x)
            x = keras.layers.LeakyReLU(0.2, name=f"down{i + 1}_act")(x)
        x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
        return keras.Model(image, keras.layers.Dense(1, name="logit")(x), name="discriminator")

    # ------------------------------------------------------------------ the attack

    @property
    def budget(self) -> float:
        """The training budget: ``eps`` for the pixel family, ``severity`` for the others."""
        return self.eps if self.family == "pixel" else self.severity

    def tokens(self, target, n):
        """Target tokens ``[n]`` int64: ``None`` or ``-1`` is untargeted (token ``num_classes``)."""
        if target is None:
            if self.mode == "targeted":
                raise ConfigError("this AdvGAN generator was trained targeted only: give target=")
            return tf.fill([n], tf.constant(self.num_classes, tf.int64))
        t = tf.cast(target, tf.int64)
        if not tf.is_tensor(target):
            arr = np.asarray(target).reshape(-1)
            if arr.size not in (1, int(n)) or arr.min() < -1 or arr.max() >= self.num_classes:
                raise ConfigError(f"target must be -1, a class in 0..{self.num_classes - 1} or one per image, "
                                  f"got {target!r}")
            if self.mode == "untargeted" and arr.max() >= 0:
                raise ConfigError("this AdvGAN generator was trained untargeted: it takes no target")
        t = tf.broadcast_to(tf.reshape(t, [-1]), [n])
        return tf.where(t < 0, tf.constant(self.num_classes, tf.int64), t)

    def _apply(self, x, tokens, budget, training=False, noise=None):
        raw = self.generator([x, tokens], training=training)
        return fam.apply_family(self.family, x, raw, budget, self.image_shape, norm=self.norm,
                                location=self.location, noise=noise)

    def adversarial(self, x, tokens, budget):
        """The images for target ``tokens`` (int64 ``[N]``, from :meth:`tokens`) at ``budget``, unchecked.

        ``budget`` may be a float32 scalar tensor, so one ``tf.function`` serves every budget (for
        the L-inf pixel family pass :func:`~.advgan_families.linf_bound` of eps).
        """
        return self._apply(tf.cast(x, tf.float32), tokens, budget)

    def perturb(self, x, target=None, *, budget=None):
        """Adversarial images (float32, [0, 1]) of ``x`` in one generator pass; deterministic.

        Args:
            x: ``[N, H, W, C]`` images in [0, 1].
            target: None or -1 (untargeted), a class, or one per image (int or int tensor).
            budget: eps (pixel family) or severity (structured families); default: the training budget.
        """
        x = tf.convert_to_tensor(x, tf.float32)
        budget = self.budget if budget is None else fam.check_budget(self.family, budget, norm=self.norm,
                                                                     max_stickers=self.stickers or fam.MAX_STICKERS)
        return self._apply(x, self.tokens(target, tf.shape(x)[0]), budget)

    def call(self, inputs, training=False):
        """``perturb`` at the training budget for ``images`` or ``(images, targets)``."""
        x, target = (inputs[0], inputs[1]) if isinstance(inputs, (tuple, list)) else (inputs, None)
        x = tf.cast(x, tf.float32)
        return self._apply(x, self.tokens(target, tf.shape(x)[0]), self.budget, training=training)

    # ------------------------------------------------------------------ training

    def compile(self, g_optimizer=None, d_optimizer=None, **kwargs):
        """Set the generator's and discriminator's optimizers (default Adam(1e-3) and Adam(1e-3, beta_1=0.5))."""
        if "optimizer" in kwargs:
            raise ConfigError(f"AdvGAN takes g_optimizer and d_optimizer, got optimizer={kwargs['optimizer']!r}")
        super().compile(optimizer=None, **kwargs)
        self.g_optimizer = keras.optimizers.get(g_optimizer or keras.optimizers.Adam(1e-3))
        self.d_optimizer = keras.optimizers.get(d_optimizer or keras.optimizers.Adam(1e-3, beta_1=0.5))
        if self.g_optimizer is self.d_optimizer:
            raise ConfigError("g_optimizer and d_optimizer must be two different optimizer objects")
        self.g_optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)

    def get_compile_config(self):
        if self.g_optimizer is None:
            return {}
        return {"g_optimizer": keras.optimizers.serialize(self.g_optimizer),
                "d_optimizer": keras.optimizers.serialize(self.d_optimizer)}

    def compile_from_config(self, config):
        if config:
            self.compile(g_optimizer=keras.optimizers.deserialize(config["g_optimizer"]),
                         d_optimizer=keras.optimizers.deserialize(config["d_optimizer"]))

    @property
    def metrics(self):
        return list(self.trackers.values())

    def _draw_tokens(self, y):
        n, k = tf.shape(y)[0], self.num_classes
        untargeted = tf.fill([n], tf.constant(k, tf.int64))
        if self.mode == "untargeted":
            return untargeted
        offset = tf.cast(keras.random.randint((n,), 1, k, seed=self.target_seed), tf.int64)
        targets = (y + offset) % k  # uniform over the classes other than y
        if self.mode == "targeted":
            return targets
        pick = keras.random.uniform((n,), seed=self.target_seed) < UNTARGETED_SHARE
        return tf.where(pick, untargeted, targets)

    def margin(self, logits, y, tokens):
        """Per-image C&W margin: ``> 0`` while the attack fails, ``-kappa`` at best."""
        k = self.num_classes
        targeted = tokens < k
        label = tf.where(targeted, tokens, y)
        onehot = tf.one_hot(label, k, dtype=logits.dtype)
        own = tf.reduce_sum(onehot * logits, -1)
        other = tf.reduce_max(logits - 1e9 * onehot, -1)
        return tf.maximum(tf.where(targeted, other - own, own - other), -self.kappa)

    def _split(self, data):
        if not isinstance(data, (tuple, list)) or len(data) < 2:
            raise ConfigError("AdvGAN trains on (image, label) batches")
        return tf.cast(data[0], tf.float32), tf.reshape(tf.cast(data[1], tf.int64), [-1])

    def _objectives(self, x, y, training):
        tokens = self._draw_tokens(y)
        noise = (lambda shape: keras.random.uniform(shape, seed=self.gumbel_seed)) if training else None
        x_adv = self._apply(x, tokens, self.budget, training=training, noise=noise)
        logits = self.classifier(x_adv, training=False)
        m = self.margin(logits, y, tokens)
        gan = d_loss = tf.constant(0.0)
        if self.alpha > 0:  # alpha = 0 trains no discriminator (and skips its passes)
            real = self.discriminator(x, training=training)
            fake = self.discriminator(x_adv, training=training)
            bce = keras.losses.binary_crossentropy
            gan = tf.reduce_mean(bce(tf.ones_like(fake), fake, from_logits=True))
            d_loss = (tf.reduce_mean(bce(tf.ones_like(real), real, from_logits=True))
                      + tf.reduce_mean(bce(tf.zeros_like(fake), fake, from_logits=True)))
        c = self.hinge_fraction * fam.max_l2(self.family, self.image_shape, self.budget, self.norm)
        l2 = tf.sqrt(tf.reduce_sum(tf.square(x_adv - x), axis=[1, 2, 3]) + _TINY_L2)
        hinge = tf.reduce_mean(tf.maximum(l2 - c, 0.0))
        adv = tf.reduce_mean(m)
        loss = adv + self.alpha * gan + self.beta * hinge
        return {"loss": loss, "adversarial_loss": adv, "gan_loss": gan, "hinge_loss": hinge, "d_loss": d_loss,
                "success": tf.reduce_mean(tf.cast(m < 0, tf.float32))}

    def _update(self, values):
        for name, tracker in self.trackers.items():
            tracker.update_state(values[name])
        return {name: t.result() for name, t in self.trackers.items()}

    def train_step(self, data):
        x, y = self._split(data)
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            values = self._objectives(x, y, True)
        g_vars, d_vars = self.generator.trainable_variables, self.discriminator.trainable_variables
        self.g_optimizer.apply_gradients(zip(g_tape.gradient(values["loss"], g_vars), g_vars))
        if self.alpha > 0:
            self.d_optimizer.apply_gradients(zip(d_tape.gradient(values["d_loss"], d_vars), d_vars))
        return self._update(values)

    def test_step(self, data):
        return self._update(self._objectives(*self._split(data), False))

    def save_own_variables(self, store):
        # The draws' generator states are saved too, so training resumes exactly after a reload.
        super().save_own_variables(store)
        for name, gen in self._draw_states():
            store[name] = gen.state.numpy()

    def load_own_variables(self, store):
        keys = list(store.keys())
        for name, gen in self._draw_states():
            if name in keys:
                gen.state.assign(np.asarray(store[name]))
        super().load_own_variables({k: store[k] for k in keys if not k.endswith("_seed_state")})

    def _draw_states(self):
        return (("target_seed_state", self.target_seed), ("gumbel_seed_state", self.gumbel_seed))

    def get_config(self):
        return {**super().get_config(), "classifier": keras.saving.serialize_keras_object(self.classifier),
                "family": self.family, "eps": self.eps, "severity": self.severity, "norm": self.norm,
                "mode": self.mode, "location": None if self.location is None else list(self.location),
                "width": self.width, "alpha": self.alpha, "beta": self.beta, "hinge_fraction": self.hinge_fraction,
                "kappa": self.kappa, "seed": self.seed}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["classifier"] = keras.saving.deserialize_keras_object(config["classifier"])
        return cls(**config)



def train_advgan(classifier, train_ds, *, epochs=5, seed=0, learning_rate=None, verbose=0, callbacks=(), **kwargs
                 ) -> AdvGAN:
    """Build, compile and ``fit`` an :class:`AdvGAN` against ``classifier`` on ``(image, label)`` batches.

    Args:
        classifier: the fixed Keras classifier attacked.
        train_ds: ``tf.data.Dataset`` of ``(image in [0, 1], int label)`` batches (training images only).
        epochs: training epochs.
        seed: seeds Keras's global generators and the model's draws (same seed, same weights).
        learning_rate: Adam learning rate of both players (default 3e-3 for the pixel family, 1e-2
            for the structured ones, whose few outputs move slowly at the smaller rate).
        verbose, callbacks: passed to ``fit``.
        **kwargs: :class:`AdvGAN` arguments (``family``, ``eps``, ``severity``, ``norm``, ``mode``, ...).

    Example:
        >>> ds, info = tf_featuretest.data.load("digits", "train", batch_size=64)
        >>> gan = train_advgan(model, ds, eps=0.3, mode="both", epochs=10)  # doctest: +SKIP
    """
    epochs = checks.positive_int(epochs, "epochs")
    seed = checks.seed(seed)
    if learning_rate is None:
        learning_rate = LEARNING_RATES[kwargs.get("family", "pixel") != "pixel"]
    lr = checks.positive(learning_rate, "learning_rate")
    keras.utils.set_random_seed(seed)
    gan = AdvGAN(classifier, seed=seed, **kwargs)
    gan.compile(g_optimizer=keras.optimizers.Adam(lr), d_optimizer=keras.optimizers.Adam(lr, beta_1=0.5))
    gan.fit(train_ds, epochs=epochs, verbose=verbose, callbacks=list(callbacks))
    return gan
