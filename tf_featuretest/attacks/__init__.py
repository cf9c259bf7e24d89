"""Pixel-level attacks. Every attack is ``fn(model, x, y, *, ..., seed=None) -> x_adv`` in [0, 1].

``ATTACKS`` maps a name to its function so the CLI, sweeps and callbacks find attacks by name;
a module adds itself with one line below.
"""
from .feature_space import feature_space
from .fgsm import fgsm, fgsm_tf
from .fooling import FoolingResult, fooling_images
from .one_pixel import OnePixelResult, one_pixel, one_pixel_attack
from .pgd import pgd, pgd_tf

ATTACKS = {
    "fgsm": fgsm,
    "pgd": pgd,
    "one_pixel": one_pixel,
    "feature_space": feature_space,
}


def register(name, fn):
    """Add an attack ``fn(model, x, y, *, ..., seed=None) -> x_adv`` to :data:`ATTACKS`."""
    ATTACKS[name] = fn
    return fn


def get_attack(name):
    """The attack registered as ``name``, with a one-line error listing the known names."""
    from ..errors import ConfigError

    if name not in ATTACKS:
        raise ConfigError(f"unknown attack {name!r}; expected one of {', '.join(sorted(ATTACKS))}")
    return ATTACKS[name]


__all__ = ["ATTACKS", "FoolingResult", "OnePixelResult", "fgsm", "fgsm_tf", "fooling_images", "get_attack",
           "one_pixel", "one_pixel_attack", "pgd", "pgd_tf", "register"]
