"""Errors raised by tf-featuretest.

Every error is a :class:`FeatureTestError` so that callers (the CLI, the HTTP service) can turn
it into a one-line message. Messages name the file or value that was wrong.
"""


class FeatureTestError(Exception):
    """Base class of every error this package raises on purpose."""


class DataError(FeatureTestError, ValueError):
    """A data source, file, image or label is missing or malformed."""


class ConfigError(FeatureTestError, ValueError):
    """A pipeline configuration or an argument has a wrong key, type or value."""


class ModelError(FeatureTestError, ValueError):
    """A model cannot be built, loaded or used as asked."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, or its type name when the message is empty."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
