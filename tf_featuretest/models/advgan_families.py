"""The supports an AdvGAN generator is confined to: a pixel budget or one structured noise family.

A family turns the generator's raw outputs into an adversarial image that lies, by construction,
inside the family's support at a given budget:

* ``pixel``: ``x + eps * tanh(r)`` (L-inf) or ``x + eps * tanh(|r|) r / |r|`` (L2), clipped to [0, 1];
* ``patch``: one square of side ``round(0.8 s side)`` (the ``occlusion`` noise's size) with free
  content, at a learned location or at a given one;
* ``sticker``: ``ceil(10 s)`` solid-colour squares of side ``round(0.8 (0.08 + 0.22 s) side)``
  (the ``patches`` noise's count, and its expected area per patch), learned colours and places;
* ``black_rows`` / ``black_columns``: ``round(0.8 s H)`` rows (or columns) set to black, learned which;
* ``brightness_contrast``: ``(x - mean) (1 + s c) + mean + s b`` with learned ``|b|, |c| <= 1``.

``s`` is the family's severity on the noise registry's scale, so a learned family and the random
draws of the matching noise spend the same budget. Learned choices (places, rows) are hard in the
forward pass and get straight-through Gumbel-softmax gradients in training (Jang et al., 2017).
Everything here is pure TensorFlow, callable inside ``tf.function`` and in a SavedModel.
"""
from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from .._util import checks
from ..errors import ConfigError

FAMILIES = ("pixel", "patch", "sticker", "black_rows", "black_columns", "brightness_contrast")
#: The noise of the registry whose random draws each structured family is compared with.
MATCHING_NOISE = {"patch": "occlusion", "sticker": "patches", "black_rows": "black_rows",
                  "black_columns": "black_columns", "brightness_contrast": ("brightness", "contrast")}
#: Candidate places per axis of a learned patch or sticker.
LOCATION_GRID = 16
#: Most stickers a generator can place (``ceil(10 s)`` at severity 1, as the ``patches`` noise).
MAX_STICKERS = 10
_TINY = 1e-12


def check_family(family) -> str:
    return checks.choice(family, "family", FAMILIES)


def linf_bound(eps) -> float:
    """The largest float32 not above ``eps``: the bound used, so ``|x' - x| <= eps`` holds even in float64."""
    e = np.float32(eps)
    if float(e) > float(eps):
        e = np.nextafter(e, np.float32(0))
    return float(e)


# The sizes are computed in float32 with round-half-to-even, as the noise registry computes them, so a
# budget gives exactly the noise's count. Each has a tensor form (inside graphs: one trace serves every
# budget) and a NumPy form with the same float32 operations in the same order (for checks, the hinge's
# scale and tests; it also works while a graph is being traced).
_F = np.float32


def _patch_side_tf(s, side):
    return tf.round(0.8 * s * float(side))


def _sticker_count_tf(s):
    return tf.math.ceil(s * float(MAX_STICKERS))


def _sticker_side_tf(s, side):
    return tf.maximum(tf.round(0.8 * (0.08 + 0.22 * s) * float(side)), 1.0)


def _line_count_tf(s, length):
    return tf.round(0.8 * s * float(length))


def patch_side(severity, image_shape) -> int:
    """Side in pixels of a learned patch: ``round(0.8 s min(H, W))``, the ``occlusion`` noise's square."""
    return int(np.round(_F(0.8) * _F(severity) * _F(min(image_shape[:2]))))


def sticker_count(severity) -> int:
    """Number of stickers at ``severity``: ``ceil(10 s)``, the ``patches`` noise's count."""
    return int(np.ceil(_F(severity) * _F(MAX_STICKERS)))


def sticker_side(severity, image_shape) -> int:
    """Side of one sticker: ``0.8 (0.08 + 0.22 s) min(H, W)`` rounded (at least 1 pixel).

    The ``patches`` noise draws each side as ``(0.6 + 0.4 u)`` times ``(0.08 + 0.22 s) min(H, W)``,
    so its expected area is ``0.8^2`` times the nominal square's: a learned square of side 0.8 times
    the nominal one covers the same area on average.
    """
    return max(1, int(np.round(_F(0.8) * (_F(0.08) + _F(0.22) * _F(severity)) * _F(min(image_shape[:2])))))


def line_count(severity, length) -> int:
    """Rows (or columns) blackened at ``severity``: ``round(0.8 s length)``, as the noise does."""
    return int(np.round(_F(0.8) * _F(severity) * _F(length)))


def max_l2(family, image_shape, budget, norm="inf") -> float:
    """The largest L2 norm of a change the family allows at ``budget`` (the hinge loss's scale)."""
    h, w, c = image_shape
    if family == "pixel":
        return float(budget) * (math.sqrt(h * w * c) if norm == "inf" else 1.0)
    if family == "patch":
        return patch_side(budget, image_shape) * math.sqrt(c)
    if family == "sticker":
        return math.sqrt(min(sticker_count(budget), MAX_STICKERS) * c) * sticker_side(budget, image_shape)
    if family in ("black_rows", "black_columns"):
        return math.sqrt(line_count(budget, h if family == "black_rows" else w) * (w if family == "black_rows" else h) * c)
    return 2.0 * float(budget) * math.sqrt(h * w * c)


