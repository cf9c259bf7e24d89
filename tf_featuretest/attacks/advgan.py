"""The AdvGAN attack: one forward pass of a generator trained against a classifier (Xiao et al., 2018).

The generator (:class:`~tf_featuretest.models.advgan.AdvGAN`) is trained once; attacking a batch
is then a single pass, with no gradient of the attacked model and no iterations. :func:`advgan`
is the registered attack for generators of the ``pixel`` family (``|x' - x|_inf <= eps`` or
``|x' - x|_2 <= eps``); :func:`advgan_family` runs a generator of a structured noise family at a
severity. The attacked ``model`` only supplies the class count and the label check: the same
adversarial images can be scored on any classifier (transfer).

Example:
    >>> gen = train_advgan(model, train_ds, eps=0.3, mode="both")  # doctest: +SKIP
    >>> x_adv = advgan(model, x, y, eps=0.3, generator=gen)  # doctest: +SKIP
    >>> x_tgt = advgan(model, x, y, eps=0.3, target=7, generator=gen)  # doctest: +SKIP
"""
from __future__ import annotations

import weakref

import numpy as np
import tensorflow as tf

from .._util import cache
from ..errors import ConfigError
from ..models.advgan import AdvGAN
from ..models.advgan_families import MAX_STICKERS, check_budget, linf_bound
from ..models.introspection import as_logits_model, compiled_predict, num_classes
from . import _ops


def _check_generator(generator, model, x, family):
    if not isinstance(generator, AdvGAN):
        raise ConfigError(f"generator must be a trained AdvGAN (featuretest train-generative --kind advgan), "
                          f"got {type(generator).__name__}")
    if (generator.family == "pixel") != (family == "pixel"):
        use = "advgan_family(..., severity=...)" if family == "pixel" else "advgan(..., eps=...)"
        raise ConfigError(f"generator is of the {generator.family!r} family; use {use}")
    k = num_classes(as_logits_model(model))
    if generator.num_classes != k:
        raise ConfigError(f"generator was trained for {generator.num_classes} classes, the model has {k}")
    if tuple(int(v) for v in x.shape[1:]) != tuple(generator.image_shape):
        raise ConfigError(f"generator takes images {generator.image_shape}, got {tuple(x.shape[1:])}")
    return k


def _compiled(generator):
    """``fn(x, target [N], budget) -> x'``: one ``tf.function`` per generator (the budget is a tensor), cached."""
    ref = weakref.ref(generator)

    def build():
        def fn(x, t, budget):
            gen = ref()
            return gen.adversarial(x, gen.tokens(t, tf.shape(x)[0]), budget)

        spec = [tf.TensorSpec([None, *generator.image_shape], tf.float32), tf.TensorSpec([None], tf.int64),
                tf.TensorSpec([], tf.float32)]
        return tf.function(fn, input_signature=spec)  # one trace for every batch size and budget

    return cache.cached(generator, "advgan", build)


def _run(model, x, y, budget, target, generator, family):
    x = tf.convert_to_tensor(x, tf.float32)
    if x.shape.rank != 4:
        raise ConfigError(f"images must be a 4-D batch (N, H, W, C), got shape {tuple(x.shape)}")
    k = _check_generator(generator, model, x, family)
    x, y = _ops.check_inputs(x, y, k)
    if target is None and generator.mode == "targeted":
        raise ConfigError("this AdvGAN generator was trained targeted only: give target=")
    if target is not None and generator.mode == "untargeted":
        raise ConfigError("this AdvGAN generator was trained untargeted: it takes no target")
    budget = check_budget(generator.family, budget, norm=generator.norm,
                          max_stickers=generator.stickers or MAX_STICKERS)
    if budget == 0.0:
        return tf.identity(x)
    t = _ops.target_tensor(target, int(x.shape[0]), k)
    if generator.family == "pixel" and generator.norm == "inf":
        budget = linf_bound(budget)
    return _compiled(generator)(x, t, tf.constant(budget, tf.float32))


