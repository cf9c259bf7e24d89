"""Data loaders on fixture trees the tests write: folder, GTSRB, Tiny ImageNet, TFDS, and bad input."""
import os

import numpy as np
import pytest
from PIL import Image

from tf_featuretest.data import AugmentConfig, decode_image, load, load_arrays
from tf_featuretest.errors import DataError

COLORS = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]


def _img(color, size=(20, 16), box=None):
    """A dark image, with ``color`` filling ``box`` (x1, y1, x2, y2 inclusive) or everything."""
    arr = np.zeros((size[1], size[0], 3), np.uint8)
    if box is None:
        arr[:] = color
    else:
        x1, y1, x2, y2 = box
        arr[y1:y2 + 1, x1:x2 + 1] = color
    return Image.fromarray(arr)


def test_digits_split_is_fixed_and_disjoint():
    xs, ys = {}, {}
    for split in ("train", "validation", "test"):
        x, y, info = load_arrays("digits", split)
        xs[split], ys[split] = x, y
        assert x.dtype == np.float32 and x.shape[1:] == (32, 32, 1)
        assert 0.0 <= x.min() and x.max() <= 1.0
        assert info.num_classes == 10
    assert sum(len(v) for v in ys.values()) == 1797
    assert len(ys["train"]) == 1258
    # Disjoint: no test image appears in train (digits has a few exact duplicates, so compare counts).
    flat_train = {x.tobytes() for x in xs["train"]}
    overlap = sum(x.tobytes() in flat_train for x in xs["test"])
    assert overlap <= 2
    x2, y2, _ = load_arrays("digits", "test")
    np.testing.assert_array_equal(y2, ys["test"])


def test_digits_native_8x8_keeps_sixteenths():
    x, _, info = load_arrays("digits", "train", image_size=(8, 8))
    assert info.image_shape == (8, 8, 1)
    np.testing.assert_allclose(x * 16, np.round(x * 16), atol=1e-6)


def test_load_pipeline_batches_and_augmentation_is_seeded():
    ds, info = load("digits", "train", batch_size=32, augment=True, seed=3)
    x1, y1 = next(iter(ds))
    assert x1.shape == (32, 32, 32, 1) and x1.dtype.name == "float32" and y1.dtype.name == "int64"
    assert float(x1.numpy().min()) >= 0.0 and float(x1.numpy().max()) <= 1.0
    ds2, _ = load("digits", "train", batch_size=32, augment=AugmentConfig(), seed=3)
    x2, y2 = next(iter(ds2))
    np.testing.assert_array_equal(y1.numpy(), y2.numpy())
    np.testing.assert_allclose(x1.numpy(), x2.numpy(), atol=1e-6)
    raw, _ = load("digits", "train", batch_size=32, shuffle=False)
    plain = load_arrays("digits", "train")[0][:32]
    np.testing.assert_array_equal(next(iter(raw))[0].numpy(), plain)


@pytest.fixture
def folder_tree(tmp_path):
    root = tmp_path / "shapes"
    exts = ["png", "jpg", "bmp", "gif", "ppm"]
    for c, name in enumerate(["blue", "green", "red"]):
        d = root / name
        d.mkdir(parents=True)
        for i in range(10):
            ext = exts[i % len(exts)]
            _img(COLORS[2 - c]).save(d / f"{i}.{ext}")
    return root


def test_folder_source_reads_every_format(folder_tree):
    x, y, info = load_arrays(f"folder:{folder_tree}", "train", image_size=(8, 8))
    assert info.class_names == ("blue", "green", "red")
    assert info.image_shape == (8, 8, 3)
    assert len(y) == 21  # 70% of 10 per class
    for label, channel in ((0, 2), (1, 1), (2, 0)):
        mean = x[y == label].mean(axis=(0, 1, 2))
        assert mean[channel] > 0.9 and mean.sum() < 1.2
    total = sum(len(load_arrays(f"folder:{folder_tree}", s, image_size=(8, 8))[1]) for s in ("train", "validation", "test"))
    assert total == 30


