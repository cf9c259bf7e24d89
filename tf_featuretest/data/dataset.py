"""The one input path: a source name -> ``tf.data.Dataset`` of ``(image float32 [0,1] NHWC, label int64)``.

Sources are decoded once per process and kept in memory (``functools.lru_cache``), then fed through
``tf.data``: shuffled image indices -> ``batch`` -> one gather per batch and uint8-to-float in ``map``
-> augmentation (Keras preprocessing layers) -> ``prefetch`` with AUTOTUNE.
"""
from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import DataError
from . import sources as _src
from .inspect import ShapeChoice, choose_shape

#: Image size per source when none is configured (a folder whose files share one size keeps it).
DEFAULT_SIZES = {"digits": (32, 32), "folder": (32, 32), "gtsrb": (32, 32), "tiny_imagenet": (64, 64), "tfds": None}
#: Channels per source when none are configured: None means inferred from the files (folder, GTSRB,
#: Tiny ImageNet; see :mod:`.inspect`) or, for TFDS, the data set's own.
DEFAULT_CHANNELS = {"digits": 1, "folder": None, "gtsrb": None, "tiny_imagenet": None, "tfds": None}


@dataclass(frozen=True)
class DatasetInfo:
    """What a loaded split is: its classes, image shape and size.

    Attributes:
        source: the source string, e.g. ``"digits"`` or ``"gtsrb:/data/GTSRB"``.
        split: ``"train"``, ``"validation"`` or ``"test"``.
        class_names: names, indexed by label.
        image_shape: ``(height, width, channels)`` of every image.
        num_examples: images in this split (after skipping unreadable files).
        skipped: ``((path, reason), ...)`` for files that could not be read.
        has_boxes: whether bounding boxes came with the source.
        fingerprint: SHA-1 of the images and labels; equal data gives an equal fingerprint.
        shape: how the size and channel count were decided (configured, inferred from the files, ...).
    """

    source: str
    split: str
    class_names: tuple
    image_shape: tuple
    num_examples: int
    skipped: tuple = field(default=())
    has_boxes: bool = False
    fingerprint: str = ""
    shape: ShapeChoice | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["class_names"] = list(self.class_names)
        d["image_shape"] = list(self.image_shape)
        d["skipped"] = [list(s) for s in self.skipped]
        d["num_classes"] = self.num_classes
        d["shape"] = None if self.shape is None else self.shape.to_dict()
        return d


@dataclass(frozen=True)
class AugmentConfig:
    """Random augmentation applied to training batches (Keras preprocessing layers).

    Factors follow the Keras layers: rotation as a fraction of a full turn, zoom and translation as
    fractions of the image size, contrast as a factor. ``flip`` is ``""``, ``"horizontal"``,
    ``"vertical"`` or ``"horizontal_and_vertical"`` (off by default: flipping changes digits and
    many road signs).
    """

    rotation: float = 0.04
    zoom: float = 0.1
    translation: float = 0.08
    contrast: float = 0.1
    flip: str = ""

    def layers(self, seed: int):
        import keras

        out = []
        if self.flip:
            out.append(keras.layers.RandomFlip(self.flip, seed=seed))
        if self.rotation:
            out.append(keras.layers.RandomRotation(self.rotation, fill_mode="constant", seed=seed + 1))
        if self.zoom:
            out.append(keras.layers.RandomZoom(self.zoom, fill_mode="constant", seed=seed + 2))
        if self.translation:
            out.append(keras.layers.RandomTranslation(self.translation, self.translation,
                                                      fill_mode="constant", seed=seed + 3))
        if self.contrast:
            out.append(keras.layers.RandomContrast(self.contrast, value_range=(0, 1), seed=seed + 4))
        return out


