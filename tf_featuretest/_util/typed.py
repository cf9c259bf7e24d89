"""Typed values from TOML: annotations described for the docs, and values checked against them.

:mod:`tf_featuretest.config` reads every key through :func:`coerce_type` and documents its type
with :func:`describe`. TOML arrays become tuples and integers are accepted where a float is meant.
"""
from __future__ import annotations

import typing

from ..errors import ConfigError


def hints(cls) -> dict:
    """The resolved type annotations of a dataclass."""
    return typing.get_type_hints(cls)


def describe(tp) -> str:
    """A key's type as the docs write it: ``int``, ``float or unset``, ``[int, int]``, ``[str, ...]``."""
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, getattr(__import__("types"), "UnionType", None)) and type(None) in args:
        inner = [a for a in args if a is not type(None)][0]
        return f"{describe(inner)} or unset"
    if typing.get_origin(tp) is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"[{describe(args[0])}, ...]"
        return "[" + ", ".join(describe(a) for a in args) + "]"
    return {bool: "bool", int: "int", float: "float", str: "string"}.get(tp, getattr(tp, "__name__", str(tp)))


def coerce_type(value, tp, where: str):
    """``value`` checked against the annotation ``tp`` (TOML arrays become tuples, ints become floats)."""
    args = typing.get_args(tp)
    origin = typing.get_origin(tp)
    if args and type(None) in args and origin is not tuple:
        inner = [a for a in args if a is not type(None)][0]
        return coerce_type(value, inner, where)
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"{where} must be an array {describe(tp)}, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(coerce_type(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{where} must be an array {describe(tp)}, got {value!r}")
        return tuple(coerce_type(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif tp is str:
        ok = isinstance(value, str)
    else:
        ok = True
    if not ok:
        raise ConfigError(f"{where} must be {describe(tp)}, got {value!r}")
    return value
