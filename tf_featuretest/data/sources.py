"""Raw sources: each one turns a location into in-memory arrays for one split.

A source returns a :class:`RawSplit` (images as uint8 or float32 in [0, 1], int64 labels, optional
boxes) for ``"train"``, ``"validation"`` or ``"test"``. File-based sources decode with PIL in
threads (see :mod:`.images`); unreadable files are skipped with a warning and counted, unless
``on_bad="raise"``.
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field

import numpy as np

from ..errors import DataError, first_line
from .images import decode_many, is_image_file

SPLITS = ("train", "validation", "test")

GTSRB_CLASS_NAMES = (
    "Speed limit (20km/h)", "Speed limit (30km/h)", "Speed limit (50km/h)",
    "Speed limit (60km/h)", "Speed limit (70km/h)", "Speed limit (80km/h)",
    "End of speed limit (80km/h)", "Speed limit (100km/h)", "Speed limit (120km/h)",
    "No passing", "No passing for vehicles over 3.5 t", "Right-of-way at the next intersection",
    "Priority road", "Yield", "Stop", "No vehicles", "Vehicles over 3.5 t prohibited",
    "No entry", "General caution", "Dangerous curve to the left",
    "Dangerous curve to the right", "Double curve", "Bumpy road", "Slippery road",
    "Road narrows on the right", "Road work", "Traffic signals", "Pedestrians",
    "Children crossing", "Bicycles crossing", "Beware of ice/snow", "Wild animals crossing",
    "End of all speed and passing limits", "Turn right ahead", "Turn left ahead", "Ahead only",
    "Go straight or right", "Go straight or left", "Keep right", "Keep left",
    "Roundabout mandatory", "End of no passing", "End of no passing by vehicles over 3.5 t",
)


@dataclass(frozen=True)
class RawSplit:
    """One split held in memory."""

    x: np.ndarray  # [N, H, W, C] uint8, or float32 in [0, 1]
    y: np.ndarray  # [N] int64
    class_names: tuple
    boxes: np.ndarray | None = None  # [N, 4] x1, y1, x2, y2 in source pixels, when the source has them
    skipped: tuple = field(default=())  # ((path, reason), ...)


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    return split


def stratified_split(y: np.ndarray, split: str, seed: int, fractions=(0.7, 0.15, 0.15)) -> np.ndarray:
    """Indices of ``split`` in a seeded, per-class (stratified) train/validation/test split."""
    rng = np.random.default_rng(seed)
    picked = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        n_train = int(round(fractions[0] * len(idx)))
        n_val = int(round(fractions[1] * len(idx)))
        if fractions[2] == 0:
            n_val = len(idx) - n_train
        parts = {"train": idx[:n_train], "validation": idx[n_train:n_train + n_val],
                 "test": idx[n_train + n_val:]}
        picked.append(parts[split])
    out = np.concatenate(picked) if picked else np.zeros(0, np.int64)
    return np.sort(out)


# --------------------------------------------------------------------------- digits


def digits(split: str, *, image_size=(32, 32), split_seed: int = 0, **_) -> RawSplit:
    """scikit-learn's handwritten digits (1,797 8x8 images, 10 classes), resized bilinearly.

    The split is a fixed, seeded, stratified 70/15/15 split (``split_seed``), the same on every
    machine. ``image_size=(8, 8)`` keeps the original pixels (values k/16).
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images.astype(np.float32) / 16.0)[..., None]
    y = bunch.target.astype(np.int64)
    idx = stratified_split(y, split, split_seed)
    x, y = x[idx], y[idx]
    if tuple(image_size) != (8, 8):
        import tensorflow as tf

        x = tf.clip_by_value(tf.image.resize(x, image_size, method="bilinear"), 0.0, 1.0).numpy()
    return RawSplit(x=np.ascontiguousarray(x, np.float32), y=y,
                    class_names=tuple(str(i) for i in range(10)))


# --------------------------------------------------------------------------- image folder


def _class_dirs(root: str):
    if not os.path.isdir(root):
        raise DataError(f"image folder not found: {root}")
    names = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)) and not d.startswith("."))
    if not names:
        raise DataError(f"{root}: no class subfolders (expected one subfolder of images per class)")
    return names


def _list_images(root: str, names):
    paths, labels = [], []
    for label, name in enumerate(names):
        d = os.path.join(root, name)
        files = sorted(f for f in os.listdir(d) if is_image_file(f))
        if not files:
            raise DataError(f"empty class folder (no image files): {d}")
        paths += [os.path.join(d, f) for f in files]
        labels += [label] * len(files)
    return paths, np.asarray(labels, np.int64)


