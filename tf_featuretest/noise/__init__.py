"""Random and structured image corruptions on one continuous severity scale.

Every entry of :data:`NOISES` is ``fn(x, severity, *, seed=0) -> x'`` (see :mod:`.registry`): pure
TensorFlow (stateless random ops), so they run eagerly, inside ``tf.function``, inside a ``tf.data``
``map`` and on a GPU; the same seed gives the same output.

- random (:mod:`.random`): ``gaussian``, ``uniform``, ``salt_and_pepper``, ``speckle``, ``shot``;
- structured (:mod:`.structured`): ``patches``, ``black_rows``, ``black_columns``, ``occlusion``,
  ``rotation``, ``translation``;
- blur (:mod:`.blur`): ``gaussian_blur``, ``motion_blur``;
- digital (:mod:`.digital`): ``brightness``, ``contrast``, ``jpeg``, ``pixelate``.

:mod:`.presets` maps ImageNet-C's five levels onto this scale.
"""
from . import blur, digital, random, structured
from .digital import jpeg_quality
from .presets import IMAGENET_C_PARAMETERS, IMAGENET_C_SEVERITIES, imagenet_c_severity
from .registry import NOISES, corruption, get_noise, noise_transform, parse_noises, parse_severity, register

# The order of the report's tables and of "every noise".
register(random.gaussian, random.uniform, random.salt_and_pepper, random.speckle, random.shot,
         structured.patches, structured.black_rows, structured.black_columns, structured.occlusion,
         blur.gaussian_blur, blur.motion_blur, structured.rotation, structured.translation,
         digital.brightness, digital.contrast, digital.jpeg, digital.pixelate)

__all__ = ["IMAGENET_C_PARAMETERS", "IMAGENET_C_SEVERITIES", "NOISES", "corruption", "get_noise",
           "imagenet_c_severity", "jpeg_quality", "noise_transform", "parse_noises", "parse_severity", "register"]
