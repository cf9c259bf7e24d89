"""ImageNet-C presets: the reference's five levels per corruption, as severities on this package's scale.

Hendrycks & Dietterich (2019, "Benchmarking Neural Network Robustness to Common Corruptions and
Perturbations", ICLR) define five severity levels per corruption by one parameter each. Where a
corruption exists in both, :data:`IMAGENET_C_PARAMETERS` holds their five values (from the
reference ``make_imagenet_c.py``) and :data:`IMAGENET_C_SEVERITIES` the severities on this scale
that reproduce them, computed by inverting this package's parameter mapping:

================  ===========================  ==============================  ====================
noise             ImageNet-C name, parameter   this scale                      levels 1..5 -> s
================  ===========================  ==============================  ====================
gaussian          gaussian_noise, std c        std = 0.5 s                     s = c / 0.5
shot              shot_noise, photons c        photons = 1 / s^2               s = 1 / sqrt(c)
salt_and_pepper   impulse_noise, amount c      amount = 0.5 s                  s = c / 0.5
speckle           speckle_noise, std c         std = s                         s = c
gaussian_blur     gaussian_blur, sigma c px    sigma = s side / 16             s = 16 c / 224
motion_blur       motion_blur, sigma c px      sigma = s side / 10             s = 10 c / 224
brightness        brightness, +c on HSV value  +s on HSV value                 s = c
contrast          contrast, factor c           factor = 1 - s                  s = 1 - c
jpeg              jpeg_compression, quality c  quality = 100 (1 - s)^2         s = 1 - sqrt(c / 100)
pixelate          pixelate, scale c            scale = 1 - 0.9 s               s = (1 - c) / 0.9
================  ===========================  ==============================  ====================

Pixel sizes are ImageNet-C's at 224 pixels; here they scale with the image side. ``uniform``,
``patches``, ``black_rows``, ``black_columns``, ``occlusion``, ``rotation`` and ``translation`` have
no ImageNet-C counterpart and no preset.
"""
from __future__ import annotations

import math

from ..errors import ConfigError
from .registry import get_noise

#: ImageNet-C's five parameter values per corruption (make_imagenet_c.py), keyed by this module's name.
IMAGENET_C_PARAMETERS = {
    "gaussian": (0.08, 0.12, 0.18, 0.26, 0.38),
    "shot": (60, 25, 12, 5, 3),
    "salt_and_pepper": (0.03, 0.06, 0.09, 0.17, 0.27),
    "speckle": (0.15, 0.2, 0.35, 0.45, 0.6),
    "gaussian_blur": (1, 2, 3, 4, 6),
    "motion_blur": (3, 5, 8, 12, 15),
    "brightness": (0.1, 0.2, 0.3, 0.4, 0.5),
    "contrast": (0.4, 0.3, 0.2, 0.1, 0.05),
    "jpeg": (25, 18, 15, 10, 7),
    "pixelate": (0.6, 0.5, 0.4, 0.3, 0.25),
}

_TO_SEVERITY = {
    "gaussian": lambda c: c / 0.5,
    "shot": lambda c: 1.0 / math.sqrt(c),
    "salt_and_pepper": lambda c: c / 0.5,
    "speckle": lambda c: c,
    "gaussian_blur": lambda c: 16.0 * c / 224.0,
    "motion_blur": lambda c: 10.0 * c / 224.0,
    "brightness": lambda c: c,
    "contrast": lambda c: 1.0 - c,
    "jpeg": lambda c: 1.0 - math.sqrt(c / 100.0),
    "pixelate": lambda c: (1.0 - c) / 0.9,
}

#: Severity on this module's scale of each ImageNet-C level 1..5.
IMAGENET_C_SEVERITIES = {name: tuple(round(_TO_SEVERITY[name](c), 4) for c in params)
                         for name, params in IMAGENET_C_PARAMETERS.items()}


def imagenet_c_severity(name: str, level: int) -> float:
    """The severity on the continuous scale matching ImageNet-C ``level`` (1..5) of noise ``name``.

    Example:
        >>> imagenet_c_severity("gaussian", 5)
        0.76
    """
    get_noise(name)
    if name not in IMAGENET_C_SEVERITIES:
        raise ConfigError(f"noise {name!r} has no ImageNet-C counterpart; presets exist for "
                          f"{', '.join(IMAGENET_C_SEVERITIES)}")
    if level not in (1, 2, 3, 4, 5):
        raise ConfigError(f"ImageNet-C level must be 1..5, got {level!r}")
    return IMAGENET_C_SEVERITIES[name][level - 1]
