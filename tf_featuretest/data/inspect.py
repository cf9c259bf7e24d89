"""Channels and size from the data: what the image files of a source are, read from a sample of them.

A folder of grayscale PNGs must load as one channel, and a folder of 28x28 images at 28x28, unless
the configuration says otherwise. :func:`survey_files` opens an evenly spaced sample of a source's
files (every class is in it, since files are listed class by class) and counts their modes: a file
is *grayscale* when its mode has one channel (``L``, ``1``, ``I;16``, ``F``, ``LA``) or when it is
stored in a colour mode but its three channels are equal (a gray image saved as RGB, a gray
palette). :func:`choose_shape` then picks the channel count (1 only when every sampled file is
grayscale: a mostly-gray set with some colour images stays RGB) and, for image folders, the size
(the files' own size when all sampled files share it), and writes down why, for the report.

Example:
    >>> choice = choose_shape("folder:data/digits_folder")  # doctest: +SKIP
    >>> choice.channels, choice.image_size, choice.channels_from
    (1, (28, 28), 'inferred')
"""
from __future__ import annotations

import functools
import os
from collections import Counter
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import DataError
from .images import is_image_file

#: Files opened to infer channels and size (evenly spaced over the sorted file list).
SAMPLE_FILES = 96
#: A folder whose files all share one size is loaded at that size when neither side exceeds this.
MAX_NATIVE_SIDE = 128
#: Largest difference between the channels of a colour-mode file that still counts as gray (JPEG rounding).
GRAY_TOLERANCE = 3

GRAY_MODES = ("L", "1", "I", "I;16", "I;16B", "I;16L", "F", "LA")

#: Where each kind of source keeps the images the survey samples (relative to the source's path).
_SURVEY_ROOTS = {"folder": "", "gtsrb": os.path.join("Final_Training", "Images"), "tiny_imagenet": "train"}


@dataclass(frozen=True)
class ImageSurvey:
    """What a sample of a source's image files holds.

    Attributes:
        total: image files found.
        sampled: files opened.
        unreadable: sampled files that could not be read.
        modes: ``((PIL mode, count), ...)`` of the readable sampled files, most common first.
        gray: readable sampled files that are grayscale (a one-channel mode, or equal channels).
        equal_channels: of those, the files stored in a colour mode whose channels are all equal.
        sizes: ``((height, width), count)`` pairs of the readable sampled files, most common first.
    """

    total: int
    sampled: int
    unreadable: int
    modes: tuple
    gray: int
    equal_channels: int
    sizes: tuple

    @property
    def readable(self) -> int:
        return self.sampled - self.unreadable

    @property
    def channels(self) -> int:
        """1 when every readable sampled file is grayscale, else 3."""
        return 1 if self.readable and self.gray == self.readable else 3

    @property
    def uniform_size(self):
        """``(height, width)`` when every readable sampled file has it, else None."""
        return tuple(self.sizes[0][0]) if len(self.sizes) == 1 else None

    def describe(self) -> str:
        """``"96 of 10,000 files sampled, all grayscale (96 mode L)"`` and the like."""
        modes = ", ".join(f"{n} mode {m}" for m, n in self.modes)
        head = f"{self.sampled} of {self.total:,} files sampled"
        if not self.readable:
            return f"{head}, none readable"
        if self.channels == 1:
            eq = f"; {self.equal_channels} stored in colour with equal channels" if self.equal_channels else ""
            text = f"{head}, all grayscale ({modes}{eq})"
        else:
            text = f"{head}: {self.readable - self.gray} in colour, {self.gray} grayscale ({modes})"
        return text + (f"; {self.unreadable} unreadable" if self.unreadable else "")

    def to_dict(self) -> dict:
        return {"total": self.total, "sampled": self.sampled, "unreadable": self.unreadable,
                "modes": {m: n for m, n in self.modes}, "gray": self.gray, "equal_channels": self.equal_channels,
                "sizes": [[list(s), n] for s, n in self.sizes], "channels": self.channels}


def _is_gray(img: Image.Image) -> bool:
    if img.mode in GRAY_MODES:
        return True
    if img.mode in ("P", "PA"):
        img = img.convert("RGBA")
    try:
        arr = np.asarray(img.convert("RGB"), dtype=np.int16)
    except (OSError, ValueError):
        return False
    return bool(np.abs(arr[..., 0] - arr[..., 1]).max(initial=0) <= GRAY_TOLERANCE
                and np.abs(arr[..., 1] - arr[..., 2]).max(initial=0) <= GRAY_TOLERANCE)


def survey_files(paths, sample: int = SAMPLE_FILES) -> ImageSurvey:
    """Open an evenly spaced sample of ``paths`` and count modes, grayscale files and sizes."""
    paths = list(paths)
    if not paths:
        raise DataError("no image files to infer the channel count from")
    take = np.unique(np.linspace(0, len(paths) - 1, min(sample, len(paths))).round().astype(np.int64))
    modes, sizes = Counter(), Counter()
    gray = equal = unreadable = 0
    for i in take:
        try:
            with Image.open(paths[i]) as img:
                img.load()
                modes[img.mode] += 1
                sizes[(img.height, img.width)] += 1
                if _is_gray(img):
                    gray += 1
                    equal += img.mode not in GRAY_MODES
        except (OSError, SyntaxError, ValueError, UnidentifiedImageError, Image.DecompressionBombError):
            unreadable += 1
    return ImageSurvey(total=len(paths), sampled=len(take), unreadable=unreadable,
                       modes=tuple(modes.most_common()), gray=gray, equal_channels=equal,
                       sizes=tuple(sizes.most_common()))


