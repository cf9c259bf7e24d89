"""The functions behind each exported signature, as ``(name, fn, input_signature)`` endpoints.

Every function is pure TensorFlow (it is traced once by ``keras.export.ExportArchive``, with
autograph off), takes named tensors and returns a dict of named tensors, which is what a
SavedModel signature and TF Serving's REST API expose. Scalar parameters are rank-0 tensors.
:mod:`.artifacts` writes them to disk.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from ..attacks.cw import cw_tf
from ..attacks.ddn import ddn_tf
from ..attacks.feature_space import feature_space_tf, joint_model
from ..attacks.fgsm import fgsm_tf
from ..attacks.perceptual import perceptual_tf
from ..attacks.pgd import pgd_tf
from ..errors import ConfigError, ModelError
from ..models.introspection import feature_model
from ..testgen.latent import sample_latent_tests_tf
from ..testgen.separation import encode_features
from ..testgen.validity import elbo_threshold as training_elbo_threshold


def _spec(shape, dtype, name):

    return tf.TensorSpec(shape, dtype, name=name)


def model_image_shape(model) -> tuple:
    """``(H, W, C)`` of a single-input image model, which must be fully known."""
    shape = model.input_shape
    if isinstance(shape, list):
        if len(shape) != 1:
            raise ModelError(f"model {model.name!r} has {len(shape)} inputs; export needs one image input")
        shape = shape[0]
    shape = tuple(shape[1:])
    if len(shape) != 3 or any(v is None for v in shape):
        raise ModelError(f"model {model.name!r} needs a fixed (height, width, channels) input, got {shape}")
    return tuple(int(v) for v in shape)


def _logits(model, x):

    return tf.cast(model(x, training=False), tf.float32)


# ----------------------------------------------------------------------------- classifier


def classifier_endpoints(model, class_names, image_shape, *, top_k=5, feature_layer=None):
    """``serving_default`` and ``features`` for a logits classifier."""

    fmodel = feature_model(model, feature_layer)
    k = min(int(top_k), len(class_names))
    names = list(class_names)
    dim = int(np.prod(fmodel.output_shape[1:]))

    def serving_default(image):
        logits = _logits(model, image)
        probs = tf.nn.softmax(logits, axis=-1)
        top_p, top_i = tf.math.top_k(probs, k=k)
        return {"logits": logits, "probabilities": probs, "top_k_classes": tf.cast(top_i, tf.int32),
                "top_k_probabilities": top_p, "top_k_names": tf.gather(tf.constant(names), top_i)}

    def features(image):
        feats = tf.cast(fmodel(image, training=False), tf.float32)
        return {"features": tf.reshape(feats, [-1, dim])}

    image = [_spec([None, *image_shape], tf.float32, "image")]
    return [("serving_default", serving_default, image), ("features", features, image)]


# ----------------------------------------------------------------------------- attacks


def attack_endpoints(model, image_shape, *, centroids=None, feature_layer=None, steps=60, advgan=None):
    """``fgsm``, ``pgd``, ``feature_space`` (with ``centroids``), ``advgan`` (with a generator); variable collections."""

    def predicted(adv):
        return tf.argmax(_logits(model, adv), axis=-1, output_type=tf.int64)

    def fgsm(image, label, eps, target):
        adv = fgsm_tf(model, image, label, eps, target)
        return {"adversarial": adv, "predicted": predicted(adv)}

    def pgd(image, label, eps, step_size, steps, target):
        adv = pgd_tf(model, image, label, eps, step_size, steps, target)
        return {"adversarial": adv, "predicted": predicted(adv)}

    image = _spec([None, *image_shape], tf.float32, "image")
    label = _spec([None], tf.int64, "label")
    eps = _spec([], tf.float32, "eps")
    target = _spec([], tf.int64, "target")
    endpoints = [("fgsm", fgsm, [image, label, eps, target]),
                 ("pgd", pgd, [image, label, eps, _spec([], tf.float32, "step_size"), _spec([], tf.int32, "steps"),
                               target])]
    endpoints += minimal_endpoints(model, predicted, image, target)
    variables = []
    if centroids is not None:
        array = np.asarray(getattr(centroids, "centroids", centroids), np.float32)
        layer = feature_layer or getattr(centroids, "layer", None)
        if array.ndim != 3 or array.shape[0] != int(model.output_shape[-1]):
            raise ConfigError(f"centroids must be [num_classes, k, features], got shape {array.shape}")
        fmodel = joint_model(model, layer)  # features and logits in one pass
        table = tf.Variable(array, trainable=False, name="class_centroids")
        n_steps = int(steps)
        if n_steps < 1:
            raise ConfigError(f"feature_space steps must be a positive integer, got {steps!r}")

        def feature_space(image, target, eps):
            adv = feature_space_tf(model, fmodel, table, image, target, eps, n_steps)
            probs = tf.nn.softmax(_logits(model, adv), axis=-1)
            pred = tf.argmax(probs, axis=-1, output_type=tf.int64)
            return {"adversarial": adv, "predicted": pred, "confidence": tf.reduce_max(probs, axis=-1)}

        endpoints.append(("feature_space", feature_space, [image, target, eps]))
        variables.append(("class_centroids", [table]))
    if advgan is not None:
        endpoints.append(advgan_endpoint(advgan, predicted, image, target))
    return endpoints, variables


#: Iterations of the exported minimal-change attacks (C&W: per binary-search step).
PERCEPTUAL_STEPS, CW_STEPS, CW_BINARY_STEPS, DDN_STEPS = 50, 100, 5, 100


def _cap_box(image, cap):
    """The L-inf box ``[x - cap, x + cap]`` inside ``[0, 1]`` (``cap >= 1``: the whole of ``[0, 1]``)."""
    return tf.maximum(image - cap, 0.0), tf.minimum(image + cap, 1.0)


def minimal_endpoints(model, predicted, image, target):
    """``perceptual``, ``cw`` and ``ddn``: ``(image, target, cap) -> {adversarial, predicted}``.

    Each searches for the smallest change that makes ``model`` say ``target`` (one target for the
    whole batch); ``cap`` bounds the change in L-inf (1: no bound). C&W and the perceptual attack
    search inside the capped box; DDN searches freely and its answer is clipped to it.
    """
    cap = _spec([], tf.float32, "cap")

    def per_image(image, target):
        return tf.fill([tf.shape(image)[0]], tf.cast(target, tf.int32))

    def cw(image, target, cap):
        lo, hi = _cap_box(image, cap)
        adv, _ = cw_tf(model, image, per_image(image, target), lo, hi, steps=CW_STEPS, binary_steps=CW_BINARY_STEPS)
        return {"adversarial": adv, "predicted": predicted(adv)}

    def ddn(image, target, cap):
        y = tf.argmax(_logits(model, image), axis=-1, output_type=tf.int32)
        adv, _ = ddn_tf(model, image, y, per_image(image, target), steps=DDN_STEPS, seed=tf.constant([0, 0], tf.int32))
        lo, hi = _cap_box(image, cap)
        adv = tf.clip_by_value(adv, lo, hi)
        return {"adversarial": adv, "predicted": predicted(adv)}

    def perceptual(image, target, cap):
        lo, hi = _cap_box(image, cap)
        adv, _, _ = perceptual_tf(model, image, per_image(image, target), lo, hi, steps=PERCEPTUAL_STEPS)
        return {"adversarial": adv, "predicted": predicted(adv)}

    return [("perceptual", perceptual, [image, target, cap]), ("cw", cw, [image, target, cap]),
            ("ddn", ddn, [image, target, cap])]


def advgan_endpoint(generator, predicted, image, target):
    """``advgan(image[, target]) -> {adversarial, predicted}``: one AdvGAN pass at its training budget.

    The target input (``-1``: untargeted) exists when the generator was trained targeted.
    """
    if tuple(generator.image_shape) != tuple(image.shape[1:]):
        raise ConfigError(f"the AdvGAN generator takes images {tuple(generator.image_shape)}, the model "
                          f"{tuple(image.shape[1:])}")
    if generator.mode == "untargeted":
        def advgan(image):
            adv = generator.perturb(image)
            return {"adversarial": adv, "predicted": predicted(adv)}

        return "advgan", advgan, [image]

    def advgan_targeted(image, target):
        if generator.mode == "targeted":
            tf.debugging.assert_non_negative(target, message="this generator was trained targeted only")
        adv = generator.perturb(image, target)
        return {"adversarial": adv, "predicted": predicted(adv)}

    return "advgan", advgan_targeted, [image, target]


# ----------------------------------------------------------------------------- vae


def vae_endpoints(vae, image_shape, train_images, train_labels, *, elbo_threshold=None, batch_size=256):
    """``encode``, ``decode``, ``sample_tests``; the stored training latents; the ELBO threshold used."""

    train_images = np.asarray(train_images, np.float32)
    train_labels = np.asarray(train_labels, np.int64)
    if len(train_images) == 0 or len(train_images) != len(train_labels):
        raise ConfigError(f"need equal, non-zero numbers of training images and labels, got "
                          f"{len(train_images)} and {len(train_labels)}")
    latents = encode_features(vae, train_images, batch_size)
    if elbo_threshold is None:
        elbo_threshold = training_elbo_threshold(vae, train_images, batch_size=batch_size)
    z_var = tf.Variable(latents, trainable=False, name="train_latents")
    y_var = tf.Variable(train_labels, trainable=False, name="train_labels")
    threshold = float(elbo_threshold)
    latent_dim = latents.shape[1]

    def encode(image):
        z_mean, z_log_var = vae.encode(image)
        return {"z_mean": tf.cast(z_mean, tf.float32), "z_log_var": tf.cast(z_log_var, tf.float32)}

    def decode(z):
        return {"image": tf.cast(vae.decode(z), tf.float32)}

    def sample_tests(anchors, anchor_labels, count, radius, seed):
        out = sample_latent_tests_tf(vae, anchors, anchor_labels, count, radius, seed, z_var, y_var,
                                     tf.constant(threshold, tf.float32))
        return {"images": tf.cast(out["images"], tf.float32), "labels": tf.cast(out["labels"], tf.int64),
                "valid": tf.cast(out["valid"], tf.bool)}

    image = _spec([None, *image_shape], tf.float32, "image")
    endpoints = [("encode", encode, [image]),
                 ("decode", decode, [_spec([None, latent_dim], tf.float32, "z")]),
                 ("sample_tests", sample_tests,
                  [_spec([None, *image_shape], tf.float32, "anchors"), _spec([None], tf.int64, "anchor_labels"),
                   _spec([], tf.int32, "count"), _spec([], tf.float32, "radius"), _spec([], tf.int32, "seed")])]
    return endpoints, [("train_latents", [z_var, y_var])], threshold


# ----------------------------------------------------------------------------- generator


def gan_latent_dim(gan) -> int:
    """Noise size of a conditional DCGAN's generator."""
    dim = getattr(gan, "latent_dim", None)
    if dim is None:
        dim = gan.generator.inputs[0].shape[-1]
    return int(dim)


