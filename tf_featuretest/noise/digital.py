"""Digital corruptions: brightness, contrast, saturation, JPEG, pixelation and elastic transform.

Level functions ``fn(x, c, seed)`` take the reference's parameter ``c`` (:mod:`.presets`):

- ``brightness`` / ``saturate``: scikit-image ``rgb2hsv``, value ``+ c`` / saturation ``* c[0] + c[1]``
  clipped to [0, 1], ``hsv2rgb``. Grey images are RGB with equal channels (the reference converts
  every image to RGB); a grey ``saturate`` returns the mean of the RGB result's channels;
- ``contrast``: ``(x - mean) c + mean`` with per-channel image means;
- ``jpeg_compression``: PIL's JPEG round trip at quality ``c`` (libjpeg, accurate integer DCT);
- ``pixelate``: PIL ``resize((int(w c), int(h c)), BOX)`` then ``resize((w, h), BOX)`` (``int()``
  truncates), as two matrix products per axis with Pillow's box coefficients;
- ``elastic_transform``: OpenCV ``warpAffine`` (reflect-101 borders) by a random affine map that moves
  three points by up to ``c[2]`` pixels, then ``scipy.ndimage.map_coordinates(order=1, mode="reflect")``
  at displacements ``c[0]`` x a Gaussian-smoothed (sigma ``c[1]``, reflect borders, truncate 3) uniform
  field in [-1, 1].
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from .._util.seeds import sub_seed
from . import kernels
from .registry import corruption


def _hsv_apply(x, fn):
    rgb = x if int(x.shape[-1]) == 3 else tf.repeat(x[..., :1], 3, axis=-1)
    out = tf.image.hsv_to_rgb(fn(tf.image.rgb_to_hsv(rgb)))
    return out if int(x.shape[-1]) == 3 else tf.reduce_mean(out, -1, keepdims=True)


def brightness_level(x, c, seed):
    """The reference's ``brightness``: HSV value ``+ c``, clipped."""
    del seed
    if int(x.shape[-1]) != 3:
        return tf.clip_by_value(x + c, 0.0, 1.0)
    return _hsv_apply(x, lambda hsv: tf.concat([hsv[..., :2], tf.clip_by_value(hsv[..., 2:] + c, 0.0, 1.0)], -1))


def saturate_level(x, c, seed):
    """The reference's ``saturate``: HSV saturation ``* c[0] + c[1]``, clipped."""
    del seed
    if int(x.shape[-1]) == 1:  # grey: hue 0, saturation min(c[1], 1): RGB (v, v (1 - s), v (1 - s)), mean taken
        return x * (1.0 - 2.0 * min(max(float(c[1]), 0.0), 1.0) / 3.0)
    return _hsv_apply(x, lambda hsv: tf.concat(
        [hsv[..., :1], tf.clip_by_value(hsv[..., 1:2] * c[0] + c[1], 0.0, 1.0), hsv[..., 2:]], -1))


def contrast_level(x, c, seed):
    """The reference's ``contrast``: ``(x - mean) c + mean``, per channel."""
    del seed
    mean = tf.reduce_mean(x, axis=[1, 2], keepdims=True)
    return (x - mean) * c + mean


@corruption("brightness")
def brightness(x, s, seed):
    """Add ``s`` to the HSV value channel (RGB) or to the intensity (grey), as ImageNet-C does."""
    return brightness_level(x, s, seed)


@corruption("contrast")
def contrast(x, s, seed):
    """Scale the distance to each image's per-channel mean by ``1 - s``."""
    return contrast_level(x, 1.0 - s, seed)


def jpeg_quality(s):
    """JPEG quality ``round(100 (1 - s)^2)`` clipped to 1..100, as an int32 tensor."""
    return tf.cast(tf.clip_by_value(tf.round(100.0 * tf.square(1.0 - s)), 1.0, 100.0), tf.int32)


def _jpeg_round_trip(im, quality):
    u8 = tf.cast(tf.round(tf.clip_by_value(im, 0.0, 1.0) * 255.0), tf.uint8)
    data = tf.raw_ops.EncodeJpegVariableQuality(images=u8, quality=quality)
    return tf.cast(tf.io.decode_jpeg(data, channels=int(im.shape[-1]), dct_method="INTEGER_ACCURATE"), tf.float32) / 255.0