def parse_source(source: str):
    """``"gtsrb:/data/x"`` -> ``("gtsrb", "/data/x")``; ``"digits"`` -> ``("digits", None)``."""
    if not isinstance(source, str) or not source:
        raise DataError(f"data source must be a non-empty string, got {source!r}")
    kind, sep, arg = source.partition(":")
    kind = kind.strip().lower()
    if kind not in DEFAULT_SIZES:
        raise DataError(f"unknown data source {source!r}; expected digits, folder:PATH, gtsrb:PATH, "
                        "tiny_imagenet:PATH or tfds:NAME")
    if kind == "digits":
        if sep:
            raise DataError(f"the digits source takes no argument, got {source!r}")
        return kind, None
    if not arg:
        raise DataError(f"data source {source!r} needs {'a name' if kind == 'tfds' else 'a path'} after ':'")
    return kind, arg


@functools.lru_cache(maxsize=16)
def _raw(source, split, image_size, channels, crop, data_dir, download, on_bad, split_seed):
    kind, arg = parse_source(source)
    kw = dict(image_size=image_size, crop=crop, on_bad=on_bad, split_seed=split_seed)
    if channels is not None:
        kw["channels"] = channels
    if kind == "digits":
        raw = _src.digits(split, **kw)
    elif kind == "folder":
        raw = _src.folder(split, path=arg, **kw)
    elif kind == "gtsrb":
        raw = _src.gtsrb(split, path=arg, **kw)
    elif kind == "tiny_imagenet":
        raw = _src.tiny_imagenet(split, path=arg, **kw)
    else:
        raw = _src.tfds_source(split, name=arg, data_dir=data_dir, download=download, **kw)
    if len(raw.y) == 0:
        raise DataError(f"{source}: split {split!r} has no readable images")
    bad = (raw.y < 0) | (raw.y >= len(raw.class_names))
    if bad.any():
        raise DataError(f"{source}: label {int(raw.y[bad][0])} outside 0..{len(raw.class_names) - 1}")
    if raw.x.dtype != np.uint8 and not np.isfinite(raw.x).all():
        raise DataError(f"{source}: split {split!r} contains NaN or infinite pixel values")
    raw.x.setflags(write=False)
    raw.y.setflags(write=False)
    return raw


def resolve_shape(source, image_size=None, channels=None) -> ShapeChoice:
    """The size and channels ``source`` loads at: the configured ones, else inferred from its files or defaults.

    Example:
        >>> resolve_shape("digits").channels
        1
    """
    kind, arg = parse_source(source)
    if image_size is not None and (len(tuple(image_size)) != 2 or min(tuple(image_size)) < 1):
        raise DataError(f"image_size must be (height, width) with positive sizes, got {image_size!r}")
    if channels not in (None, 1, 3):
        raise DataError(f"channels must be 1 or 3, got {channels!r}")
    return choose_shape(kind, arg, None if image_size is None else tuple(image_size), channels, DEFAULT_SIZES[kind],
                        DEFAULT_CHANNELS[kind])


def _resolve(source, image_size, channels):
    choice = resolve_shape(source, image_size, channels)
    return choice.image_size, choice.channels, choice


def load_arrays(source: str = "digits", split: str = "train", *, image_size=None, channels=None, crop="none",
                data_dir=None, download=False, on_bad="skip", split_seed=0):
    """Load one split into memory: ``(x float32 [N,H,W,C] in [0,1], y int64 [N], DatasetInfo)``.

    Args are as for :func:`load`.
    """
    _src.check_split(split)
    size, channels, choice = _resolve(source, image_size, channels)
    raw = _raw(source, split, size, channels, crop, data_dir, bool(download), on_bad, split_seed)
    x = raw.x.astype(np.float32) / 255.0 if raw.x.dtype == np.uint8 else raw.x.astype(np.float32, copy=True)
    return x, np.array(raw.y), _info(source, split, raw, choice)


def _info(source, split, raw, shape=None) -> DatasetInfo:
    digest = hashlib.sha1(np.ascontiguousarray(raw.x).tobytes())
    digest.update(np.ascontiguousarray(raw.y).tobytes())
    return DatasetInfo(source=source, split=split, class_names=tuple(raw.class_names),
                       image_shape=tuple(int(v) for v in raw.x.shape[1:]), num_examples=int(len(raw.y)),
                       skipped=tuple(raw.skipped), has_boxes=raw.boxes is not None,
                       fingerprint=digest.hexdigest(), shape=shape)


