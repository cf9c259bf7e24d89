"""The one per-model cache: compiled functions and derived models, freed with the model.

Attacks, compiled predictions, feature extractors and explainers build a ``tf.function`` (or a
sub-model) once per (model, settings) and keep it here, keyed weakly by the model. A cached value
must not hold the model strongly, or the model would never be freed: closures reach the model
through :func:`weak_call`. Values may hold *derived* models (a logits twin, a feature sub-model):
they share the model's layers but do not reference the model object itself.

Example:
    >>> fn = cached(model, ("predict",), lambda: tf.function(weak_call(model)))  # doctest: +SKIP
"""
from __future__ import annotations

import threading
import weakref

_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_LOCK = threading.RLock()


def entry(model) -> dict:
    """The cache dict of ``model`` (a fresh, uncached dict when the model cannot be weakly referenced)."""
    with _LOCK:
        try:
            return _CACHE.setdefault(model, {})
        except TypeError:
            return {}


def cached(model, key, build):
    """``build()`` once per ``(model, key)``; later calls return the same object."""
    e = entry(model)
    with _LOCK:
        if key not in e:
            e[key] = build()
        return e[key]


def weak_call(model):
    """A callable ``f(x, training=False)`` that reaches ``model`` through a weak reference."""
    ref = weakref.ref(model)

    def call(x, training=False):
        target = ref()
        if target is None:
            raise ReferenceError("the model of this cached function was freed")
        return target(x, training=training)

    return call


def size() -> int:
    """Number of models with a cache entry (for tests)."""
    return len(_CACHE)