def check_budget(family, budget, *, norm="inf", max_stickers=MAX_STICKERS) -> float:
    """``budget`` checked for ``family``: eps >= 0 (L-inf at most 1) or a severity in [0, 1]."""
    name = "eps" if family == "pixel" else "severity"
    if family == "pixel":
        return checks.fraction(budget, name) if norm == "inf" else checks.non_negative(budget, name)
    budget = checks.fraction(budget, name)
    if family == "sticker" and sticker_count(budget) > max_stickers:
        raise ConfigError(f"severity must be at most {max_stickers / MAX_STICKERS:g} for this sticker generator "
                          f"(trained with {max_stickers} stickers), got {budget!r}")
    return budget


def build_heads(family, f, image_shape, stickers=0):
    """The generator's output layers of ``family`` on the decoder's features ``f`` (a dict of raw outputs)."""
    h, w, c = image_shape
    g = LOCATION_GRID

    def place_logits(channels, name):
        t = keras.layers.Conv2D(channels, 3, padding="same", name=f"{name}_conv")(f)
        return keras.layers.Resizing(g, g, interpolation="bilinear", name=f"{name}_grid")(t)

    if family == "pixel":
        return {"delta": keras.layers.Conv2D(c, 3, padding="same", name="delta")(f)}
    if family == "patch":
        content = keras.layers.Conv2D(c, 3, padding="same", activation="sigmoid", name="content")(f)
        place = keras.layers.Flatten(name="place")(place_logits(1, "place"))
        return {"content": content, "place": place}
    if family == "sticker":
        k = stickers
        places = keras.layers.Permute((3, 1, 2), name="places_first")(place_logits(k, "places"))
        places = keras.layers.Reshape((k, g * g), name="places")(places)
        pooled = keras.layers.GlobalAveragePooling2D(name="pool")(f)
        colours = keras.layers.Dense(k * c, activation="sigmoid", name="colours_dense")(pooled)
        return {"colours": keras.layers.Reshape((k, c), name="colours")(colours), "places": places}
    if family in ("black_rows", "black_columns"):
        t = keras.layers.Conv2D(1, 3, padding="same", name="line_conv")(f)
        pool = (1, w) if family == "black_rows" else (h, 1)
        t = keras.layers.AveragePooling2D(pool, name="line_pool")(t)
        return {"lines": keras.layers.Flatten(name="lines")(t)}
    pooled = keras.layers.GlobalAveragePooling2D(name="pool")(f)
    return {"shift": keras.layers.Dense(2, activation="tanh", name="shift")(pooled)}


# ----------------------------------------------------------------------------- pure-TF pieces


def _place_masks(size, length, grid=LOCATION_GRID):
    """``[grid, length]`` float32: row ``i`` marks ``size`` pixels from ``round(i (length - size) / (grid - 1))``."""
    tops = tf.round(tf.range(grid, dtype=tf.float32) * (float(length) - size) / max(grid - 1, 1))[:, None]
    p = tf.range(length, dtype=tf.float32)[None]
    return tf.cast((p >= tops) & (p < tops + size), tf.float32)


def _given_mask(size, image_shape, location):
    h, w = image_shape[:2]
    top, left = tf.round(location[0] * (float(h) - size)), tf.round(location[1] * (float(w) - size))
    rows = tf.range(h, dtype=tf.float32)[:, None]
    cols = tf.range(w, dtype=tf.float32)[None]
    inside = (rows >= top) & (rows < top + size) & (cols >= left) & (cols < left + size)
    return tf.cast(inside, tf.float32)[None]


def _gumbel(u):
    u = tf.clip_by_value(u, 1e-6, 1.0 - 1e-6)
    return -tf.math.log(-tf.math.log(u))


def one_hot_choice(logits, uniform=None):
    """A one-hot choice along the last axis: argmax (inference), or Gumbel-max with a straight-through
    softmax gradient when ``uniform`` noise of the same shape is given (training)."""
    if uniform is None:
        return tf.one_hot(tf.argmax(logits, -1), tf.shape(logits)[-1], dtype=logits.dtype)
    y = logits + _gumbel(uniform)
    soft = tf.nn.softmax(y, -1)
    hard = tf.one_hot(tf.argmax(y, -1), tf.shape(y)[-1], dtype=y.dtype)
    return hard + soft - tf.stop_gradient(soft)


def top_k_mask(scores, k, uniform=None):
    """``[N, L]`` mask of the ``k`` highest scores (Gumbel-perturbed, straight-through, in training).

    ``k`` may be a scalar tensor; exactly ``k`` lines are marked (ties go to the earlier line).
    """
    y = scores if uniform is None else scores + _gumbel(uniform)
    k = tf.cast(k, tf.int32)
    ranks = tf.argsort(tf.argsort(y, axis=-1, direction="DESCENDING", stable=True), axis=-1, stable=True)
    hard = tf.cast(ranks < k, y.dtype)
    if uniform is None:
        return hard
    soft = tf.minimum(tf.cast(k, y.dtype) * tf.nn.softmax(y, -1), 1.0)
    return hard + soft - tf.stop_gradient(soft)


