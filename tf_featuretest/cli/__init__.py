"""The ``featuretest`` command line: thin click shells over the library.

Every command parses its options, calls the library and prints a table; errors from the library
(:class:`~tf_featuretest.errors.FeatureTestError`) and bad options print one line naming the bad
value and exit with status 2, without a traceback. Commands live in ``train.py`` (train, evaluate,
train-generative, run), ``testing.py`` (attack, noise, testgen) and ``serving.py`` (export, serve).

Quiet by default: TensorFlow's C++ start-up lines (oneDNN, CUDA, CPU features), which TensorFlow 2.20+
prints through absl before ``TF_CPP_MIN_LOG_LEVEL`` applies, are kept out of the terminal while it is
imported (and shown if the import fails); the known Keras and TensorFlow warnings that say nothing to a
user of these commands are filtered (:data:`QUIET_WARNINGS`, :data:`QUIET_LOGS`).
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before anything imports TensorFlow

import logging  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import warnings  # noqa: E402

from . import serving, testing, train  # noqa: F401,E402  (importing registers the commands)
from ._common import cli, fail, library_errors  # noqa: E402

#: Python warnings filtered from the command line (regular expressions on the message).
QUIET_WARNINGS = (
    r"`shuffle=True` was passed, but will be ignored",  # Keras, when fit gets a tf.data pipeline
    r"The structure of `inputs` doesn't match the expected structure",  # Keras, on one-input sub-models
    r"Your input ran out of data",  # Keras, at the end of a finite dataset
    r"__array__ implementation doesn't accept a copy keyword",  # Keras with NumPy 2
)
#: TensorFlow log lines filtered from the command line (substrings of the message).
QUIET_LOGS = ("triggered tf.function retracing", "Skipping the delay kernel", "Local rendezvous is aborting")
#: Options that never need TensorFlow (the commands stay fast for them).
_NO_TF = ("--help", "-h", "--version")


class _DropKnown(logging.Filter):
    def filter(self, record):
        message = record.getMessage()
        return not any(s in message for s in QUIET_LOGS)


def quiet_warnings():
    """Filter :data:`QUIET_WARNINGS` and :data:`QUIET_LOGS` (TensorFlow's ``tensorflow`` and absl loggers)."""
    for pattern in QUIET_WARNINGS:
        warnings.filterwarnings("ignore", message=f".*{pattern}")
    for name in ("tensorflow", "absl"):
        logging.getLogger(name).addFilter(_DropKnown())


def import_tensorflow_quietly():
    """Import TensorFlow with its C++ start-up lines kept out of the terminal (shown if the import fails).

    They are written to file descriptor 2 by absl before TensorFlow's log level applies, so only
    redirecting the descriptor during the import keeps them out. Python-level errors are unaffected.
    """
    if "tensorflow" in sys.modules:
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (e.g. captured by a test runner): nothing to hide
        import tensorflow  # noqa: F401
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()  # the device probe logs too (CUDA); do it now, quietly
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode("utf-8", "replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    quiet_warnings()


def main(argv=None):
    """Console-script entry point."""
    args = sys.argv[1:] if argv is None else list(argv)
    if args and not any(a in _NO_TF for a in args):
        import_tensorflow_quietly()
    quiet_warnings()
    return cli.main(args=args, prog_name="featuretest")


__all__ = ["cli", "fail", "import_tensorflow_quietly", "library_errors", "main", "quiet_warnings"]
