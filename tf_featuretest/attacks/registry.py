"""The attack registry: what each attack is called, which budget a sweep varies and how it iterates.

Sweeps, the CLI, the callbacks, the service and the report find attacks here by name instead of
inspecting function signatures. Every attack is ``fn(model, x, y, *, <param>, ..., seed=None)``
returning a new batch in [0, 1].

Example:
    >>> spec = get_spec("pgd")
    >>> spec.param, spec.steps, spec.norms
    ('eps', 'steps', ('inf', 2))
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..errors import ConfigError
from .advgan import advgan
from .cw import cw
from .ddn import ddn
from .feature_space import feature_space
from .fgsm import fgsm
from .one_pixel import one_pixel
from .perceptual import perceptual
from .pgd import pgd


@dataclass(frozen=True)
class AttackSpec:
    """How to call one attack.

    Attributes:
        name: the registered name.
        fn: ``fn(model, x, y, *, <param>, ..., seed=None) -> x_adv``.
        param: the budget a sweep varies (``"eps"``, or ``"pixels"`` for the one-pixel attack); for the
            minimal-perturbation attacks (``cw``, ``ddn``) ``eps`` is an optional cap on the change.
        steps: the name of its iteration-count argument, or None when it has none.
        norms: the norms it accepts through ``norm=`` (``"inf"``, ``2``); empty when it takes no ``norm``.
        targeted: ``"optional"``, ``"required"`` (needs ``target=``) or ``"never"``.
        summary: one line for help texts.
        requires: keyword arguments it cannot run without (``("generator",)`` for AdvGAN); callers
            (the CLI, sweeps) must supply them, and the attack names a missing one in its error.
    """

    name: str
    fn: Callable
    param: str = "eps"
    steps: str | None = None
    norms: tuple = ()
    targeted: str = "optional"
    summary: str = ""
    requires: tuple = ()

    def __post_init__(self):
        if self.targeted not in ("optional", "required", "never"):
            raise ConfigError(f"attack {self.name!r}: targeted must be optional, required or never, "
                              f"got {self.targeted!r}")


SPECS: dict = {}
#: name -> attack function (the functions of :data:`SPECS`).
ATTACKS: dict = {}


def register(spec_or_name, fn=None, **kw) -> AttackSpec:
    """Add an attack: ``register(AttackSpec(...))`` or ``register("name", fn, param=..., steps=...)``."""
    spec = spec_or_name if isinstance(spec_or_name, AttackSpec) else AttackSpec(spec_or_name, fn, **kw)
    SPECS[spec.name] = spec
    ATTACKS[spec.name] = spec.fn
    return spec


def get_spec(name: str) -> AttackSpec:
    """The :class:`AttackSpec` registered as ``name``; a one-line error listing the known names."""
    if name not in SPECS:
        raise ConfigError(f"unknown attack {name!r}; expected one of {', '.join(sorted(SPECS))}")
    return SPECS[name]


def get_attack(name: str):
    """The attack function registered as ``name``."""
    return get_spec(name).fn


register("fgsm", fgsm, steps=None, norms=("inf", 2), summary="fast gradient sign method, one step")
register("pgd", pgd, steps="steps", norms=("inf", 2), summary="projected gradient descent / BIM")
register("one_pixel", one_pixel, param="pixels", steps="generations", summary="differential evolution on k pixels")
register("feature_space", feature_space, steps="steps", targeted="required",
         summary="targeted look-alike through the target class's typical features")
register("advgan", advgan, requires=("generator",),
         summary="one pass of an AdvGAN generator trained against the classifier (needs generator=)")
register("cw", cw, steps="steps", norms=("inf", 2),
         summary="Carlini-Wagner L2: smallest L2 change (eps: optional cap; L-inf box or L2 rescale)")
register("ddn", ddn, steps="steps", norms=(2,),
         summary="decoupled direction and norm (Rony et al. 2019): fast minimal L2 (eps: optional L2 cap)")
register("perceptual", perceptual, steps="steps", targeted="required",
         summary="targeted look-alike of smallest perceptual change (texture-weighted L2 + SSIM; eps: optional L-inf box)")