def _box_mask(logits, size, image_shape, uniform):
    """``[N, H, W]`` mask of one square placed by ``logits [N, G*G]`` (one grid place, hard)."""
    h, w = image_shape[:2]
    choice = tf.reshape(one_hot_choice(logits, uniform), [-1, LOCATION_GRID, LOCATION_GRID])
    return tf.einsum("nij,ih,jw->nhw", choice, _place_masks(size, h), _place_masks(size, w))


def _paste(x, mask, content):
    m = mask[..., None]
    return x * (1.0 - m) + content * m


def _exact_linf(x_adv, x, eps):
    """Nudge values one float32 step toward ``x`` where ``|x' - x|`` (exact, in float64) exceeds ``eps``."""
    x64, e = tf.cast(x, tf.float64), tf.cast(eps, tf.float64)
    for _ in range(2):
        d = tf.cast(x_adv, tf.float64) - x64
        x_adv = tf.where(tf.abs(d) > e, tf.math.nextafter(x_adv, x), x_adv)
    return x_adv


def apply_family(family, x, raw, budget, image_shape, *, norm="inf", location=None, noise=None):
    """The adversarial images of ``family`` from the generator's raw outputs ``raw`` (a dict).

    Args:
        family: one of :data:`FAMILIES`.
        x: float32 ``[N, H, W, C]`` images in [0, 1].
        raw: the generator's outputs: ``delta`` (pixel), ``content`` and ``place`` (patch),
            ``colours`` and ``places`` (sticker), ``lines`` (rows/columns), ``shift`` (brightness/contrast).
        budget: eps (pixel) or severity (structured families): a Python float, or a float32 scalar
            tensor (one trace serves every budget; for the L-inf pixel family pass ``linf_bound(eps)``).
        image_shape: ``(H, W, C)``.
        norm: ``"inf"`` or ``2`` (pixel family).
        location: ``(fy, fx)`` in [0, 1] to place a patch at a given spot (None: learned).
        noise: ``callable(shape) -> uniform [0, 1) tensor`` for training's Gumbel noise; None: inference.

    Returns:
        Images in [0, 1], inside the family's support at ``budget``.
    """
    if not tf.is_tensor(budget):
        if float(budget) == 0.0:
            return x
        budget = linf_bound(budget) if family == "pixel" and norm == "inf" else float(budget)
    s = tf.cast(budget, tf.float32)
    draw = (lambda shape: None) if noise is None else noise
    side = min(image_shape[:2])
    if family == "pixel":
        r = raw["delta"]
        if norm == "inf":
            return _exact_linf(tf.clip_by_value(x + s * tf.tanh(r), 0.0, 1.0), x, s)
        n = tf.sqrt(tf.reduce_sum(tf.square(r), axis=[1, 2, 3], keepdims=True))
        scale = s * (1.0 - 2.0 ** -20) * tf.tanh(n) / tf.maximum(n, _TINY)
        return tf.clip_by_value(x + scale * r, 0.0, 1.0)
    if family == "patch":
        size = _patch_side_tf(s, side)
        if location is not None:
            mask = tf.broadcast_to(_given_mask(size, image_shape, location), tf.shape(x)[:3])
        else:
            mask = _box_mask(raw["place"], size, image_shape, draw(tf.shape(raw["place"])))
        return tf.clip_by_value(_paste(x, mask, raw["content"]), 0.0, 1.0)
    if family == "sticker":
        size, count, out = _sticker_side_tf(s, side), _sticker_count_tf(s), x
        for k in range(int(raw["places"].shape[1])):  # the stickers beyond ceil(10 s) are masked out
            logits = raw["places"][:, k]
            mask = _box_mask(logits, size, image_shape, draw(tf.shape(logits))) * tf.cast(k < count, tf.float32)
            out = _paste(out, mask, raw["colours"][:, k, None, None, :])
        return tf.clip_by_value(out, 0.0, 1.0)
    if family in ("black_rows", "black_columns"):
        axis = 1 if family == "black_rows" else 2
        scores = raw["lines"]
        mask = top_k_mask(scores, _line_count_tf(s, image_shape[axis - 1]), draw(tf.shape(scores)))
        keep = 1.0 - (mask[:, :, None, None] if axis == 1 else mask[:, None, :, None])
        return x * keep
    shift = raw["shift"]
    mean = tf.reduce_mean(x, axis=[1, 2], keepdims=True)
    b, c = (tf.reshape(shift[:, i], [-1, 1, 1, 1]) for i in (0, 1))
    return tf.clip_by_value((x - mean) * (1.0 + s * c) + mean + s * b, 0.0, 1.0)
