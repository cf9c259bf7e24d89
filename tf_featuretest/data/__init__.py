"""Data sources and ``tf.data`` pipelines (see :func:`load`)."""
from .dataset import AugmentConfig, DatasetInfo, load, load_arrays, parse_source, resolve_shape
from .images import decode_image
from .inspect import ImageSurvey, ShapeChoice
from .sources import GTSRB_CLASS_NAMES, SPLITS

__all__ = ["AugmentConfig", "DatasetInfo", "GTSRB_CLASS_NAMES", "ImageSurvey", "SPLITS", "ShapeChoice", "decode_image",
           "load", "load_arrays", "parse_source", "resolve_shape"]
