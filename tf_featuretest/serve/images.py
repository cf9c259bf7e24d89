"""Upload checks and image conversion for the HTTP service.

Uploads are checked before any pixel is decoded: the byte size (HTTP 413), the format sniffed from
the bytes (415 unless it is one of :data:`FORMATS`) and the dimensions and mode read from the header
(413 above ``max_side``, ``max_pixels`` or ``max_values``, width x height x channels: the
decompression-bomb guard and the per-request memory budget). Only then is the image decoded,
converted to the model's channels, resized to the model's input size and scaled to [0, 1].
"""
from __future__ import annotations

import base64
import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import DataError

FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP")


class UploadError(DataError):
    """An upload the service refuses; ``status`` is the HTTP status code to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class UploadLimits:
    """What the service accepts.

    Attributes:
        max_bytes: largest upload in bytes (413 above), enforced while the body streams in.
        max_side: largest width or height in pixels (413 above).
        max_pixels: largest width * height (413 above).
        max_values: largest width * height * channels of the decoded image (413 above), read from
            the header before anything is decoded: the per-request memory budget. The default,
            4 megapixels of RGBA, decodes to at most 16 MiB.
        max_decodes: most images decoded at once; more requests wait for a slot.
        formats: accepted formats as Pillow names them (415 otherwise).
    """

    max_bytes: int = 4 * 1024 * 1024
    max_side: int = 4096
    max_pixels: int = 4096 * 4096
    max_values: int = 4 * 1024 * 1024 * 4
    max_decodes: int = 2
    formats: tuple = FORMATS

    def __post_init__(self):
        for name in ("max_bytes", "max_side", "max_pixels", "max_values", "max_decodes"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise DataError(f"{name} must be a positive integer, got {value!r}")


#: Values per pixel Pillow holds for a mode once decoded (palette and alpha images are converted to RGBA).
_MODE_VALUES = {"1": 1, "L": 1, "I": 4, "F": 4, "I;16": 2, "I;16B": 2, "I;16L": 2, "P": 4, "PA": 4, "LA": 4,
                "La": 4, "RGB": 3, "YCbCr": 3, "LAB": 3, "HSV": 3, "RGBA": 4, "RGBa": 4, "RGBX": 4, "CMYK": 4}


def decoded_values(img: Image.Image) -> int:
    """Width * height * values per pixel that decoding (and the conversion to RGB/RGBA) will hold."""
    w, h = img.size
    return int(w) * int(h) * _MODE_VALUES.get(img.mode, 4)


def open_upload(data: bytes, limits: UploadLimits = UploadLimits()) -> Image.Image:
    """Check an upload from its bytes and header only; returns the opened (not yet decoded) image.

    Raises:
        UploadError: 413 (too many bytes, pixels or decoded values), 415 (not an accepted image
            format).
    """
    if len(data) > limits.max_bytes:
        raise UploadError(413, f"upload of {len(data)} bytes is over the limit of {limits.max_bytes} bytes")
    if not data:
        raise UploadError(415, "empty upload; send a PNG, JPEG, BMP, GIF or WEBP image")
    try:
        img = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise UploadError(413, f"image refused as a decompression bomb: {exc}") from None
    except (UnidentifiedImageError, OSError, ValueError):
        raise UploadError(415, f"unsupported image format; accepted: {', '.join(limits.formats)}") from None
    if img.format not in limits.formats:
        raise UploadError(415, f"unsupported image format {img.format!r}; accepted: {', '.join(limits.formats)}")
    w, h = img.size
    if w > limits.max_side or h > limits.max_side or w * h > limits.max_pixels:
        raise UploadError(413, f"image of {w}x{h} pixels is over the limit of {limits.max_side} per side "
                               f"and {limits.max_pixels} in all")
    values = decoded_values(img)
    if values > limits.max_values:
        raise UploadError(413, f"image of {w}x{h} pixels in mode {img.mode} would decode to {values} values, over "
                               f"the limit of {limits.max_values}")
    return img


def decode_image(img: Image.Image, image_shape) -> np.ndarray:
    """Decode an image :func:`open_upload` accepted to float32 ``[H, W, C]`` in [0, 1] at the model's size.

    Raises:
        UploadError: 400 when the pixels cannot be decoded (a truncated or damaged file).
    """
    try:
        img.load()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise UploadError(400, f"cannot decode the {img.format} image: {exc}") from None
    try:
        return to_model_array(img, image_shape)
    finally:
        img.close()


def decode_upload(data: bytes, image_shape, limits: UploadLimits = UploadLimits()) -> np.ndarray:
    """Check and decode one uploaded image to float32 ``[H, W, C]`` in [0, 1] at the model's size.

    Args:
        data: the uploaded bytes.
        image_shape: the model's ``(H, W, C)``; C is 1 (grey) or 3 (RGB).
        limits: an :class:`UploadLimits`.

    Raises:
        UploadError: with ``status`` 413 (too many bytes, pixels or decoded values), 415 (not an
            accepted image format) or 400 (an accepted format whose pixels cannot be decoded).

    Example:
        >>> decode_upload(png_bytes, (32, 32, 1)).shape  # doctest: +SKIP
        (32, 32, 1)
    """
    return decode_image(open_upload(data, limits), image_shape)


def to_model_array(img: Image.Image, image_shape) -> np.ndarray:
    """A Pillow image as float32 ``[H, W, C]`` in [0, 1] with the model's size and channels."""
    h, w, c = (int(v) for v in image_shape)
    if img.mode in ("RGBA", "LA", "P"):
        img = img.convert("RGBA")
        back = Image.new("RGBA", img.size, (0, 0, 0, 255))
        img = Image.alpha_composite(back, img)
    img = img.convert("L" if c == 1 else "RGB")
    if img.size != (w, h):
        img = img.resize((w, h), Image.Resampling.BILINEAR)
    arr = np.asarray(img, np.float32) / 255.0
    return arr.reshape(h, w, c)


def to_png(arr) -> bytes:
    """float ``[H, W, C]`` (or ``[H, W]``) in [0, 1] as PNG bytes (grey for one channel)."""
    arr = np.asarray(arr, np.float32)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    img = Image.fromarray(np.round(np.clip(arr, 0.0, 1.0) * 255.0).astype(np.uint8))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def perturbation_image(x, x_adv) -> np.ndarray:
    """The perturbation ``x_adv - x`` amplified to fill [0, 1], mid-grey meaning no change."""
    d = np.asarray(x_adv, np.float32) - np.asarray(x, np.float32)
    peak = float(np.abs(d).max())
    return 0.5 + d / (2.0 * peak) if peak > 0 else np.full_like(d, 0.5)


def png_data_url(arr) -> str:
    """``data:image/png;base64,...`` of an array in [0, 1]."""
    return "data:image/png;base64," + base64.b64encode(to_png(arr)).decode("ascii")
