"""tf-featuretest: test image classifiers at the pixel level and the feature level.

The public API is re-exported here; see ``shared/DESIGN.md`` for the map of the package.
"""
__version__ = "0.1.0"

from .errors import ConfigError, DataError, FeatureTestError, ModelError  # noqa: E402

__all__ = ["ConfigError", "DataError", "FeatureTestError", "ModelError", "__version__"]
