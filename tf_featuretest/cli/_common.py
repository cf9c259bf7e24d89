"""Shared pieces of the ``featuretest`` commands: the click group, option helpers, one-line errors.

Every command parses its options, calls the library and prints a table; errors from the library
(:class:`~tf_featuretest.errors.FeatureTestError`) and bad options print one line naming the bad
value and exit with status 2, without a traceback.
"""
from __future__ import annotations

import functools
import os
import sys

import click

from .._util.io import write_json as atomic_write_json
from ..errors import ConfigError, FeatureTestError, first_line

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


# ---------------------------------------------------------------- shared helpers for commands


def fail(message: str, code: int = 2):
    """Print ``error: message`` on stderr and exit with ``code`` (no traceback)."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def library_errors(fn):
    """Turn the library's errors into one-line messages and exit status 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except FeatureTestError as exc:
            fail(first_line(exc))

    return wrapper


def quiet_option(fn):
    """``--quiet``: silence progress output."""
    return click.option("--quiet", "-q", is_flag=True, help="Silence progress output.")(fn)


def say(quiet: bool, message: str):
    """Progress line unless ``quiet``."""
    if not quiet:
        click.echo(message, err=True)


def parse_size(value):
    """``"32"`` -> (32, 32); ``"48x64"`` -> (48, 64); None stays None."""
    if value in (None, ""):
        return None
    try:
        parts = [int(v) for v in str(value).lower().split("x")]
    except ValueError:
        raise ConfigError(f"--image-size must be N or HxW, got {value!r}") from None
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or min(parts) < 1:
        raise ConfigError(f"--image-size must be N or HxW with positive sizes, got {value!r}")
    return tuple(parts)


def parse_floats(value, name):
    """``"0.03,0.1"`` -> (0.03, 0.1), naming the option on error."""
    try:
        out = tuple(float(v) for v in str(value).split(",") if v.strip())
    except ValueError:
        raise ConfigError(f"{name} must be comma-separated numbers, got {value!r}") from None
    if not out:
        raise ConfigError(f"{name} needs at least one value")
    return out


def data_options(fn):
    """``--data``, ``--image-size``, ``--batch-size``, ``--data-dir`` for commands that read a data set."""
    fn = click.option("--data-dir", default=None, help="TFDS data directory (prepared data).")(fn)
    fn = click.option("--batch-size", default=128, show_default=True, type=click.IntRange(min=1))(fn)
    fn = click.option("--image-size", default=None, help="Resize images to N or HxW (default: per source).")(fn)
    fn = click.option("--data", "data", default="digits", show_default=True,
                      help="digits | folder:PATH | gtsrb:PATH | tiny_imagenet:PATH | tfds:NAME")(fn)
    return fn


def open_data(data, split, *, image_size=None, batch_size=128, data_dir=None, model=None, **kw):
    """Load a split as a dataset; with ``model``, match its input size and channels."""
    from ..data import load

    channels = None
    if model is not None:
        shape = model.input_shape
        if image_size is None:
            image_size = (shape[1], shape[2])
        channels = shape[3]
    return load(data, split, image_size=parse_size(image_size) if isinstance(image_size, str) else image_size,
                channels=channels, batch_size=batch_size, data_dir=data_dir, **kw)


def open_model(path):
    """Load a classifier file with a one-line error when it is missing or unreadable."""
    from ..models import load_classifier

    return load_classifier(path)


def write_json(path, payload):
    """Write JSON through the package's atomic writer (NaN becomes null)."""
    return atomic_write_json(path, payload)


# ---------------------------------------------------------------- the group


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tf-featuretest")
def cli():
    """Test image classifiers: attacks, noise, generated test cases, saliency, export, report."""
