"""Argument checks with one message style: ``<name> must be <what>, got <value>``.

Every public function of the package checks its arguments with these, so a bad value gives the
same kind of one-line :class:`~tf_featuretest.errors.ConfigError` everywhere.

Example:
    >>> positive_int(3, "steps")
    3
    >>> positive_int(0, "steps")
    Traceback (most recent call last):
    ...
    tf_featuretest.errors.ConfigError: steps must be a positive integer, got 0
"""
from __future__ import annotations

import math
import numbers

from ..errors import ConfigError


def integer(value, name: str, *, minimum: int | None = None, allow_integral_float: bool = False) -> int:
    """An int (not a bool) ``>= minimum``; integral floats such as ``40.0`` only when allowed."""
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not ok and allow_integral_float and isinstance(value, numbers.Real) and not isinstance(value, bool):
        ok = math.isfinite(value) and float(value) == int(value)
    if not ok or (minimum is not None and value < minimum):
        what = {None: "an integer", 0: "a non-negative integer", 1: "a positive integer"}.get(
            minimum, f"an integer >= {minimum}")
        raise ConfigError(f"{name} must be {what}, got {value!r}")
    return int(value)


def positive_int(value, name: str, **kw) -> int:
    """An integer >= 1."""
    return integer(value, name, minimum=1, **kw)


def non_negative_int(value, name: str, **kw) -> int:
    """An integer >= 0."""
    return integer(value, name, minimum=0, **kw)


def number(value, name: str, *, low=None, high=None, low_open=False, high_open=False) -> float:
    """A finite real number (not a bool) in the given range; returned as float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise ConfigError(f"{name} must be a finite number{_range(low, high, low_open, high_open)}, got {value!r}")
    v = float(value)
    if ((low is not None and (v < low or (low_open and v == low)))
            or (high is not None and (v > high or (high_open and v == high)))):
        raise ConfigError(f"{name} must be a number{_range(low, high, low_open, high_open)}, got {value!r}")
    return v


def _range(low, high, low_open, high_open) -> str:
    if low is not None and high is not None:
        return f" in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f" {'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f" {'<' if high_open else '<='} {high:g}"
    return ""


def fraction(value, name: str) -> float:
    """A number in [0, 1]."""
    return number(value, name, low=0.0, high=1.0)


def positive(value, name: str) -> float:
    """A finite number > 0."""
    return number(value, name, low=0.0, low_open=True)


def non_negative(value, name: str) -> float:
    """A finite number >= 0."""
    return number(value, name, low=0.0)


def choice(value, name: str, options) -> object:
    """``value`` if it is one of ``options``."""
    options = tuple(options)
    if value not in options:
        raise ConfigError(f"{name} must be one of {', '.join(map(str, options))}, got {value!r}")
    return value


def choices(values, name: str, options) -> tuple:
    """``values`` as a tuple if it is one or more different items of ``options``."""
    values = tuple(values) if isinstance(values, (list, tuple)) else (values,)
    if not values or len(set(values)) != len(values):
        raise ConfigError(f"{name} needs one or more different items, got {list(values)}")
    return tuple(choice(v, f"{name}[{i}]", options) for i, v in enumerate(values))


def seed(value, name: str = "seed", *, allow_none: bool = False):
    """A non-negative integer seed (or None when allowed)."""
    if value is None and allow_none:
        return None
    return non_negative_int(value, name)
