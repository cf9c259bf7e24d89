"""ImageNet-C and CIFAR-10-C: the reference's five levels per corruption, and the rule that picks a preset.

Hendrycks & Dietterich (2019, "Benchmarking Neural Network Robustness to Common Corruptions and
Perturbations", ICLR) define five severity levels per corruption. :data:`IMAGENET_C` holds the
parameters of ``make_imagenet_c.py`` (224-pixel images) and :data:`CIFAR10_C` those of
``make_cifar_c.py`` (32-pixel images), both from github.com/hendrycks/robustness
(``ImageNet-C/create_c/``), keyed by the reference's own names. :func:`tf_featuretest.noise.corrupt`
applies them exactly; pixel sizes are the reference's pixels whatever the image size (as the
``imagecorruptions`` package does), so the output is the reference's at 224 and 32 pixels.

**Which preset** (:func:`choose_preset`): ``"imagenet-c"`` or ``"cifar10-c"`` when asked for; with
``"auto"``, CIFAR-10-C for images whose shorter side is at most 64 pixels, ImageNet-C above.

**The continuous scale.** The registered noises take a severity ``s`` in [0, 1]. The ten that existed
before the presets keep their own mapping (:data:`SCALES`); ``IMAGENET_C_SEVERITIES`` /
``CIFAR10_C_SEVERITIES`` give the severities that reproduce each level's parameter on that scale (at
224 and 32 pixels for the spatial ones; motion blur's radius and glass-like multi-parameter
corruptions have no such inverse). The others (:data:`LEVEL_SCALED`) put level ``k`` at ``s = k / 5``
of the preset :func:`choose_preset` picks for the image, blending the outputs of the two neighbouring
levels linearly in between (level 0 is the clean image).
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import ConfigError

PRESETS = ("imagenet-c", "cifar10-c")
#: The 15 corruptions of the benchmark (the mCE averages these), in the paper's order.
BENCHMARK = ("gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur",
             "zoom_blur", "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate",
             "jpeg_compression")
#: The four held-out extra corruptions.
EXTRA = ("speckle_noise", "gaussian_blur", "spatter", "saturate")
#: The side (pixels) each preset was made for.
NATIVE_SIDE = {"imagenet-c": 224, "cifar10-c": 32}
#: ``auto`` picks CIFAR-10-C up to this shorter side, ImageNet-C above.
CIFAR_MAX_SIDE = 64

#: make_imagenet_c.py's parameters, level 1..5 (pixel sizes at 224 px).
IMAGENET_C = {
    "gaussian_noise": (0.08, 0.12, 0.18, 0.26, 0.38),
    "shot_noise": (60, 25, 12, 5, 3),
    "impulse_noise": (0.03, 0.06, 0.09, 0.17, 0.27),
    "defocus_blur": ((3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)),
    "glass_blur": ((0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)),
    "motion_blur": ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15)),
    "zoom_blur": tuple(tuple(np.arange(1, stop, step).tolist()) for stop, step in
                       ((1.11, 0.01), (1.16, 0.01), (1.21, 0.02), (1.26, 0.02), (1.31, 0.03))),
    "snow": ((0.1, 0.3, 3, 0.5, 10, 4, 0.8), (0.2, 0.3, 2, 0.5, 12, 4, 0.7), (0.55, 0.3, 4, 0.9, 12, 8, 0.7),
             (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65), (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55)),
    "frost": ((1, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75)),
    "fog": ((1.5, 2), (2, 2), (2.5, 1.7), (2.5, 1.5), (3, 1.4)),
    "brightness": (0.1, 0.2, 0.3, 0.4, 0.5),
    "contrast": (0.4, 0.3, 0.2, 0.1, 0.05),
    "elastic_transform": tuple((244 * a, 244 * b, 244 * c) for a, b, c in  # the reference's 244 (sic)
                               ((2, 0.7, 0.1), (2, 0.08, 0.2), (0.05, 0.01, 0.02), (0.07, 0.01, 0.02),
                                (0.12, 0.01, 0.02))),
    "pixelate": (0.6, 0.5, 0.4, 0.3, 0.25),
    "jpeg_compression": (25, 18, 15, 10, 7),
    "speckle_noise": (0.15, 0.2, 0.35, 0.45, 0.6),
    "gaussian_blur": (1, 2, 3, 4, 6),
    "spatter": ((0.65, 0.3, 4, 0.69, 0.6, 0), (0.65, 0.3, 3, 0.68, 0.6, 0), (0.65, 0.3, 2, 0.68, 0.5, 0),
                (0.65, 0.3, 1, 0.65, 1.5, 1), (0.67, 0.4, 1, 0.65, 1.5, 1)),
    "saturate": ((0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (20, 0.2)),
}

#: make_cifar_c.py's parameters, level 1..5 (pixel sizes at 32 px).
CIFAR10_C = {
    "gaussian_noise": (0.04, 0.06, 0.08, 0.09, 0.10),
    "shot_noise": (500, 250, 100, 75, 50),
    "impulse_noise": (0.01, 0.02, 0.03, 0.05, 0.07),
    "defocus_blur": ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)),
    "glass_blur": ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)),
    "motion_blur": ((6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)),
    "zoom_blur": tuple(tuple(np.arange(1, stop, 0.01).tolist()) for stop in (1.06, 1.11, 1.16, 1.21, 1.26)),
    "snow": ((0.1, 0.2, 1, 0.6, 8, 3, 0.95), (0.1, 0.2, 1, 0.5, 10, 4, 0.9), (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
             (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85), (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8)),
    "frost": ((1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)),
    "fog": ((0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)),
    "brightness": (0.05, 0.1, 0.15, 0.2, 0.3),
    "contrast": (0.75, 0.5, 0.4, 0.3, 0.15),
    "elastic_transform": tuple((32 * a, 32 * b, 32 * c) for a, b, c in
                               ((0, 0, 0.08), (0.05, 0.2, 0.07), (0.08, 0.06, 0.06), (0.1, 0.04, 0.05),
                                (0.1, 0.03, 0.03))),
    "pixelate": (0.95, 0.9, 0.85, 0.75, 0.65),
    "jpeg_compression": (80, 65, 58, 50, 40),
    "speckle_noise": (0.06, 0.1, 0.12, 0.16, 0.2),
    "gaussian_blur": (0.4, 0.6, 0.7, 0.8, 1),
    "spatter": ((0.62, 0.1, 0.7, 0.7, 0.5, 0), (0.65, 0.1, 0.8, 0.7, 0.5, 0), (0.65, 0.3, 1, 0.69, 0.5, 0),
                (0.65, 0.1, 0.7, 0.69, 0.6, 1), (0.65, 0.1, 0.5, 0.68, 0.6, 1)),
    "saturate": ((0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2)),
}

TABLES = {"imagenet-c": IMAGENET_C, "cifar10-c": CIFAR10_C}

#: Reference name -> (registry name, parameter -> severity at side ``n``) for the noises with their own scale.
SCALES = {
    "gaussian_noise": ("gaussian", lambda c, n: c / 0.5),
    "shot_noise": ("shot", lambda c, n: 1.0 / math.sqrt(c)),
    "impulse_noise": ("salt_and_pepper", lambda c, n: c / 0.5),
    "speckle_noise": ("speckle", lambda c, n: c),
    "gaussian_blur": ("gaussian_blur", lambda c, n: 16.0 * c / n),
    "motion_blur": ("motion_blur", lambda c, n: 10.0 * c[1] / n),
    "brightness": ("brightness", lambda c, n: c),
    "contrast": ("contrast", lambda c, n: 1.0 - c),
    "jpeg_compression": ("jpeg", lambda c, n: 1.0 - math.sqrt(c / 100.0)),
    "pixelate": ("pixelate", lambda c, n: (1.0 - c) / 0.9),
}
#: The corruptions whose continuous severity is ``level / 5`` (outputs blended between levels).
LEVEL_SCALED = tuple(n for n in BENCHMARK + EXTRA if n not in SCALES)


def _severities(preset):
    side = NATIVE_SIDE[preset]
    return {SCALES[name][0]: tuple(round(SCALES[name][1](c, side), 4) for c in TABLES[preset][name])
            for name in SCALES}


#: Severity on the continuous scale of each ImageNet-C level 1..5 (keyed by registry name; sigma for motion).
IMAGENET_C_SEVERITIES = _severities("imagenet-c")
#: The same for CIFAR-10-C.
CIFAR10_C_SEVERITIES = _severities("cifar10-c")
#: ImageNet-C's parameters keyed by registry name (the noises with their own scale).
IMAGENET_C_PARAMETERS = {SCALES[n][0]: IMAGENET_C[n] for n in SCALES}


def check_preset(preset: str) -> str:
    """``preset`` if it is ``"imagenet-c"``, ``"cifar10-c"`` or ``"auto"``; :class:`ConfigError` otherwise."""
    if preset not in PRESETS + ("auto",):
        raise ConfigError(f"preset must be one of {', '.join(PRESETS)} or auto, got {preset!r}")
    return preset


def choose_preset(preset: str, height: int, width: int) -> str:
    """The preset to use: the one asked for, or for ``"auto"`` CIFAR-10-C up to a shorter side of 64 px."""
    if check_preset(preset) != "auto":
        return preset
    return "cifar10-c" if min(int(height), int(width)) <= CIFAR_MAX_SIDE else "imagenet-c"


def check_level(level) -> int:
    """``level`` as an int in 1..5; :class:`ConfigError` naming it otherwise."""
    if isinstance(level, bool) or not isinstance(level, (int, np.integer)) or not 1 <= int(level) <= 5:
        raise ConfigError(f"level must be an integer 1..5, got {level!r}")
    return int(level)


def preset_severity(name: str, level: int, preset: str = "imagenet-c") -> float:
    """The severity on the continuous scale of noise ``name``'s ``level`` in ``preset``.

    Example:
        >>> preset_severity("gaussian", 5)
        0.76
    """
    level = check_level(level)
    table = IMAGENET_C_SEVERITIES if check_preset(preset) != "cifar10-c" else CIFAR10_C_SEVERITIES
    if name in table:
        return table[name][level - 1]
    if name in LEVEL_SCALED:
        return level / 5.0
    raise ConfigError(f"noise {name!r} has no ImageNet-C / CIFAR-10-C counterpart; presets exist for "
                      f"{', '.join(list(table) + list(LEVEL_SCALED))}")


def imagenet_c_severity(name: str, level: int) -> float:
    """:func:`preset_severity` for ImageNet-C (kept for existing callers)."""
    return preset_severity(name, level, "imagenet-c")