def test_folder_bad_files_are_skipped_and_counted(folder_tree):
    (folder_tree / "red" / "zero.png").write_bytes(b"")
    (folder_tree / "red" / "text.jpg").write_text("this is not an image")
    good = folder_tree / "red" / "0.png"
    (folder_tree / "red" / "trunc.png").write_bytes(good.read_bytes()[:40])
    with pytest.warns(UserWarning, match="skipped"):
        x, y, info = load_arrays(f"folder:{folder_tree}", "train", image_size=(8, 8), on_bad="skip", split_seed=1)
    reasons = " ".join(r for _, r in info.skipped)
    assert len(x) == len(y) == info.num_examples
    # The three bad files are spread over the splits; the ones in train are named in the report.
    for path, _reason in info.skipped:
        assert path.endswith(("zero.png", "text.jpg", "trunc.png"))
    per_split = {s: load_arrays(f"folder:{folder_tree}", s, image_size=(8, 8), split_seed=1)[2].skipped
                 for s in ("train", "validation", "test")}
    assert sum(len(v) for v in per_split.values()) == 3, reasons
    for split, skipped in per_split.items():
        if skipped:
            name = os.path.basename(skipped[0][0])
            with pytest.raises(DataError, match=name):
                load_arrays(f"folder:{folder_tree}", split, image_size=(8, 8), on_bad="raise", split_seed=1)


@pytest.mark.parametrize("content,match", [
    (b"", "empty"),
    (b"GIF89a not really", "corrupt|not a readable"),
    (b"hello", "not a readable"),
])
def test_decode_image_errors_name_the_file(tmp_path, content, match):
    p = tmp_path / "bad.gif"
    p.write_bytes(content)
    with pytest.raises(DataError, match=match) as err:
        decode_image(str(p), 3)
    assert "bad.gif" in str(err.value)


def test_decode_converts_rgba_cmyk_16bit_and_palette(tmp_path):
    rgba = Image.new("RGBA", (4, 4), (255, 0, 0, 128))
    rgba.save(tmp_path / "a.png")
    Image.new("CMYK", (4, 4), (0, 255, 255, 0)).save(tmp_path / "c.jpg")
    Image.fromarray(np.full((4, 4), 65535, np.uint16)).save(tmp_path / "g16.png")
    Image.new("RGB", (4, 4), (0, 0, 255)).convert("P").save(tmp_path / "p.gif")
    a = decode_image(str(tmp_path / "a.png"), 3)
    assert a.shape == (4, 4, 3) and 120 <= a[0, 0, 0] <= 135 and a[0, 0, 1] == 0  # composited on black
    c = decode_image(str(tmp_path / "c.jpg"), 3)
    assert c[0, 0, 0] > 200 and c[0, 0, 1] < 60
    g = decode_image(str(tmp_path / "g16.png"), 1)
    assert g.shape == (4, 4, 1) and g[0, 0, 0] == 255
    p = decode_image(str(tmp_path / "p.gif"), 3)
    assert p[0, 0, 2] > 200 and p[0, 0, 0] < 30


def test_missing_paths_and_names_are_named():
    with pytest.raises(DataError, match="/no/such/dir"):
        load_arrays("folder:/no/such/dir", "train")
    with pytest.raises(DataError, match="unknown data source 'mnist'"):
        load_arrays("mnist", "train")
    with pytest.raises(DataError, match="unknown split 'dev'"):
        load_arrays("digits", "dev")
    with pytest.raises(DataError, match="tfds:"):
        load_arrays("tfds:", "train")