def folder(split: str, *, path: str, image_size=(32, 32), channels=3, split_seed=0, on_bad="skip", **_) -> RawSplit:
    """A folder with one subfolder of images per class.

    If the folder has ``train``/``test`` (and optionally ``val``/``validation``) subfolders, each
    laid out that way, those are the splits; otherwise one seeded stratified 70/15/15 split is
    made. Class names are the subfolder names, sorted.
    """
    if not os.path.isdir(path):
        raise DataError(f"image folder not found: {path}")
    subs = {d.lower(): d for d in os.listdir(path) if os.path.isdir(os.path.join(path, d))}
    if "train" in subs and "test" in subs:
        names = _class_dirs(os.path.join(path, subs["train"]))
        val_dir = subs.get("validation") or subs.get("val")
        if split == "validation" and val_dir is None:
            paths, y = _list_images(os.path.join(path, subs["train"]), names)
            keep = stratified_split(y, "validation", split_seed, (0.85, 0.15, 0.0))
        elif split == "train" and val_dir is None:
            paths, y = _list_images(os.path.join(path, subs["train"]), names)
            keep = stratified_split(y, "train", split_seed, (0.85, 0.15, 0.0))
        else:
            d = {"train": subs["train"], "test": subs["test"], "validation": val_dir}[split]
            root = os.path.join(path, d)
            present = _class_dirs(root)
            unknown = sorted(set(present) - set(names))
            if unknown:
                raise DataError(f"{root}: class folder(s) {unknown} are not among the training classes")
            paths, y = [], []
            for name in present:
                p, _ = _list_images(root, [name])
                paths += p
                y += [names.index(name)] * len(p)
            y = np.asarray(y, np.int64)
            keep = np.arange(len(y))
    else:
        names = _class_dirs(path)
        paths, y = _list_images(path, names)
        keep = stratified_split(y, split, split_seed)
    paths = [paths[i] for i in keep]
    x, kept, report = decode_many(paths, channels, tuple(image_size), on_bad=on_bad, labels=(y[keep], names, path))
    return RawSplit(x=x, y=y[keep][kept], class_names=tuple(names), skipped=report.skipped)


# --------------------------------------------------------------------------- GTSRB


