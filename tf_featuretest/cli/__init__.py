"""The ``featuretest`` command line: thin click shells over the library.

Every command parses its options, calls the library and prints a table; errors from the library
(:class:`~tf_featuretest.errors.FeatureTestError`) and bad options print one line naming the bad
value and exit with status 2, without a traceback. Commands live in ``train.py`` (train, evaluate,
train-generative, run), ``testing.py`` (attack, noise, testgen) and ``serving.py`` (export, serve).
"""
from . import serving, testing, train  # noqa: F401  (importing registers the commands)
from ._common import cli, fail, library_errors


def main(argv=None):
    """Console-script entry point."""
    return cli.main(args=argv, prog_name="featuretest")


__all__ = ["cli", "fail", "library_errors", "main"]