def test_empty_class_folder_is_an_error(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _img(COLORS[0]).save(tmp_path / "a" / "x.png")
    with pytest.raises(DataError, match=r"empty class folder.*b"):
        load_arrays(f"folder:{tmp_path}", "train")


# ------------------------------------------------------------------ GTSRB

def _write_gtsrb(root, classes=(0, 1, 2), per_class=6, test_label_override=None, drop_column=None):
    cols = ["Filename", "Width", "Height", "Roi.X1", "Roi.Y1", "Roi.X2", "Roi.Y2", "ClassId"]
    if drop_column:
        cols.remove(drop_column)
    train = root / "Final_Training" / "Images"
    for c in classes:
        d = train / f"{c:05d}"
        d.mkdir(parents=True)
        rows = []
        for i in range(per_class):
            name = f"{c:05d}_{i:05d}.ppm"
            box = (4, 3, 13, 10)  # the coloured sign; the rest of the image is black
            _img(COLORS[c % 3], (20, 16), box).save(d / name)
            rows.append({"Filename": name, "Width": 20, "Height": 16, "Roi.X1": 4, "Roi.Y1": 3,
                         "Roi.X2": 13, "Roi.Y2": 10, "ClassId": c})
        (d / f"GT-{c:05d}.csv").write_text(
            ";".join(cols) + "\n" + "\n".join(";".join(str(r[k]) for k in cols) for r in rows) + "\n")
    test = root / "Final_Test" / "Images"
    test.mkdir(parents=True)
    rows = []
    for i, c in enumerate(list(classes) * 2):
        name = f"{i:05d}.ppm"
        _img(COLORS[c % 3], (20, 16), (2, 2, 9, 9)).save(test / name)
        label = test_label_override if (test_label_override is not None and i == 0) else c
        rows.append({"Filename": name, "Width": 20, "Height": 16, "Roi.X1": 2, "Roi.Y1": 2,
                     "Roi.X2": 9, "Roi.Y2": 9, "ClassId": label})
    (test / "GT-final_test.csv").write_text(
        ";".join(cols) + "\n" + "\n".join(";".join(str(r[k]) for k in cols) for r in rows) + "\n")
    return root


def test_gtsrb_labels_boxes_and_crops(tmp_path):
    root = _write_gtsrb(tmp_path / "GTSRB")
    x, y, info = load_arrays(f"gtsrb:{root}", "test", image_size=(8, 8))
    assert info.class_names[:3] == ("Speed limit (20km/h)", "Speed limit (30km/h)", "Speed limit (50km/h)")
    assert info.has_boxes and list(y) == [0, 1, 2, 0, 1, 2]
    xc, yc, _ = load_arrays(f"gtsrb:{root}", "train", image_size=(8, 8), crop="box")
    xo, yo, _ = load_arrays(f"gtsrb:{root}", "train", image_size=(8, 8), crop="none")
    # Cropped to the ROI the image is all sign colour; the original is mostly black.
    assert xc.mean() > 2.5 * xo.mean()
    for label in range(3):
        assert xc[yc == label][..., label % 3 if label != 0 else 0].mean() > 0.95
    xb, yb, _ = load_arrays(f"gtsrb:{root}", "train", image_size=(8, 8), crop="both")
    assert len(yb) == 2 * len(yc)
    np.testing.assert_allclose(xb[: len(yc)], xc)
    np.testing.assert_allclose(xb[len(yc):], xo)
    ds, info = load(f"gtsrb:{root}", "validation", image_size=(8, 8), batch_size=4)
    assert sum(int(b[1].shape[0]) for b in ds) == info.num_examples == 3


def test_gtsrb_bad_csv_and_labels(tmp_path):
    root = _write_gtsrb(tmp_path / "a", test_label_override=7)
    with pytest.raises(DataError, match=r"GT-final_test\.csv:2: ClassId 7 outside 0\.\.2"):
        load_arrays(f"gtsrb:{root}", "test")
    root = _write_gtsrb(tmp_path / "b", drop_column="Roi.X2")
    with pytest.raises(DataError, match=r"missing column\(s\) \['Roi.X2'\]"):
        load_arrays(f"gtsrb:{root}", "train")
    with pytest.raises(DataError, match="Final_Training/Images"):
        load_arrays(f"gtsrb:{tmp_path}", "train")


# ------------------------------------------------------------------ Tiny ImageNet

def _write_tiny(root, wnids=("n01", "n02"), per_class=5):
    root.mkdir(parents=True)
    (root / "wnids.txt").write_text("\n".join(wnids) + "\n")
    (root / "words.txt").write_text("n01\tgoldfish, Carassius auratus\nn02\ttabby, tabby cat\nn99\tunused\n")
    for c, w in enumerate(wnids):
        d = root / "train" / w / "images"
        d.mkdir(parents=True)
        lines = []
        for i in range(per_class):
            name = f"{w}_{i}.JPEG"
            _img(COLORS[c], (16, 16), (4, 4, 11, 11)).save(d / name, format="JPEG", quality=95)
            lines.append(f"{name}\t4\t4\t11\t11")
        (root / "train" / w / f"{w}_boxes.txt").write_text("\n".join(lines) + "\n")
    v = root / "val" / "images"
    v.mkdir(parents=True)
    ann = []
    for i, w in enumerate(list(wnids) * 2):
        name = f"val_{i}.JPEG"
        _img(COLORS[wnids.index(w)], (16, 16)).save(v / name, format="JPEG", quality=95)
        ann.append(f"{name}\t{w}\t0\t0\t15\t15")
    (root / "val" / "val_annotations.txt").write_text("\n".join(ann) + "\n")
    return root


def test_tiny_imagenet_names_labels_boxes(tmp_path):
    root = _write_tiny(tmp_path / "tiny")
    x, y, info = load_arrays(f"tiny_imagenet:{root}", "test", image_size=(8, 8))
    assert info.class_names == ("goldfish", "tabby")
    assert list(y) == [0, 1, 0, 1]
    assert x[y == 0][..., 0].mean() > 0.9 and x[y == 1][..., 1].mean() > 0.9
    xc, yc, _ = load_arrays(f"tiny_imagenet:{root}", "train", image_size=(8, 8), crop="box")
    xo, yo, _ = load_arrays(f"tiny_imagenet:{root}", "train", image_size=(8, 8))
    assert len(yc) == len(yo) and xc.mean() > 2 * xo.mean()
    _, yv, _ = load_arrays(f"tiny_imagenet:{root}", "validation", image_size=(8, 8))
    assert len(yv) + len(yo) == 10


def test_tiny_imagenet_unknown_wnid_is_named(tmp_path):
    root = _write_tiny(tmp_path / "tiny")
    with open(root / "val" / "val_annotations.txt", "a") as fh:
        fh.write("val_x.JPEG\tn77\t0\t0\t1\t1\n")
    with pytest.raises(DataError, match="wnid 'n77'"):
        load_arrays(f"tiny_imagenet:{root}", "test")


# ------------------------------------------------------------------ TFDS (prepared off-line)

def test_tfds_prepared_dataset_offline(tmp_path):
    import tensorflow_datasets as tfds

    class FixtureSquares(tfds.core.GeneratorBasedBuilder):
        """Tiny prepared image-classification data set for tests."""

        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(12, 12, 3)),
                "label": tfds.features.ClassLabel(names=["dark", "bright"])}))

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples(20), "test": self._generate_examples(6)}

        def _generate_examples(self, n):
            for i in range(n):
                yield i, {"image": np.full((12, 12, 3), 250 if i % 2 else 5, np.uint8), "label": i % 2}

    FixtureSquares(data_dir=str(tmp_path)).download_and_prepare()
    x, y, info = load_arrays("tfds:fixture_squares", "test", data_dir=str(tmp_path), image_size=(8, 8), channels=1)
    assert info.class_names == ("dark", "bright") and info.image_shape == (8, 8, 1)
    assert sorted(y.tolist()) == [0, 0, 0, 1, 1, 1]
    assert x[y == 1].min() > 0.9 and x[y == 0].max() < 0.1
    _, ytr, _ = load_arrays("tfds:fixture_squares", "train", data_dir=str(tmp_path), image_size=(8, 8))
    _, yva, _ = load_arrays("tfds:fixture_squares", "validation", data_dir=str(tmp_path), image_size=(8, 8))
    assert len(ytr) == 18 and len(yva) == 2
    with pytest.raises(DataError, match="no_such_dataset_xyz"):
        load_arrays("tfds:no_such_dataset_xyz", "train", data_dir=str(tmp_path))