def advgan(model, x, y, *, eps, target=None, generator=None, seed=None) -> tf.Tensor:
    """Adversarial images from one pass of a pixel-family AdvGAN generator.

    Args:
        model: the classifier the images are meant for (its class count is checked; it is not run).
        x: float32 images ``[N, H, W, C]`` in [0, 1].
        y: integer labels ``[N]``.
        eps: the budget (the generator's norm: L-inf per pixel or L2 per image); the generator's
            output ``tanh`` is scaled to it, so any eps works, the training one best.
        target: None (untargeted), a class, or one class per image (``-1``: untargeted); the
            generator must have been trained for it (``mode`` ``targeted`` or ``both``).
        generator: a trained :class:`~tf_featuretest.models.advgan.AdvGAN` (required).
        seed: unused (the attack is deterministic); accepted like every attack's.

    Returns:
        A float32 ``tf.Tensor`` in [0, 1] with ``|x' - x| <= eps`` in the generator's norm.
    """
    del seed
    if generator is None:
        raise ConfigError("advgan needs generator= (a trained AdvGAN: featuretest train-generative --kind advgan)")
    return _run(model, x, y, eps, target, generator, "pixel")


def advgan_family(model, x, y, *, severity, target=None, generator=None, seed=None) -> tf.Tensor:
    """Adversarial images from one pass of a structured-family AdvGAN generator at ``severity``.

    ``severity`` is on the noise registry's scale (a patch's side, the number of black rows, ...),
    so the result spends the same budget as the matching noise at that severity.
    """
    del seed
    if generator is None:
        raise ConfigError("advgan_family needs generator= (a trained AdvGAN of a structured family)")
    return _run(model, x, y, severity, target, generator, "structured")


def success_rates(model, generator, x, y, *, budget=None, batch_size=256) -> dict:
    """How often the generator's images fool ``model``: untargeted, and per target class.

    Untargeted success counts the images ``model`` classified correctly that it gets wrong after;
    targeted success for class ``t`` counts the images of other classes it now puts in ``t``.

    Returns:
        ``{"untargeted": float | None, "targeted": [float per class] | None, "targeted_mean": float | None,
        "budget": float, "num_images": int}`` (None where the generator's mode does not serve it).
    """
    x = np.asarray(x, np.float32)
    y = np.asarray(y, np.int64).reshape(-1)
    if len(x) == 0 or len(x) != len(y):
        raise ConfigError(f"need equal, non-zero numbers of images and labels, got {len(x)} and {len(y)}")
    budget = generator.budget if budget is None else budget
    fn = advgan if generator.family == "pixel" else advgan_family
    arg = "eps" if generator.family == "pixel" else "severity"
    predict = compiled_predict(model)

    def preds(target):
        out = []
        for i in range(0, len(x), batch_size):
            xb, yb = x[i:i + batch_size], y[i:i + batch_size]
            adv = fn(model, xb, yb, **{arg: budget}, target=target, generator=generator)
            out.append(np.argmax(predict(adv).numpy(), 1))
        return np.concatenate(out)

    clean = np.concatenate([np.argmax(predict(tf.constant(x[i:i + batch_size])).numpy(), 1)
                            for i in range(0, len(x), batch_size)])
    ok = clean == y
    out = {"budget": float(budget), "num_images": int(len(y)), "untargeted": None, "targeted": None,
           "targeted_mean": None}
    if generator.mode != "targeted":
        out["untargeted"] = float((ok & (preds(None) != y)).sum() / max(ok.sum(), 1))
    if generator.mode != "untargeted":
        rates = []
        for t in range(generator.num_classes):
            other = y != t
            rates.append(float((preds(t)[other] == t).mean()) if other.any() else float("nan"))
        out["targeted"] = rates
        out["targeted_mean"] = float(np.nanmean(rates))
    return out