def load(source: str = "digits", split: str = "train", *, image_size=None, channels=None, batch_size=64,
         shuffle=None, augment=None, crop="none", cache=True, seed=0, data_dir=None, download=False,
         on_bad="skip", drop_remainder=False, split_seed=0, repeat=False):
    """Build a ``tf.data`` pipeline for one split of a source.

    Args:
        source: ``"digits"`` (embedded default), ``"folder:PATH"``, ``"gtsrb:PATH"``,
            ``"tiny_imagenet:PATH"`` or ``"tfds:NAME"``.
        split: ``"train"``, ``"validation"`` or ``"test"``.
        image_size: ``(height, width)``; by default an image folder whose files share one size (up to
            128 pixels a side) keeps it, otherwise per source (32x32, Tiny ImageNet 64x64, TFDS native).
        channels: 1 or 3; by default inferred from the files of a folder, GTSRB or Tiny ImageNet
            (1 when every sampled file is grayscale), digits 1, TFDS native. ``info.shape`` says which.
        batch_size: images per batch.
        shuffle: shuffle each epoch; default True for ``"train"``.
        augment: ``True`` for :class:`AugmentConfig` defaults, an ``AugmentConfig``, or None/False.
        crop: ``"none"``, ``"box"`` or ``"both"`` (box crops plus originals) for sources with boxes.
        cache: for an unshuffled, unaugmented split, cache the finished batches (the decoded images
            are always held in memory).
        seed: seed of shuffling and augmentation; the same seed gives the same batches.
        data_dir, download: for TFDS sources.
        on_bad: ``"skip"`` unreadable files with a warning (counted in ``info.skipped``) or ``"raise"``.
        repeat: repeat forever (for step-based training).

    Returns:
        ``(dataset, DatasetInfo)``.

    Example:
        >>> ds, info = load("digits", "train", batch_size=128, augment=True)
        >>> info.num_classes
        10
    """
    import tensorflow as tf

    _src.check_split(split)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise DataError(f"batch_size must be a positive integer, got {batch_size!r}")
    size, channels, choice = _resolve(source, image_size, channels)
    raw = _raw(source, split, size, channels, crop, data_dir, bool(download), on_bad, split_seed)
    info = _info(source, split, raw, choice)
    shuffle = split == "train" if shuffle is None else shuffle
    # The split is already decoded in memory, so the pipeline shuffles and batches indices and gathers
    # whole batches at once: one vectorised gather per step instead of per-image slicing.
    x_all, y_all = tf.constant(raw.x), tf.constant(raw.y)
    ds = tf.data.Dataset.range(len(raw.y))
    if shuffle:
        ds = ds.shuffle(len(raw.y), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    uint8 = raw.x.dtype == np.uint8

    def gather(idx):
        x = tf.gather(x_all, idx)
        x = tf.cast(x, tf.float32) / 255.0 if uint8 else x
        return x, tf.gather(y_all, idx)

    ds = ds.map(gather, num_parallel_calls=None)
    if cache and not shuffle and not augment:
        ds = ds.cache()
    if augment:
        cfg = AugmentConfig() if augment is True else augment
        if not isinstance(cfg, AugmentConfig):
            raise DataError(f"augment must be True, False or an AugmentConfig, got {augment!r}")
        layers = cfg.layers(seed)

        def aug(x, y):
            for layer in layers:
                x = layer(x, training=True)
            return tf.clip_by_value(x, 0.0, 1.0), y

        # Sequential on purpose: the layers' seed generators advance once per batch, in order, so the
        # same seed gives the same augmented batches; each call is vectorised over the batch.
        ds = ds.map(aug, num_parallel_calls=None)
    # A small private thread pool: on a few cores tf.data's shared, autotuned pool competes with the
    # training step for the same cores (benchmarks/pipeline.py measures the difference).
    threads = max(1, (os.cpu_count() or 2) // 4)
    options = tf.data.Options()
    options.threading.private_threadpool_size = threads
    options.autotune.enabled = False
    return ds.prefetch(2).with_options(options), info
