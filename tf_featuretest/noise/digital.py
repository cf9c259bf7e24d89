"""Digital corruptions: brightness, contrast, JPEG compression and pixelation."""
from __future__ import annotations

import tensorflow as tf

from .registry import corruption


@corruption("brightness")
def brightness(x, s, seed):
    """Add ``s`` to the HSV value channel (RGB) or to the intensity (grey), as ImageNet-C does."""
    del seed
    if int(x.shape[-1]) != 3:
        return x + s
    hsv = tf.image.rgb_to_hsv(x)
    value = tf.clip_by_value(hsv[..., 2:] + s, 0.0, 1.0)
    return tf.image.hsv_to_rgb(tf.concat([hsv[..., :2], value], -1))


@corruption("contrast")
def contrast(x, s, seed):
    """Scale the distance to each image's per-channel mean by ``1 - s``."""
    del seed
    mean = tf.reduce_mean(x, axis=[1, 2], keepdims=True)
    return (x - mean) * (1.0 - s) + mean


def jpeg_quality(s):
    """JPEG quality ``round(100 (1 - s)^2)`` clipped to 1..100, as an int32 tensor."""
    return tf.cast(tf.clip_by_value(tf.round(100.0 * tf.square(1.0 - s)), 1.0, 100.0), tf.int32)


@corruption("jpeg")
def jpeg(x, s, seed):
    """JPEG round trip (``tf.image.adjust_jpeg_quality``) at quality ``100 (1 - s)^2``; any channel count."""
    del seed
    c = int(x.shape[-1])
    q = jpeg_quality(s)
    imgs = x if c in (1, 3) else tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [-1, x.shape[1], x.shape[2], 1])
    out = tf.map_fn(lambda im: tf.image.adjust_jpeg_quality(im, q), imgs,
                    fn_output_signature=tf.TensorSpec(imgs.shape[1:], tf.float32))
    if c in (1, 3):
        return out
    return tf.transpose(tf.reshape(out, [-1, c, x.shape[1], x.shape[2]]), [0, 2, 3, 1])


@corruption("pixelate")
def pixelate(x, s, seed):
    """Area-downsample to ``1 - 0.9 s`` of the size, then nearest-neighbour upsample back."""
    del seed
    h, w = int(x.shape[1]), int(x.shape[2])
    f = 1.0 - 0.9 * s
    size = tf.cast(tf.maximum(tf.round(tf.stack([h * f, w * f])), 1.0), tf.int32)
    small = tf.image.resize(x, size, method="area")
    return tf.image.resize(small, [h, w], method="nearest")
