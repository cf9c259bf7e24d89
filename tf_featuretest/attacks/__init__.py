"""Pixel-level attacks. Every attack is ``fn(model, x, y, *, ..., seed=None) -> x_adv`` in [0, 1].

:mod:`.registry` maps names to :class:`~.registry.AttackSpec` (function, swept budget, steps
argument, norms), so the CLI, sweeps and callbacks find attacks by name.
"""
from .adversarial_training import AdversarialModel, train_adversarial
from .advgan import advgan, advgan_family
from .cw import cw, cw_tf
from .ddn import ddn, ddn_tf
from .feature_space import ClassCentroids, class_centroids, feature_space, feature_space_tf, joint_model
from .fgsm import fgsm, fgsm_tf
from .fooling import FoolingResult, fooling_images
from .one_pixel import OnePixelResult, one_pixel, one_pixel_attack
from .pgd import pgd, pgd_tf
from .registry import ATTACKS, SPECS, AttackSpec, get_attack, get_spec, register
from .similarity import image_stats, ssim

__all__ = ["ATTACKS", "AdversarialModel", "AttackSpec", "ClassCentroids", "FoolingResult", "OnePixelResult", "SPECS",
           "advgan", "advgan_family", "class_centroids", "cw", "cw_tf", "ddn", "ddn_tf", "feature_space",
           "feature_space_tf", "fgsm", "fgsm_tf", "fooling_images", "get_attack", "get_spec", "image_stats",
           "joint_model", "one_pixel", "one_pixel_attack", "pgd", "pgd_tf", "register", "ssim", "train_adversarial"]
