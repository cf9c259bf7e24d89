"""The models a run trains, or reuses from an earlier run with the same data and settings.

A model's file name carries a content hash of the data fingerprint, the seed, the package version
and its settings (``runs/<pipeline>/<name>-<hash>.keras``), so an unchanged configuration finds
its models again and a changed one trains new ones.
"""
from __future__ import annotations

import os
import time
import warnings

import keras
import tensorflow as tf

from .._util.io import read_json, write_json
from ..attacks.adversarial_training import AdversarialModel
from ..data import load, resolve_shape
from ..distribute import Adversarial, augmenter, fit_distributed, make_strategy, worker_info
from ..errors import ConfigError, FeatureTestError, first_line
from ..models.adapt import PROBE_IMAGES, adapt_classifier, check_input_shape
from ..models.advgan import train_advgan
from ..models.architectures import build_classifier
from ..models.dcgan import train_dcgan
from ..models.saving import MODEL_SUFFIXES, load_classifier, load_generative, save_model_atomic
from ..models.training import compile_classifier, get_strategy, train_classifier
from ..models.vae import train_vae
from ..testgen.judge import member_seed, train_committee, train_member

#: Batch size of the generative models' training pipelines.
GENERATIVE_BATCH_SIZE = 64
#: Batch size of the validation pipeline while a classifier trains.
VALIDATION_BATCH_SIZE = 256


def reuse_or_none(path, load, *companions):
    """``load()`` of a model kept from an earlier run, or None (with a warning) when it is damaged.

    A half-written or unreadable model or history (a kill, a full disk) is moved aside to
    ``<file>.damaged-<time>`` together with its ``companions``, so the model is trained again
    instead of failing the stage on every rerun.
    """
    try:
        return load()
    except (FeatureTestError, OSError, ValueError) as exc:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for p in (path, *companions):
            if os.path.exists(p):
                os.replace(p, f"{p}.damaged-{stamp}")
        warnings.warn(f"ignoring the damaged kept model {path} ({first_line(exc)}); moved aside as "
                      f"{os.path.basename(path)}.damaged-{stamp}, training it again", stacklevel=2)
        return None


def read_history(path) -> dict:
    """A kept training history: ``{metric: [values]}``; a ConfigError when the file is not one."""
    hist = read_json(path, what="training history")
    if not isinstance(hist, dict) or not all(isinstance(v, list) for v in hist.values()):
        raise ConfigError(f"training history {path} is not a mapping of metric names to lists")
    return hist


def data_kwargs(cfg) -> dict:
    """The ``data.load`` arguments a pipeline's ``[data]`` section gives."""
    d = cfg.data
    return dict(image_size=d.image_size, channels=d.channels, data_dir=d.data_dir)


def is_user_model(c) -> bool:
    """True when a ``[[classifiers]]`` entry names the user's own model file rather than an architecture."""
    return c.model.endswith(MODEL_SUFFIXES)


def _user_what(cfg, c) -> str:
    i = cfg.classifiers.index(c)
    return f"{cfg.source_file}: classifiers[{i}] {c.name!r} ({c.model})"


def _shape_fix(model_shape, data_shape) -> str:
    """The configuration change that makes the data's images fit the model."""
    fixes = []
    if model_shape[0] is not None and tuple(model_shape[:2]) != tuple(data_shape[:2]):
        fixes.append(f"data.image_size = [{model_shape[0]}, {model_shape[1]}]")
    if model_shape[2] is not None and model_shape[2] != data_shape[2]:
        fixes.append(f"data.channels = {model_shape[2]}")
    return f"set {' and '.join(fixes)} to load the images that way" if fixes else ""


def check_user_models(cfg):
    """Before any stage runs: every user model file loads and takes images of the shape the data loads at.

    Raises a one-line :class:`~tf_featuretest.errors.ModelError` naming both shapes. TFDS sources,
    whose shape is known only once loaded, are checked by the classifier stage.
    """
    d = cfg.data
    users = [c for c in cfg.classifiers if is_user_model(c)]
    for c in users:
        if c.adversarial != "none":
            raise ConfigError(f"{_user_what(cfg, c)}: adversarial = {c.adversarial!r} trains a model, but this one is "
                              "your file and is not trained here; remove the key or name an architecture")
    if not users:
        return
    choice = resolve_shape(d.source, d.image_size, d.channels)
    if choice.image_size is None or choice.channels is None:
        return
    shape = (*choice.image_size, choice.channels)
    for c in users:
        model = load_classifier(c.model)
        mine = tuple(model.input_shape[1:]) if not isinstance(model.input_shape, list) else None
        check_input_shape(model, shape, what=_user_what(cfg, c), data_what=f"the images of {d.source} as loaded",
                          fix=_shape_fix(mine, shape) if mine and len(mine) == 3 else "")


