"""Decoding image files into uint8 arrays of a fixed channel count.

PIL decodes every format the loaders accept (PNG, JPEG, BMP, GIF, PPM/PGM, TIFF), including the
PPM files GTSRB ships, which ``tf.io.decode_image`` and Keras's folder loader reject. Images are
converted to the wanted channel count (1 = grayscale, 3 = RGB): RGBA is composited on black,
CMYK, palette and 16-bit images are converted; anything else is rejected with the file named.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import DataError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm", ".pgm", ".pnm", ".tif", ".tiff")

# Pixel-count cap against decompression bombs (an image header may claim gigapixels).
MAX_PIXELS = 64_000_000


def is_image_file(path: str) -> bool:
    return path.lower().endswith(IMAGE_EXTENSIONS)


def _to_mode(img: Image.Image, channels: int, where: str) -> Image.Image:
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if arr.max(initial=0) > 255 else 255.0
        img = Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8), mode="L")
    elif mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        if not np.isfinite(arr).all():
            raise DataError(f"{where}: floating-point image contains NaN or infinity")
        top = 1.0 if arr.max(initial=0) <= 1.0 else 255.0
        img = Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8), mode="L")
    elif mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, (0, 0, 0, 255))
        img = Image.alpha_composite(background, img)
    elif mode not in ("L", "RGB", "P", "CMYK", "YCbCr", "1", "LAB", "HSV"):
        raise DataError(f"{where}: unsupported image mode {mode!r}")
    return img.convert("L" if channels == 1 else "RGB")


def decode_image(path: str, channels: int, box=None, size=None) -> np.ndarray:
    """Decode one image file to ``uint8`` HWC with ``channels`` channels.

    Args:
        path: the image file.
        channels: 1 or 3.
        box: optional ``(x1, y1, x2, y2)`` pixel box (inclusive corners, as GTSRB and Tiny
            ImageNet write them) to crop to before resizing.
        size: optional ``(height, width)`` to resize to (bilinear, antialiased).

    Raises:
        DataError: naming the file when it is missing, empty, not an image, truncated, too
            large, or in a mode that cannot be converted.
    """
    if not os.path.isfile(path):
        raise DataError(f"image file not found: {path}")
    if os.path.getsize(path) == 0:
        raise DataError(f"empty (zero-byte) image file: {path}")
    try:
        with Image.open(path) as img:
            if img.width * img.height > MAX_PIXELS:
                raise DataError(f"{path}: image is {img.width}x{img.height}, over the {MAX_PIXELS}-pixel limit")
            img.load()
            img = _to_mode(img, channels, path)
    except DataError:
        raise
    except UnidentifiedImageError:
        raise DataError(f"not a readable image file: {path}") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise DataError(f"corrupt or truncated image file: {path} ({exc})") from None
    if box is not None:
        x1, y1, x2, y2 = (int(v) for v in box)
        x1, y1 = max(0, x1), max(0, y1)
        x2, y2 = min(img.width - 1, x2), min(img.height - 1, y2)
        if x2 < x1 or y2 < y1:
            raise DataError(f"{path}: bounding box {tuple(box)} lies outside the {img.width}x{img.height} image")
        img = img.crop((x1, y1, x2 + 1, y2 + 1))
    if size is not None:
        h, w = size
        if (img.height, img.width) != (h, w):
            img = img.resize((w, h), Image.BILINEAR, reducing_gap=None)
    arr = np.asarray(img, dtype=np.uint8)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return arr


@dataclass(frozen=True)
class DecodeReport:
    """What a bulk decode kept and skipped."""

    kept: int
    skipped: tuple  # ((path, reason), ...)

    def to_dict(self) -> dict:
        return {"kept": self.kept, "skipped": [list(s) for s in self.skipped]}


def decode_many(paths, channels, size, boxes=None, *, on_bad="skip", workers=None, labels=None):
    """Decode many files in threads (PIL releases the GIL while decoding).

    Args:
        on_bad: ``"skip"`` drops unreadable files and reports them (with a warning), ``"raise"``
            stops at the first one with its name.
        labels: optional ``(label per path, class names, source)``: a class none of whose files
            can be read is a :class:`DataError` (training on the rest would silently drop it).

    Returns:
        ``(images uint8 [N, H, W, C], kept_indices int array, DecodeReport)``.
    """
    if on_bad not in ("skip", "raise"):
        raise DataError(f"on_bad must be 'skip' or 'raise', got {on_bad!r}")
    boxes = boxes if boxes is not None else [None] * len(paths)

    def one(i):
        try:
            return i, decode_image(paths[i], channels, boxes[i], size), None
        except DataError as exc:
            if on_bad == "raise":
                raise
            return i, None, str(exc)

    workers = workers or min(8, (os.cpu_count() or 2) * 2)
    out = np.zeros((len(paths), size[0], size[1], channels), np.uint8)
    kept, skipped = [], []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for i, arr, err in pool.map(one, range(len(paths))):
            if err is None:
                out[len(kept)] = arr
                kept.append(i)
            else:
                skipped.append((paths[i], err))
    if skipped:
        import warnings

        warnings.warn(
            f"skipped {len(skipped)} unreadable image file(s) of {len(paths)}; first: {skipped[0][1]}",
            stacklevel=3,
        )
    if labels is not None and skipped:
        y, names, source = labels
        y = np.asarray(y)
        read = y[np.asarray(kept, dtype=np.int64)]
        lost = [int(c) for c in np.unique(y) if not np.any(read == c)]
        if lost:
            first = next(err for p, err in skipped if y[paths.index(p)] == lost[0])
            raise DataError(f"{source}: none of the {int(np.sum(y == lost[0]))} images of class {names[lost[0]]!r} "
                            f"can be read (e.g. {first})")
    return out[: len(kept)], np.asarray(kept, dtype=np.int64), DecodeReport(len(kept), tuple(skipped))
