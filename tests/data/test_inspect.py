"""Channels and size from the files: grayscale folders load as one channel, uniform sizes are kept."""
import numpy as np
import pytest
from PIL import Image

from tf_featuretest.data import load_arrays, resolve_shape
from tf_featuretest.data.inspect import MAX_NATIVE_SIDE, survey_files


def _write(root, images, ext="png"):
    """``images``: class name -> list of PIL images; written class-sorted as ``root/<class>/<i>.<ext>``."""
    for name, imgs in images.items():
        d = root / name
        d.mkdir(parents=True, exist_ok=True)
        for i, img in enumerate(imgs):
            img.save(d / f"{i:03d}.{ext}")
    return root


def _gray(rng, size=(28, 28)):
    return Image.fromarray(rng.integers(0, 256, size, dtype=np.uint8), "L")


def _colour(rng, size=(28, 28)):
    return Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8), "RGB")


def test_a_grayscale_folder_loads_as_one_channel_at_its_own_size(tmp_path, rng):
    root = _write(tmp_path / "g", {c: [_gray(rng) for _ in range(12)] for c in "abc"})
    x, y, info = load_arrays(f"folder:{root}", "train")
    assert x.shape[1:] == (28, 28, 1) and info.image_shape == (28, 28, 1)
    assert info.shape.channels_from == "inferred" and info.shape.size_from == "inferred"
    assert "1 channel (grayscale, inferred" in info.shape.describe() and "28x28" in info.shape.describe()
    # The pixels are the files' own (no colour conversion, no resize): compare with PIL directly.
    first = np.asarray(Image.open(root / "a" / "000.png"), np.float32) / 255.0
    assert any(np.array_equal(xi[..., 0], first) for xi in x[y == 0])


def test_gray_images_stored_as_rgb_count_as_gray_but_one_colour_file_makes_it_rgb(tmp_path, rng):
    gray_as_rgb = [_gray(rng).convert("RGB") for _ in range(10)] + [_gray(rng).convert("P") for _ in range(3)]
    root = _write(tmp_path / "eq", {"a": gray_as_rgb, "b": [_gray(rng) for _ in range(10)]})
    choice = resolve_shape(f"folder:{root}")
    assert choice.channels == 1 and choice.survey.equal_channels == 13 and choice.survey.gray == 23
    _colour(rng).save(root / "b" / "zzz.png")
    mixed = survey_files(sorted(str(p) for p in root.rglob("*.png")))
    assert mixed.channels == 3 and mixed.readable - mixed.gray == 1


def test_survey_agrees_with_a_brute_force_over_every_file(tmp_path, rng):
    images = {c: [(_gray(rng) if rng.random() < 0.8 else _colour(rng)) for _ in range(15)] for c in "abcd"}
    root = _write(tmp_path / "mix", images)
    paths = sorted(str(p) for p in root.rglob("*.png"))
    s = survey_files(paths, sample=len(paths))
    brute = 0
    for p in paths:
        arr = np.asarray(Image.open(p).convert("RGB"), np.int16)
        brute += int(np.array_equal(arr[..., 0], arr[..., 1]) and np.array_equal(arr[..., 1], arr[..., 2]))
    assert s.sampled == len(paths) and s.gray == brute
    assert s.channels == (1 if brute == len(paths) else 3)


def test_an_rgb_folder_stays_rgb_and_configured_values_win(tmp_path, rng):
    root = _write(tmp_path / "c", {c: [_colour(rng) for _ in range(8)] for c in "ab"})
    x, _, info = load_arrays(f"folder:{root}", "train")
    assert x.shape[1:] == (28, 28, 3) and info.shape.channels_from == "inferred"
    x1, _, info1 = load_arrays(f"folder:{root}", "train", image_size=(16, 16), channels=1)
    assert x1.shape[1:] == (16, 16, 1)
    assert (info1.shape.channels_from, info1.shape.size_from) == ("configured", "configured")


@pytest.mark.parametrize("sizes, expect", [(((20, 30), (40, 40)), (32, 32)),
                                           (((MAX_NATIVE_SIDE + 2, MAX_NATIVE_SIDE + 2),), (32, 32))])
def test_mixed_or_large_sizes_keep_the_default_and_say_so(tmp_path, rng, sizes, expect):
    images = {"a": [_gray(rng, s) for s in sizes for _ in range(3)], "b": [_gray(rng, sizes[0]) for _ in range(3)]}
    root = _write(tmp_path / "s", images)
    choice = resolve_shape(f"folder:{root}")
    assert choice.image_size == expect and choice.size_from == "default"
    assert "set data.image_size" in choice.describe()


def test_digits_and_results_dict(tmp_path):
    choice = resolve_shape("digits")
    assert (choice.image_size, choice.channels, choice.channels_from) == ((32, 32), 1, "default")
    d = choice.to_dict()
    assert d["channels"] == 1 and d["note"] == choice.describe() and d["survey"] is None