def user_classifier(ctx, c):
    """The user's model file, checked against the data and fitted to [0, 1] logits: ``(model, InputAdaptation)``.

    The input range is probed on a stratified subset of the validation split
    (:data:`~tf_featuretest.models.adapt.PROBE_IMAGES` images); a refused model raises one line.
    """
    info = ctx.data["info"]
    model = load_classifier(c.model)
    sub = ctx.subset("validation", PROBE_IMAGES)
    xv, yv = sub.take(*ctx.data["validation"])
    mine = tuple(model.input_shape[1:]) if not isinstance(model.input_shape, list) else None
    model, how = adapt_classifier(model, xv, yv, num_classes=info.num_classes, data_shape=info.image_shape,
                                  what=_user_what(ctx.config, c), data_what=f"the images of {info.source}",
                                  fix=_shape_fix(mine, info.image_shape) if mine and len(mine) == 3 else "",
                                  split="validation")
    return model, how


def classifier(ctx, c):
    """``(model, history, reused, path)`` for one ``[[classifiers]]`` entry: trained, reused or the user's file.

    A user's file is adapted (see :func:`user_classifier`); how is kept in
    ``ctx.artifacts[("input_adaptation", name)]``.
    """
    info, d = ctx.data["info"], ctx.config.data
    if is_user_model(c):
        model, how = user_classifier(ctx, c)
        ctx.artifacts[("input_adaptation", c.name)] = how
        ctx.say(f"      {c.name}: your model {c.model}. {how.describe()}")
        return model, {}, False, c.model
    key = ctx.content_hash(c.__dict__, d.__dict__)
    path = os.path.join(ctx.work_dir, f"{c.name}-{key}.keras")
    hist_path = path[:-len(".keras")] + ".history.json"
    if os.path.exists(path) and os.path.exists(hist_path) and not ctx.retrain:
        kept = reuse_or_none(path, lambda: (load_classifier(path), read_history(hist_path)), hist_path)
        if kept is not None:
            ctx.say(f"      {c.name}: reusing {path}")
            return kept[0], kept[1], True, path
    keras.utils.set_random_seed(ctx.config.seed)
    if ctx.config.strategy != "default":
        return distributed_classifier(ctx, c, path, hist_path, key)
    xv, yv = ctx.data["validation"]
    train_ds, _ = load(d.source, "train", batch_size=d.batch_size, augment=d.augment, crop=d.crop,
                       seed=ctx.config.seed, **data_kwargs(ctx.config))
    val_ds = tf.data.Dataset.from_tensor_slices((xv, yv)).batch(VALIDATION_BATCH_SIZE)
    with get_strategy(ctx.config.strategy).scope():
        model = build_classifier(c.model, info.num_classes, info.image_shape, weights=c.weights,
                                 trainable_layers=c.trainable_layers)
        fit_model = model
        if c.adversarial != "none":
            fit_model = AdversarialModel(model, attack=c.adversarial, eps=c.adv_eps, ratio=c.adv_ratio,
                                         seed=ctx.config.seed)
        compile_classifier(fit_model, learning_rate=c.learning_rate, num_classes=info.num_classes)
    result = train_classifier(fit_model, train_ds, val_ds, epochs=c.epochs, patience=c.patience, compile=False,
                              verbose=0, work_dir=os.path.join(ctx.work_dir, f"{c.name}-{key}-work"))
    save_model_atomic(model, path)
    write_json(hist_path, result.history)
    return model, result.history, False, path


def distributed_classifier(ctx, c, path, hist_path, key):
    """Train one ``[[classifiers]]`` entry with the distributed loop under the pipeline's ``strategy``.

    Every worker of a multiworker run calls this with the same data. The chief saves the model to
    ``path`` and the history beside it; another worker saves its (identical) weights to
    ``path`` + ``.worker<i>.keras`` so that it never reads a file the chief is still writing.
    """
    info, d = ctx.data["info"], ctx.config.data
    strategy = make_strategy(ctx.config.strategy)
    me = worker_info(strategy)
    model, result = fit_distributed(
        lambda: build_classifier(c.model, info.num_classes, info.image_shape, weights=c.weights,
                                 trainable_layers=c.trainable_layers), ctx.data["train"], ctx.data["validation"],
        strategy=strategy, epochs=c.epochs, learning_rate=c.learning_rate, patience=c.patience,
        global_batch_size=d.batch_size, seed=ctx.config.seed,
        adversarial=Adversarial.from_settings(c.adversarial, c.adv_eps, c.adv_ratio),
        augment=augmenter(d.augment, ctx.config.seed), work_dir=os.path.join(ctx.work_dir, f"{c.name}-{key}-dist"))
    if not me.is_chief:
        path = f"{path}.worker{me.index}.keras"
    save_model_atomic(model, path)
    if me.is_chief:
        write_json(hist_path, result.history)
    ctx.say(f"      {c.name}: trained on {result.extra['replicas']} replicas ({result.extra['workers']} workers)")
    return model, result.history, False, path