def jpeg_level(x, c, seed):
    """A JPEG round trip at quality ``c``: libjpeg with 4:2:0 chroma, decoded with the accurate integer DCT.

    That is PIL's ``save(..., "JPEG", quality=c)`` and ``Image.open`` (equal to 1e-8 in the tests). Any channel
    count (other than 1 and 3: each channel as a grey image).
    """
    del seed
    ch = int(x.shape[-1])
    q = tf.cast(c, tf.int32)
    imgs = x if ch in (1, 3) else tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [-1, x.shape[1], x.shape[2], 1])
    out = tf.map_fn(lambda im: _jpeg_round_trip(im, q), imgs,
                    fn_output_signature=tf.TensorSpec(imgs.shape[1:], tf.float32))
    if ch in (1, 3):
        return out
    return tf.transpose(tf.reshape(out, [-1, ch, x.shape[1], x.shape[2]]), [0, 2, 3, 1])


@corruption("jpeg")
def jpeg(x, s, seed):
    """JPEG round trip (as PIL's) at quality ``100 (1 - s)^2``; any channel count."""
    return jpeg_level(x, jpeg_quality(s), seed)


def pixelate_matrix(length: int, small):
    """``[L, L]``: PIL BOX down to ``small`` pixels (an int or int tensor), then BOX back up to ``length``."""
    m = tf.matmul(kernels.pil_box_matrix(small, length), kernels.pil_box_matrix(length, small))
    return tf.ensure_shape(m, [length, length])


def pixelate_level(x, c, seed):
    """The reference's ``pixelate``: BOX-resize to ``int(side c)`` and back."""
    del seed
    h, w = int(x.shape[1]), int(x.shape[2])
    return kernels.separable(x, pixelate_matrix(h, max(int(h * c), 1)), pixelate_matrix(w, max(int(w * c), 1)))


@corruption("pixelate")
def pixelate(x, s, seed):
    """PIL BOX-downsample to ``int((1 - 0.9 s) side)`` pixels, then BOX-upsample back (the reference's rule)."""
    del seed
    h, w = int(x.shape[1]), int(x.shape[2])
    f = 1.0 - 0.9 * s

    def matrix(length):
        return pixelate_matrix(length, tf.cast(tf.maximum(tf.floor(length * f), 1.0), tf.int32))

    return kernels.separable(x, matrix(h), matrix(w))


def affine_from_points(src, dst):
    """Per-image ``[N, 2, 3]`` affine maps taking the three points ``src [3, 2]`` to ``dst [N, 3, 2]``."""
    a = np.concatenate([np.asarray(src, np.float64), np.ones((3, 1))], 1)  # [3, 3] rows (x, y, 1)
    return tf.transpose(tf.einsum("ij,njk->nik", tf.constant(np.linalg.inv(a)), tf.cast(dst, tf.float64)), [0, 2, 1])


def elastic_transform_level(x, c, seed):
    """The reference's ``elastic_transform`` with ``(alpha, sigma, affine) = c`` in pixels."""
    alpha, sigma, shift = (float(v) for v in c)
    n, h, w = tf.shape(x)[0], int(x.shape[1]), int(x.shape[2])
    center = np.array([h // 2, w // 2], np.float64)  # the reference's float32(shape[:2]) // 2, used as (x, y)
    sq = min(h, w) // 3
    pts1 = np.array([center + sq, [center[0] + sq, center[1] - sq], center - sq], np.float32)
    pts2 = pts1[None] + tf.random.stateless_uniform([n, 3, 2], sub_seed(seed, 0), -shift, shift)
    m = affine_from_points(pts1, pts2)  # src -> dst; warpAffine samples the source at the inverse map
    full = tf.concat([m, tf.broadcast_to(tf.constant([[[0.0, 0.0, 1.0]]], tf.float64), [n, 1, 3])], 1)
    inv = tf.cast(tf.linalg.inv(full), tf.float32)
    cols, rows = tf.meshgrid(tf.range(w, dtype=tf.float32), tf.range(h, dtype=tf.float32))
    src_c = inv[:, 0, 0, None, None] * cols + inv[:, 0, 1, None, None] * rows + inv[:, 0, 2, None, None]
    src_r = inv[:, 1, 0, None, None] * cols + inv[:, 1, 1, None, None] * rows + inv[:, 1, 2, None, None]
    warped = kernels.sample_bilinear(x, src_r, src_c, "mirror")
    gy = kernels.gaussian_matrix(h, sigma, mode="reflect", truncate=3.0)
    gx = kernels.gaussian_matrix(w, sigma, mode="reflect", truncate=3.0)
    field = tf.random.stateless_uniform([n, h, w, 2], sub_seed(seed, 1), -1.0, 1.0)
    field = kernels.separable(field, gy, gx) * alpha  # [..., 0] = dx (columns), [..., 1] = dy (rows)
    return kernels.sample_bilinear(warped, rows[None] + field[..., 1], cols[None] + field[..., 0], "reflect")
