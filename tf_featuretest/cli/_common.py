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


_TEMP = {}


def library_errors(fn):
    """Turn the library's errors into one-line messages and exit status 2.

    A command also gets a private temporary folder (:func:`~tf_featuretest._util.tempdir.private_tempdir`),
    so that TensorFlow's AutoGraph files go away with the process, even one that was killed.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from .._util.tempdir import private_tempdir

        if "dir" not in _TEMP:
            _TEMP["dir"] = private_tempdir()
        try:
            return fn(*args, **kwargs)
        except FeatureTestError as exc:
            fail(first_line(exc))

    return wrapper


def check_out(path, *, suffix=None, what="output"):
    """Check an output option before any work: its suffix and that its folder can be written (one-line errors).

    ``path`` is a file (its folder is checked) or, with ``suffix=None`` and a trailing separator or
    an existing folder, a folder. Returns ``path``; None stays None.
    """
    if path in (None, ""):
        return path
    from .._util.io import check_writable

    if suffix and not str(path).endswith(suffix):
        raise ConfigError(f"{what} must end in {suffix}, got {path!r}")
    return check_writable(path, what=what)


def check_out_dir(path, what="output folder"):
    """Check that a folder option can be created and written before any work; None stays None."""
    if path in (None, ""):
        return path
    from .._util.io import check_writable

    check_writable(os.path.join(str(path), ""), what=what)
    return path


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


def channels_option(fn):
    """``--channels``: load the images with this many channels (default: the data's own, inferred from its files)."""
    return click.option("--channels", type=click.Choice(["1", "3"]), default=None, callback=lambda c, p, v: v and int(v),
                        help="Convert the images to 1 (grayscale) or 3 (RGB) channels; default: the data's own "
                             "(inferred from the files).")(fn)


def open_data(data, split, *, image_size=None, batch_size=128, data_dir=None, model=None, channels=None, **kw):
    """Load a split as a dataset; with ``model``, at its input size, checking that the channels fit.

    The images keep the data's own channel count (inferred from the files, see
    :func:`~tf_featuretest.data.resolve_shape`) unless ``channels`` is given: a model taking
    another count is a one-line :class:`ConfigError` naming both shapes (``--channels`` converts).
    Images are resized to the model's input size unless ``image_size`` is given.
    """
    from ..data import load, resolve_shape

    want = None
    if model is not None:
        shape = model.input_shape
        if isinstance(shape, list):
            if len(shape) != 1:
                raise ConfigError(f"the model has {len(shape)} inputs; these commands need one image input")
            shape = shape[0]
        if len(shape) != 4:
            raise ConfigError(f"the model takes inputs of shape {tuple(shape[1:])}, not images (height, width, "
                              "channels)")
        want = tuple(shape[1:])
        if image_size is None and None not in want[:2]:
            image_size = (want[0], want[1])
    size = parse_size(image_size) if isinstance(image_size, str) else image_size
    if want is not None and channels is None and want[2] is not None:
        own = resolve_shape(data, size, None)  # channels None for TFDS: checked once loaded
        if own.channels is not None and own.channels != want[2]:
            raise ConfigError(f"the model takes images of {_shape_text(want)} but {data} has images of {_own_text(own)}; "
                              f"pass --channels {want[2]} to convert them, or use a model made for this data")
    ds, info = load(data, split, image_size=size, channels=channels, batch_size=batch_size, data_dir=data_dir, **kw)
    if want is not None:
        got = tuple(info.image_shape)
        if any(w is not None and w != g for w, g in zip(want, got)):
            hint = f"pass --channels {want[2]} to convert them, or " if want[2] not in (None, got[2]) else ""
            raise ConfigError(f"the model takes images of {_shape_text(want)} but {data} gives {_shape_text(got)}; "
                              f"{hint}use a model made for this data")
    return ds, info


def _own_text(choice):
    """The shape a source loads at by itself, e.g. ``28x28 with 1 channel (grayscale files)``."""
    size = choice.image_size or (None, None)
    text = _shape_text((*size, choice.channels))
    return text + (" (grayscale files)" if choice.channels == 1 and choice.channels_from == "inferred" else "")


def _shape_text(shape):
    h, w, c = ("any" if v is None else v for v in shape)
    return f"{h}x{w} with {c} channel{'s' if c != 1 else ''}"


def open_model(path, *, data=None, image_size=None, channels=None, data_dir=None, quiet=False, convert=True):
    """Load a classifier file and fit it to the package's [0, 1]-logits convention.

    One-line errors for a missing or unreadable file or NaN weights. With ``data`` the model is
    checked against that data (input shape, class count) and its input range is probed on a
    stratified subset of the validation split (:func:`~tf_featuretest.models.adapt.adapt_classifier`);
    a 0-255 model comes back behind a ``Rescaling(255)`` layer, a model at chance is refused. What
    was found is printed (unless ``quiet``). ``convert``: the command has ``--channels`` (the error says so).
    """
    from ..data import load_arrays, resolve_shape
    from ..data.subset import subset
    from ..models import load_classifier
    from ..models.adapt import PROBE_IMAGES, adapt_classifier
    from ..models.training import check_finite_weights

    model = check_finite_weights(load_classifier(path), what=str(path))
    x = y = num_classes = None
    if data is not None:
        shape = model.input_shape[0] if isinstance(model.input_shape, list) else model.input_shape
        size = parse_size(image_size) if isinstance(image_size, str) else image_size
        if size is None and len(shape) == 4 and None not in shape[1:3]:
            size = tuple(shape[1:3])
        if channels is None and len(shape) == 4 and shape[3] is not None:
            own = resolve_shape(data, size, None)
            if own.channels is not None and own.channels != shape[3]:
                raise ConfigError(f"the model {path} takes images of {_shape_text(tuple(shape[1:]))} but {data} has "
                                  f"images of {_own_text(own)}; "
                                  + (f"pass --channels {shape[3]} to convert them, or " if convert else "")
                                  + "use a model made for this data")
        xv, yv, info = load_arrays(data, "validation", image_size=size, channels=channels, data_dir=data_dir)
        x, y = subset(yv, PROBE_IMAGES, split="validation", seed=0).take(xv, yv)
        num_classes = info.num_classes
        model, how = adapt_classifier(model, x, y, num_classes=num_classes, data_shape=info.image_shape,
                                      what=f"the model {path}", data_what=f"the images of {data}",
                                      fix="pass --image-size and --channels to match the model")
    else:
        model, how = adapt_classifier(model, what=f"the model {path}")
    say(quiet, f"model {path}: {how.describe()}")
    return model


def stratified_arrays(data, split, info, n, *, seed=0, data_dir=None):
    """``(Subset, (x, y))``: a stratified, seeded subset of ``n`` images of a split, at ``info``'s image shape.

    Never "the first N" (on a class-sorted folder those are one or two classes); ``n=None`` takes all.
    """
    from ..data import load_arrays
    from ..data.subset import subset

    shape = tuple(info.image_shape)
    x, y, _ = load_arrays(data, split, image_size=shape[:2], channels=shape[2], data_dir=data_dir)
    sub = subset(y, n, split=split, seed=seed, num_classes=info.num_classes)
    return sub, sub.take(x, y)


def write_json(path, payload):
    """Write JSON through the package's atomic writer (NaN becomes null)."""
    return atomic_write_json(path, payload)


# ---------------------------------------------------------------- the group


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tf-featuretest")
def cli():
    """Test image classifiers: attacks, noise, generated test cases, saliency, export, report."""
