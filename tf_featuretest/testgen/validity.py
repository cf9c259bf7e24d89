"""The VAE-only validity checks of the pure-TensorFlow sampler (exported ``sample_tests``, the Keras callback).

These three checks run inside a graph without the label committee, so they answer only "does the
VAE find this image typical": (a) ``nearest_ok``: the training point whose latent mean is nearest
has the intended label; (b) ``reencode_ok``: the image's latent mean lies within ``radius`` of a
reference point; (c) ``elbo_ok``: the ELBO is at least a threshold taken from real data. They do
not measure whether a case keeps its label (the re-encode check measures the VAE's round trip):
the pipeline and ``featuretest testgen`` judge cases with :mod:`.checker` (committee + calibrated
density) instead.

Distances are Euclidean (the latent space's norm).
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

# Generated cases compared with the training latents at once: [chunk, M] distances at a time.
_CHUNK = 512


#: The default ELBO threshold: this percentile of the training images' ELBOs.
ELBO_PERCENTILE = 1.0


def elbo_threshold(vae, images, percentile=ELBO_PERCENTILE, batch_size=256) -> float:
    """The ``percentile``-th percentile of the ELBOs of ``images`` (real data) under ``vae``."""
    images = np.asarray(images, np.float32)
    elbos = np.concatenate([np.asarray(vae.elbo(images[i:i + batch_size])) for i in range(0, len(images), batch_size)])
    return float(np.percentile(elbos, percentile))


def sq_norms(z):
    return tf.reduce_sum(tf.square(z), axis=1)


def nearest_latent(z, train_latents):
    """Index and Euclidean distance of each row of ``z`` to its nearest row of ``train_latents``.

    Computed in chunks of rows so that memory stays at ``_CHUNK x M`` floats.
    """
    z = tf.cast(z, tf.float32)
    t = tf.cast(train_latents, tf.float32)
    t_sq = sq_norms(t)
    n = tf.shape(z)[0]
    idx_ta = tf.TensorArray(tf.int64, size=0, dynamic_size=True, infer_shape=False)
    dist_ta = tf.TensorArray(tf.float32, size=0, dynamic_size=True, infer_shape=False)

    def body(i, k, idx_ta, dist_ta):
        q = z[i:i + _CHUNK]
        d2 = sq_norms(q)[:, None] + t_sq[None, :] - 2.0 * tf.matmul(q, t, transpose_b=True)
        j = tf.argmin(d2, axis=1, output_type=tf.int64)
        exact = tf.sqrt(sq_norms(q - tf.gather(t, j)))
        return i + _CHUNK, k + 1, idx_ta.write(k, j), dist_ta.write(k, exact)

    _, _, idx_ta, dist_ta = tf.while_loop(lambda i, k, a, b: i < n, body,
                                          (tf.constant(0), tf.constant(0), idx_ta, dist_ta))
    return idx_ta.concat(), dist_ta.concat()


def check_cases(vae, images, labels, centers, radius, train_latents, train_labels, elbo_threshold,
                nearest_center=False, train_radius=None):
    """The three validity checks for generated ``images`` meant to have ``labels``.

    Args:
        vae: a VAE with ``encode`` and ``elbo``.
        images: generated images ``[N, H, W, C]``.
        labels: intended labels ``[N]``.
        centers: latent reference points ``[N, D]`` for check (b); ignored when ``nearest_center``.
        radius: scalar or ``[N]`` radii for check (b).
        train_latents, train_labels: the training set's latent means ``[M, D]`` and labels ``[M]``.
        elbo_threshold: scalar ELBO threshold for check (c).
        nearest_center: use each case's nearest training latent as its reference point.
        train_radius: with ``nearest_center``, optional ``[M]`` radii per training point (e.g. each
            point's margin r_i); the case's radius is that of its nearest training point.

    Returns:
        dict of tensors: ``z`` (latent means), ``nearest_index``, ``nearest_label``, ``nearest_ok``,
        ``reencode_distance``, ``reencode_ok``, ``elbo``, ``elbo_ok``, ``valid``.
    """
    labels = tf.cast(labels, tf.int64)
    z = tf.cast(vae.encode(images)[0], tf.float32)
    train_labels = tf.cast(train_labels, tf.int64)
    near_idx, near_dist = nearest_latent(z, train_latents)
    near_label = tf.gather(train_labels, near_idx)
    nearest_ok = tf.equal(near_label, labels)
    if nearest_center and train_radius is not None:
        radius = tf.gather(tf.cast(train_radius, tf.float32), near_idx)
    radius = tf.broadcast_to(tf.reshape(tf.cast(radius, tf.float32), [-1]), tf.shape(labels))
    if nearest_center:
        dist = near_dist
    else:
        dist = tf.sqrt(sq_norms(z - tf.cast(centers, tf.float32)))
    reencode_ok = dist <= radius
    elbo = tf.cast(vae.elbo(images), tf.float32)
    elbo_ok = elbo >= tf.cast(elbo_threshold, tf.float32)
    return {"z": z, "nearest_index": near_idx, "nearest_label": near_label, "nearest_ok": nearest_ok,
            "reencode_distance": dist, "reencode_ok": reencode_ok, "elbo": elbo, "elbo_ok": elbo_ok,
            "radius": radius, "valid": nearest_ok & reencode_ok & elbo_ok}