def _read_csv(path: str, required, delimiter=";"):
    if not os.path.isfile(path):
        raise DataError(f"annotation file not found: {path}")
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        reader = csv.DictReader(fh, delimiter=delimiter)
        fields = [f.strip() for f in (reader.fieldnames or [])]
        missing = [c for c in required if c not in fields]
        if missing:
            raise DataError(f"{path}: missing column(s) {missing}; found {fields}")
        rows = []
        for lineno, row in enumerate(reader, start=2):
            row = {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
            rows.append((lineno, row))
        return rows


def _int_field(row, key, path, lineno):
    try:
        return int(row[key])
    except (TypeError, ValueError):
        raise DataError(f"{path}:{lineno}: {key} is {row.get(key)!r}, not an integer") from None


GTSRB_COLUMNS = ("Filename", "Width", "Height", "Roi.X1", "Roi.Y1", "Roi.X2", "Roi.Y2", "ClassId")


def _gtsrb_rows(csv_path, img_dir, num_classes):
    paths, labels, boxes = [], [], []
    for lineno, row in _read_csv(csv_path, GTSRB_COLUMNS):
        label = _int_field(row, "ClassId", csv_path, lineno)
        if not 0 <= label < num_classes:
            raise DataError(f"{csv_path}:{lineno}: ClassId {label} outside 0..{num_classes - 1}")
        paths.append(os.path.join(img_dir, row["Filename"]))
        labels.append(label)
        boxes.append([_int_field(row, k, csv_path, lineno) for k in ("Roi.X1", "Roi.Y1", "Roi.X2", "Roi.Y2")])
    return paths, labels, boxes


def gtsrb(split: str, *, path: str, image_size=(32, 32), channels=3, crop="none", split_seed=0,
          on_bad="skip", **_) -> RawSplit:
    """The German Traffic Sign Recognition Benchmark in its official layout.

    ``Final_Training/Images/000NN/GT-000NN.csv`` gives the training images of class NN with their
    ROI boxes; ``Final_Test/Images/GT-final_test.csv`` the test images. The validation split is a
    seeded 15% of the training images. ``crop`` is ``"none"``, ``"box"`` (crop each image to its
    ROI) or ``"both"`` (the cropped images followed by the originals, for training).
    """
    train_root = os.path.join(path, "Final_Training", "Images")
    if not os.path.isdir(train_root):
        raise DataError(f"GTSRB folder {path}: missing Final_Training/Images")
    class_dirs = sorted(d for d in os.listdir(train_root) if os.path.isdir(os.path.join(train_root, d)))
    if not class_dirs:
        raise DataError(f"{train_root}: no class folders 000NN")
    try:
        ids = [int(d) for d in class_dirs]
    except ValueError:
        raise DataError(f"{train_root}: class folders must be numbered (00000, 00001, ...); found {class_dirs}") from None
    num_classes = max(ids) + 1
    if split in ("train", "validation"):
        paths, labels, boxes = [], [], []
        for d, cid in zip(class_dirs, ids):
            csv_path = os.path.join(train_root, d, f"GT-{d}.csv")
            p, lab, b = _gtsrb_rows(csv_path, os.path.join(train_root, d), num_classes)
            if any(v != cid for v in lab):
                raise DataError(f"{csv_path}: ClassId values {sorted(set(lab))} do not match folder {d}")
            paths += p
            labels += lab
            boxes += b
        y = np.asarray(labels, np.int64)
        keep = stratified_split(y, split, split_seed, (0.85, 0.15, 0.0))
    else:
        test_dir = os.path.join(path, "Final_Test", "Images")
        paths, labels, boxes = _gtsrb_rows(os.path.join(test_dir, "GT-final_test.csv"), test_dir, num_classes)
        y = np.asarray(labels, np.int64)
        keep = np.arange(len(y))
    names = tuple(GTSRB_CLASS_NAMES[i] if num_classes <= len(GTSRB_CLASS_NAMES) else f"{i:05d}"
                  for i in range(num_classes))
    return _decode_with_boxes([paths[i] for i in keep], y[keep], np.asarray(boxes, np.int64).reshape(-1, 4)[keep],
                              names, image_size, channels, crop, on_bad)


def _decode_with_boxes(paths, y, boxes, names, image_size, channels, crop, on_bad) -> RawSplit:
    if crop not in ("none", "box", "both"):
        raise DataError(f"crop must be 'none', 'box' or 'both', got {crop!r}")
    size = tuple(image_size)
    if crop == "none":
        x, kept, rep = decode_many(paths, channels, size, on_bad=on_bad)
        return RawSplit(x, y[kept], names, boxes[kept], rep.skipped)
    xc, kept, rep = decode_many(paths, channels, size, boxes=list(boxes), on_bad=on_bad)
    if crop == "box":
        return RawSplit(xc, y[kept], names, boxes[kept], rep.skipped)
    xo, kept_o, _ = decode_many([paths[i] for i in kept], channels, size, on_bad=on_bad)
    kept = kept[kept_o]
    return RawSplit(np.concatenate([xc[kept_o], xo]), np.concatenate([y[kept], y[kept]]), names,
                    np.concatenate([boxes[kept], boxes[kept]]), rep.skipped)


# --------------------------------------------------------------------------- Tiny ImageNet


def _read_lines(path):
    if not os.path.isfile(path):
        raise DataError(f"annotation file not found: {path}")
    with open(path, encoding="utf-8", errors="replace") as fh:
        return [ln.rstrip("\n") for ln in fh if ln.strip()]


def _box(parts, where):
    try:
        return [int(v) for v in parts]
    except ValueError:
        raise DataError(f"{where}: bounding box {parts} is not four integers") from None


def tiny_imagenet(split: str, *, path: str, image_size=(64, 64), channels=3, crop="none", split_seed=0,
                  on_bad="skip", **_) -> RawSplit:
    """Tiny ImageNet (200 classes of 64x64 JPEGs) in its distributed layout.

    ``wnids.txt`` lists the classes; ``words.txt`` maps each wnid to words (the first synonym is
    the class name); ``train/<wnid>/images`` with ``<wnid>_boxes.txt``; ``val/images`` with
    ``val_annotations.txt``. The official val set is the test split (the test set has no labels);
    validation is a seeded 10% of train.
    """
    wnids = [w.strip() for w in _read_lines(os.path.join(path, "wnids.txt"))]
    if not wnids:
        raise DataError(f"{path}/wnids.txt lists no classes")
    index = {w: i for i, w in enumerate(wnids)}
    words = {}
    words_path = os.path.join(path, "words.txt")
    if os.path.isfile(words_path):
        for ln in _read_lines(words_path):
            wnid, _, text = ln.partition("\t")
            words[wnid.strip()] = text.split(",")[0].strip()
    names = tuple(words.get(w, w) for w in wnids)
    paths, labels, boxes = [], [], []
    if split in ("train", "validation"):
        for w in wnids:
            d = os.path.join(path, "train", w)
            box_file = os.path.join(d, f"{w}_boxes.txt")
            for lineno, ln in enumerate(_read_lines(box_file), start=1):
                parts = ln.split("\t") if "\t" in ln else ln.split()
                if len(parts) != 5:
                    raise DataError(f"{box_file}:{lineno}: expected 'file x1 y1 x2 y2', got {ln!r}")
                paths.append(os.path.join(d, "images", parts[0]))
                labels.append(index[w])
                boxes.append(_box(parts[1:], f"{box_file}:{lineno}"))
        y = np.asarray(labels, np.int64)
        keep = stratified_split(y, split, split_seed, (0.9, 0.1, 0.0))
    else:
        ann = os.path.join(path, "val", "val_annotations.txt")
        for lineno, ln in enumerate(_read_lines(ann), start=1):
            parts = ln.split("\t") if "\t" in ln else ln.split()
            if len(parts) != 6:
                raise DataError(f"{ann}:{lineno}: expected 'file wnid x1 y1 x2 y2', got {ln!r}")
            if parts[1] not in index:
                raise DataError(f"{ann}:{lineno}: wnid {parts[1]!r} is not in wnids.txt")
            paths.append(os.path.join(path, "val", "images", parts[0]))
            labels.append(index[parts[1]])
            boxes.append(_box(parts[2:], f"{ann}:{lineno}"))
        y = np.asarray(labels, np.int64)
        keep = np.arange(len(y))
    return _decode_with_boxes([paths[i] for i in keep], y[keep], np.asarray(boxes, np.int64).reshape(-1, 4)[keep],
                              names, image_size, channels, crop, on_bad)


# --------------------------------------------------------------------------- TFDS


def tfds_source(split: str, *, name: str, image_size=None, channels=None, data_dir=None, download=False,
                **_) -> RawSplit:
    """A TensorFlow Datasets image-classification data set, read from ``data_dir``.

    With ``download=False`` the data must already be prepared there (off-line use). Splits map to
    the builder's ``train``/``validation``/``test``; a data set without a validation split uses the
    last 10% of ``train`` for it and the first 90% for training.
    """
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except Exception as exc:  # tfds raises several kinds for unknown names
        raise DataError(f"unknown TFDS data set {name!r}: {first_line(exc)}") from None
    if download:
        builder.download_and_prepare()
    elif not builder.is_prepared() if hasattr(builder, "is_prepared") else not os.path.isdir(builder.data_dir):
        raise DataError(f"TFDS data set {name!r} is not prepared under {builder.data_dir}; "
                        "pass download=True (needs network) or point data_dir at prepared data")
    splits = builder.info.splits
    if split == "validation" and "validation" not in splits:
        tf_split = "train[90%:]"
    elif split == "train" and "validation" not in splits:
        tf_split = "train[:90%]"
    else:
        tf_split = split
        if split not in splits:
            raise DataError(f"TFDS data set {name!r} has no {split!r} split (has {sorted(splits)})")
    feats = builder.info.features
    if "image" not in feats or "label" not in feats:
        raise DataError(f"TFDS data set {name!r} has no 'image'/'label' features (has {sorted(feats)})")
    names = tuple(feats["label"].names)
    ds = builder.as_dataset(split=tf_split, as_supervised=False)
    import tensorflow as tf

    want_c = channels
    xs, ys = [], []
    for ex in ds.batch(1024).prefetch(2) if _static_shape(feats["image"]) else ds.prefetch(64):
        img = ex["image"]
        if img.shape.rank == 3:
            img = img[None]
        img = _fix_channels(tf.image.convert_image_dtype(img, tf.float32), want_c, name)
        if image_size is not None:
            img = tf.image.resize(img, image_size, antialias=True)
        xs.append(tf.clip_by_value(img, 0.0, 1.0).numpy())
        ys.append(np.atleast_1d(ex["label"].numpy()).astype(np.int64))
    if not xs:
        raise DataError(f"TFDS data set {name!r} split {tf_split!r} is empty")
    return RawSplit(x=np.concatenate(xs), y=np.concatenate(ys), class_names=names)


def _static_shape(image_feature) -> bool:
    return all(d is not None for d in image_feature.shape)


def _fix_channels(img, channels, where):
    import tensorflow as tf

    c = img.shape[-1]
    if channels is None or c == channels:
        return img
    if c == 1 and channels == 3:
        return tf.image.grayscale_to_rgb(img)
    if c == 3 and channels == 1:
        return tf.image.rgb_to_grayscale(img)
    if c == 4:
        return _fix_channels(img[..., :3] * img[..., 3:], channels, where)
    raise DataError(f"{where}: cannot convert {c}-channel images to {channels} channels")
