"""How alike two image batches look: SSIM, PSNR and per-image L-inf / L2 distances (pure TensorFlow / NumPy).

SSIM (Wang et al., 2004) uses TensorFlow's implementation with an 11x11 Gaussian window, shrunk to
the image side for small images. PSNR counts identical images as 100 dB.

Example:
    >>> float(ssim(x, x)[0])  # doctest: +SKIP
    1.0
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf


def ssim(a, b):
    """Per-image SSIM between two ``[N, H, W, C]`` batches in [0, 1] (a ``tf.Tensor`` ``[N]``)."""
    fs = int(min(11, a.shape[1], a.shape[2]))
    return tf.image.ssim(a, b, max_val=1.0, filter_size=fs)


def image_stats(x, x_adv):
    """Per-image ``(linf, l2, psnr, ssim)`` NumPy arrays between two batches in [0, 1]."""
    x = np.asarray(x, np.float32)
    x_adv = np.asarray(x_adv, np.float32)
    diff = (x_adv - x).reshape(len(x), -1)
    linf = np.abs(diff).max(axis=1) if diff.size else np.zeros(len(x))
    l2 = np.sqrt((diff ** 2).sum(axis=1))
    mse = (diff ** 2).mean(axis=1)
    psnr = np.where(mse > 0, 10.0 * np.log10(1.0 / np.maximum(mse, 1e-20)), 100.0)
    s = ssim(tf.constant(x_adv), tf.constant(x)).numpy() if len(x) else np.zeros(0)
    return linf, l2, psnr, s
