"""Write a class-sorted image folder made from scikit-learn's digits, the way a user's own data looks.

Each of the 1,797 8x8 digits is upscaled to 28x28 and varied by a random affine transform (rotation,
scale, shift), a little blur and pixel noise. The digits are split 80/20 by class *before*
augmenting, so no test image is a variant of a training image. Files go to ``train/<class>/`` and
``test/<class>/`` as PNGs (8-bit grayscale, or RGB with ``--rgb``: a coloured digit on a coloured
background, different per image).

Example:
    python examples/make_digits_folder.py data/digits_folder --count 10000
    featuretest evaluate --model my_model.keras --data folder:data/digits_folder
"""
from __future__ import annotations

import argparse
import os

import numpy as np
from PIL import Image, ImageFilter


def augment(digit: np.ndarray, rng: np.random.Generator, size: int = 28) -> np.ndarray:
    """One 8x8 digit (values 0-16) as a varied ``size`` x ``size`` uint8 grayscale image."""
    img = Image.fromarray((digit * (255.0 / 16.0)).astype(np.uint8), mode="L")
    inner = int(round(size * rng.uniform(0.62, 0.78)))
    img = img.resize((inner, inner), Image.BICUBIC)
    canvas = Image.new("L", (size, size), 0)
    off = (size - inner) // 2
    canvas.paste(img, (off + int(rng.integers(-2, 3)), off + int(rng.integers(-2, 3))))
    canvas = canvas.rotate(float(rng.uniform(-14, 14)), resample=Image.BILINEAR, fillcolor=0)
    canvas = canvas.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.0, 0.7))))
    arr = np.asarray(canvas, np.float32) + rng.normal(0, 6.0, (size, size))
    return np.clip(arr, 0, 255).astype(np.uint8)


def colourise(gray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A grayscale digit as RGB: foreground and background colours drawn per image."""
    fg = rng.uniform(150, 255, 3)
    bg = rng.uniform(0, 90, 3)
    a = gray.astype(np.float32)[..., None] / 255.0
    return np.clip(a * fg + (1 - a) * bg, 0, 255).astype(np.uint8)


def write_folder(root: str, count: int = 10000, *, rgb: bool = False, seed: int = 0, test_fraction: float = 0.2):
    """Write ``count`` images (train and test) under ``root``; returns ``{split: images written}``."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    rng = np.random.default_rng(seed)
    digits, labels = bunch.images, bunch.target
    source = {"train": [], "test": []}
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_test = int(round(test_fraction * len(idx)))
        source["test"] += idx[:n_test].tolist()
        source["train"] += idx[n_test:].tolist()
    written = {}
    for split, share in (("train", 1 - test_fraction), ("test", test_fraction)):
        n = int(round(count * share))
        pool = np.asarray(source[split])
        picks = np.concatenate([rng.permutation(pool) for _ in range(n // len(pool) + 1)])[:n]
        for c in range(10):
            os.makedirs(os.path.join(root, split, str(c)), exist_ok=True)
        for i, k in enumerate(picks):
            img = augment(digits[k], rng)
            img = Image.fromarray(colourise(img, rng), "RGB") if rgb else Image.fromarray(img, "L")
            img.save(os.path.join(root, split, str(labels[k]), f"{i:05d}.png"))
        written[split] = n
    return written


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("root", help="the folder to write (train/<class>/ and test/<class>/ go inside)")
    ap.add_argument("--count", type=int, default=10000, help="images in all (80%% train, 20%% test)")
    ap.add_argument("--rgb", action="store_true", help="coloured RGB images instead of grayscale")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print(write_folder(args.root, args.count, rgb=args.rgb, seed=args.seed))


if __name__ == "__main__":
    main()