def _image_files(root: str) -> list:
    out = []
    for d, dirs, files in os.walk(root):
        dirs[:] = sorted(x for x in dirs if not x.startswith("."))
        out += [os.path.join(d, f) for f in sorted(files) if is_image_file(f)]
    return out


@functools.lru_cache(maxsize=32)
def survey_source(kind: str, path: str, mtime: float = 0.0) -> ImageSurvey:
    """The :class:`ImageSurvey` of a file-based source (``folder``, ``gtsrb``, ``tiny_imagenet``)."""
    root = os.path.join(path, _SURVEY_ROOTS[kind]) if _SURVEY_ROOTS[kind] else path
    if not os.path.isdir(root):
        raise DataError(f"image folder not found: {root}")
    files = _image_files(root)
    if not files:
        raise DataError(f"{root}: no image files found")
    return survey_files(files)


@dataclass(frozen=True)
class ShapeChoice:
    """The image size and channel count a source is loaded at, and where each came from.

    Attributes:
        image_size: ``(height, width)``, or None for a source's native size (TFDS).
        channels: 1, 3, or None for a source's native channels (TFDS).
        size_from, channels_from: ``"configured"``, ``"inferred"`` (from the files), ``"default"``
            (the source's fixed default) or ``"native"`` (TFDS keeps its own).
        survey: the :class:`ImageSurvey` behind an inference, or None.
    """

    image_size: tuple | None
    channels: int | None
    size_from: str
    channels_from: str
    survey: ImageSurvey | None = None

    def describe(self) -> str:
        """One sentence for the report: the shape and how it was decided."""
        size = "native size" if self.image_size is None else f"{self.image_size[0]}x{self.image_size[1]}"
        chans = ("native channels" if self.channels is None
                 else f"{self.channels} channel{'s' if self.channels != 1 else ''}")
        why = {"configured": "as configured", "native": "as the data set stores them",
               "default": "the source's default"}
        s = self.survey
        if self.channels_from == "inferred":
            chan_text = (f"{chans} ({'grayscale' if self.channels == 1 else 'colour'}, inferred from the files: "
                         f"{s.describe()})")
        else:
            chan_text = f"{chans} ({why[self.channels_from]})"
        if self.size_from == "inferred":
            size_text = f"{size} (the size of every sampled file)"
        elif self.size_from == "default" and s is not None and s.sizes:
            hs = [hw[0] for hw, _ in s.sizes]
            ws = [hw[1] for hw, _ in s.sizes]
            span = (f"{min(hs)}x{min(ws)} to {max(hs)}x{max(ws)}" if len(s.sizes) > 1
                    else f"{hs[0]}x{ws[0]}, larger than {MAX_NATIVE_SIDE} pixels")
            size_text = f"{size} (the source's default; the sampled files are {span}; set data.image_size to change it)"
        else:
            size_text = f"{size} ({why[self.size_from]})"
        return f"Images are loaded at {size_text} with {chan_text}."

    def to_dict(self) -> dict:
        return {"image_size": None if self.image_size is None else list(self.image_size), "channels": self.channels,
                "size_from": self.size_from, "channels_from": self.channels_from,
                "survey": None if self.survey is None else self.survey.to_dict(), "note": self.describe()}


def choose_shape(kind: str, path: str | None, image_size, channels, default_size, default_channels) -> ShapeChoice:
    """Decide the size and channels a source is loaded at (configured values win; see the module doc).

    Args:
        kind, path: the parsed source (``"folder"``, ``"/data/x"``).
        image_size, channels: the configured values, or None.
        default_size, default_channels: the source's defaults (None: native, or infer for files).
    """
    survey = None
    if kind in _SURVEY_ROOTS and (channels is None or (image_size is None and kind == "folder")):
        survey = survey_source(kind, path, _mtime(path))
    if channels is not None:
        chans, chans_from = int(channels), "configured"
    elif survey is not None:
        chans, chans_from = survey.channels, "inferred"
    else:
        chans, chans_from = default_channels, "default" if default_channels is not None else "native"
    if image_size is not None:
        size, size_from = tuple(int(v) for v in image_size), "configured"
    elif kind == "folder" and survey.uniform_size is not None and max(survey.uniform_size) <= MAX_NATIVE_SIDE:
        size, size_from = survey.uniform_size, "inferred"
    else:
        size, size_from = default_size, "default" if default_size is not None else "native"
    return ShapeChoice(image_size=size, channels=chans, size_from=size_from, channels_from=chans_from,
                       survey=survey if (chans_from == "inferred" or kind == "folder") else None)


def _mtime(path: str) -> float:
    """The folder's modification time (a rewritten folder is surveyed again)."""
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0