def generator_endpoints(gan):
    """``generate(labels int64 [None], seed int32 []) -> {images}``."""

    def generate(labels, seed):
        # ConditionalDCGAN.generate with a tensor seed draws stateless_normal(seed=[seed, 0]) noise
        return {"images": tf.cast(gan.generate(labels, seed=seed), tf.float32)}

    return [("generate", generate, [_spec([None], tf.int64, "labels"), _spec([], tf.int32, "seed")])]


# ----------------------------------------------------------------------------- label committee


def judge_endpoints(committee, image_shape):
    """``votes(image) -> {probabilities [N, M, K]}``: every committee member's class probabilities.

    Network members answer through softmax of their logits; a k-NN member (``PixelKNN``) is
    rebuilt in the graph from its pooled reference images, kept as variables. Returns
    ``(endpoints, variables)``.
    """
    parts, variables = [], []
    for name, member in committee.members.items():
        if hasattr(member, "reference"):
            ref = tf.Variable(member.reference, trainable=False, name=f"{name}_reference")
            ref_sq = tf.Variable(member.reference_sq, trainable=False, name=f"{name}_reference_sq")
            labels = tf.Variable(tf.cast(member.labels, tf.int64), trainable=False, name=f"{name}_labels")
            variables.append((f"{name}_reference", [ref, ref_sq, labels]))
            parts.append(_knn_part(ref, ref_sq, labels, pool=int(member.pool), k=int(member.k),
                                   num_classes=int(committee.num_classes)))
        else:
            parts.append(lambda x, m=member: tf.nn.softmax(tf.cast(m(x, training=False), tf.float32), axis=-1))

    def votes(image):
        return {"probabilities": tf.stack([p(image) for p in parts], axis=1)}

    return [("votes", votes, [_spec([None, *image_shape], tf.float32, "image")])], variables


def _knn_part(ref, ref_sq, labels, *, pool, k, num_classes):
    def part(x):
        if pool > 1:
            x = tf.nn.avg_pool2d(x, pool, pool, "VALID")
        q = tf.reshape(x, [tf.shape(x)[0], -1])
        d2 = tf.reduce_sum(tf.square(q), axis=1, keepdims=True) + ref_sq[None, :] - 2.0 * tf.matmul(q, ref,
                                                                                                   transpose_b=True)
        _, idx = tf.math.top_k(-d2, k=k)
        return tf.reduce_sum(tf.one_hot(tf.gather(labels, idx), num_classes), axis=1) / float(k)

    return part
