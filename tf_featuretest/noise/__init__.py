"""Random and structured image corruptions, on one continuous severity scale and at the reference's levels.

Every entry of :data:`NOISES` is ``fn(x, severity, *, seed=0) -> x'`` (see :mod:`.registry`): pure
TensorFlow (stateless random ops), so they run eagerly, inside ``tf.function``, inside a ``tf.data``
``map`` and on a GPU; the same seed gives the same output.

- random (:mod:`.random`): ``gaussian``, ``uniform``, ``salt_and_pepper``, ``speckle``, ``shot``;
- structured (:mod:`.structured`): ``patches``, ``black_rows``, ``black_columns``, ``occlusion``,
  ``rotation``, ``translation``;
- blur (:mod:`.blur`): ``gaussian_blur``, ``motion_blur``, ``defocus_blur``, ``glass_blur``, ``zoom_blur``;
- weather (:mod:`.weather`, :mod:`.spatter`): ``snow``, ``frost`` (when its pictures are installed),
  ``fog``, ``spatter``;
- digital (:mod:`.digital`): ``brightness``, ``contrast``, ``saturate``, ``jpeg``, ``pixelate``,
  ``elastic_transform``.

:func:`corrupt` applies the ImageNet-C / CIFAR-10-C corruptions at the reference's levels 1..5
(:mod:`.reference`, tables in :mod:`.presets`).
"""
from . import blur, digital, random, structured
from .digital import jpeg_quality
from .presets import (
    BENCHMARK,
    CIFAR10_C,
    CIFAR10_C_SEVERITIES,
    EXTRA,
    IMAGENET_C,
    IMAGENET_C_PARAMETERS,
    IMAGENET_C_SEVERITIES,
    LEVEL_SCALED,
    PRESETS,
    check_preset,
    choose_preset,
    imagenet_c_severity,
    preset_severity,
)
from .reference import available, corrupt, level_scaled, preset_transform, reference_name
from .registry import (
    ALIASES,
    NOISES,
    canonical,
    corruption,
    get_noise,
    noise_transform,
    parse_noises,
    parse_severity,
    register,
)
from .weather import FROST_MISSING

_SCALED = {name: level_scaled(name) for name in LEVEL_SCALED if available(name)}

# The order of the report's tables and of "every noise".
register(random.gaussian, random.uniform, random.salt_and_pepper, random.speckle, random.shot,
         structured.patches, structured.black_rows, structured.black_columns, structured.occlusion,
         blur.gaussian_blur, blur.motion_blur, *(_SCALED[n] for n in ("defocus_blur", "glass_blur", "zoom_blur")),
         structured.rotation, structured.translation,
         *(_SCALED[n] for n in ("snow", "frost", "fog", "spatter") if n in _SCALED),
         digital.brightness, digital.contrast, _SCALED["saturate"], digital.jpeg, digital.pixelate,
         _SCALED["elastic_transform"])

__all__ = ["ALIASES", "BENCHMARK", "CIFAR10_C", "CIFAR10_C_SEVERITIES", "EXTRA", "FROST_MISSING", "IMAGENET_C",
           "IMAGENET_C_PARAMETERS", "IMAGENET_C_SEVERITIES", "LEVEL_SCALED", "NOISES", "PRESETS", "available",
           "canonical", "check_preset", "choose_preset", "corrupt", "corruption", "get_noise", "imagenet_c_severity",
           "jpeg_quality", "noise_transform", "parse_noises", "parse_severity", "preset_severity", "preset_transform",
           "reference_name", "register"]