def generative(ctx, kind: str):
    """Train or reuse the VAE (``kind="vae"``) or the conditional DCGAN (``"gan"``): ``(model, reused)``."""
    f, d, info = ctx.config.feature, ctx.config.data, ctx.data["info"]
    epochs = f.vae_epochs if kind == "vae" else f.dcgan_epochs
    key = ctx.content_hash(kind, f.latent_dim, epochs, d.__dict__, *((f.vae_beta,) if kind == "vae" else ()))
    path = os.path.join(ctx.work_dir, f"{kind}-{key}.keras")
    if os.path.exists(path) and not ctx.retrain:
        kept = reuse_or_none(path, lambda: load_generative(path, "vae" if kind == "vae" else "generator"))
        if kept is not None:
            ctx.say(f"      {kind}: reusing {path}")
            return kept, True
    keras.utils.set_random_seed(ctx.config.seed)
    ds, _ = load(d.source, "train", batch_size=GENERATIVE_BATCH_SIZE, seed=ctx.config.seed, **data_kwargs(ctx.config))
    if kind == "vae":
        model = train_vae(ds, info.image_shape, latent_dim=f.latent_dim, epochs=epochs, beta=f.vae_beta,
                          seed=ctx.config.seed)
    else:
        model = train_dcgan(ds, info.image_shape, info.num_classes, epochs=epochs, seed=ctx.config.seed)
    save_model_atomic(model, path)
    return model, False


def committee(ctx):
    """Train or reuse the label committee of the feature stage: ``(LabelCommittee, reused)``.

    Each network member is kept as ``runs/<pipeline>/committee-<kind>-<hash>.keras`` (the hash
    covers the data, the seed, the member's position and epochs); the k-NN member is rebuilt from
    the training split. Member accuracies are measured on the test split. Within one run the
    committee is built once (kept in ``ctx.artifacts["committee"]``) and shared by the stages.
    """
    if "committee" in ctx.artifacts:
        return ctx.artifacts["committee"]
    f, info = ctx.config.feature, ctx.data["info"]
    x, y = ctx.data["train"]
    trained, reused = {}, True
    for i, kind in enumerate(f.committee):
        if kind == "knn":
            continue
        key = ctx.content_hash("committee", kind, i, f.committee_epochs, ctx.config.data.__dict__)
        path = os.path.join(ctx.work_dir, f"committee-{kind}-{key}.keras")
        model = None
        if os.path.exists(path) and not ctx.retrain:
            model = reuse_or_none(path, lambda p=path: load_classifier(p))
        if model is None:
            ctx.say(f"      committee: training {kind} ({f.committee_epochs} epochs)")
            model = train_member(kind, x, y, info.num_classes, epochs=f.committee_epochs,
                                 seed=member_seed(ctx.config.seed, i))
            save_model_atomic(model, path)
            reused = False
        else:
            ctx.say(f"      committee: reusing {path}")
        trained[kind] = model
    result = train_committee(x, y, num_classes=info.num_classes, members=f.committee, trained=trained,
                             seed=ctx.config.seed)
    xs, ys = ctx.data["test"]
    result.accuracies.update(result.accuracy(xs, ys))
    ctx.artifacts["committee"] = (result, reused)
    return result, reused


def advgan_generator(ctx, family: str = "pixel"):
    """Train or reuse an AdvGAN generator against the first classifier: ``(generator, training record)``.

    The pixel generator serves ``[advgan] mode``; the structured families' generators are
    untargeted. The record (``seconds``, ``cpu_seconds``, ``epochs``, ``images``, ``reused``) keeps
    the cost measured when the generator was trained, so a reused generator still reports it.
    """
    a, d = ctx.config.advgan, ctx.config.data
    name, model = ctx.first_model()
    pixel = family == "pixel"
    settings = dict(family=family, eps=a.eps, severity=a.severity, mode=a.mode if pixel else "untargeted")
    epochs = a.epochs if pixel else a.family_epochs
    key = ctx.content_hash("advgan", settings, epochs, ctx.model_keys.get(name), d.__dict__)
    path = os.path.join(ctx.work_dir, f"advgan-{family}-{key}.keras")
    record_path = path[:-len(".keras")] + ".json"
    if os.path.exists(path) and os.path.exists(record_path) and not ctx.retrain:
        kept = reuse_or_none(path, lambda: (load_generative(path, "advgan"),
                                            read_json(record_path, what="AdvGAN training record")), record_path)
        if kept is not None:
            ctx.say(f"      advgan {family}: reusing {path}")
            return kept[0], {**kept[1], "reused": True}
    keras.utils.set_random_seed(ctx.config.seed)  # before the data: the shuffle depends on the global seed
    ds, _ = load(d.source, "train", batch_size=GENERATIVE_BATCH_SIZE, seed=ctx.config.seed, **data_kwargs(ctx.config))
    ctx.say(f"      advgan {family}: training against {name} ({epochs} epochs)")
    t0, c0 = time.perf_counter(), time.process_time()
    gen = train_advgan(model, ds, epochs=epochs, seed=ctx.config.seed, **settings)
    record = {"seconds": round(time.perf_counter() - t0, 3), "cpu_seconds": round(time.process_time() - c0, 3),
              "epochs": epochs, "images": int(len(ctx.data["train"][1]))}
    save_model_atomic(gen, path)
    write_json(record_path, record)
    return gen, {**record, "reused": False}
