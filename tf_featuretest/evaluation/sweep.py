"""Sweeps: run a model on transformed inputs over a range of one parameter.

One implementation serves attacks (``eps``), noise (``severity``) and generated tests. A transform
is any ``fn(model, x, y, *, <param>=value, seed=...) -> x'`` (settings bound with
``functools.partial``).

**The batch grid.** The images are cut into batches once (:func:`as_batches`); batch ``b`` starts
at global image index ``starts[b]`` and is always transformed with the seed ``seed + b``, whichever
process runs it. A sweep can therefore be split into parts (:func:`shard_batches`), each part run
anywhere (:func:`sweep_part`, another process, a Ray actor), and the parts merged by global image
index (:func:`merge_parts`): the per-image results are those of one process, image for image.
:func:`summarize` turns the per-image results into a :class:`SweepResult`.
"""
from __future__ import annotations

import contextlib
import contextvars
import time
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from .._util import checks
from .._util.io import nan_to_none
from ..errors import ConfigError
from ..models.introspection import as_logits_model, compiled_predict


@dataclass(frozen=True)
class SweepResult:
    """Accuracy and perturbation size of a model at each value of one transform parameter.

    Attributes:
        name: the transform's name (e.g. ``"pgd"`` or ``"gaussian"``).
        param: the swept parameter (``"eps"``, ``"severity"``).
        values: the parameter values, in order.
        clean_accuracy: accuracy on untransformed inputs.
        accuracy: accuracy at each value.
        success_rate: untargeted: the fraction of images classified correctly before that are
            misclassified after; targeted: the fraction classified as the target (images whose
            label already is the target are left out).
        mean_linf, mean_l2: mean per-image L-inf and L2 distance to the input.
        per_class_accuracy: ``[len(values)][num_classes]`` accuracy per true class (NaN if absent).
        num_examples: images evaluated.
        target: the target class of a targeted transform, else None.
        seconds: wall time per value (summed over the processes of a sharded sweep).
        num_attacked: images the transform was applied to (at every value).
        num_misclassified_before: of those, the images the model already got wrong before the
            transform; they count as failures in ``accuracy`` but never as successes of an
            untargeted attack.
    """

    name: str
    param: str
    values: tuple
    clean_accuracy: float
    accuracy: tuple
    success_rate: tuple
    mean_linf: tuple
    mean_l2: tuple
    per_class_accuracy: tuple
    num_examples: int
    target: int | None = None
    seconds: tuple = ()
    num_attacked: int = 0
    num_misclassified_before: int = 0

    def to_dict(self) -> dict:
        clean = nan_to_none
        return {"name": self.name, "param": self.param, "values": list(self.values),
                "clean_accuracy": self.clean_accuracy, "accuracy": list(self.accuracy),
                "success_rate": [clean(v) for v in self.success_rate], "mean_linf": list(self.mean_linf),
                "mean_l2": list(self.mean_l2),
                "per_class_accuracy": [[clean(v) for v in row] for row in self.per_class_accuracy],
                "num_examples": self.num_examples, "target": self.target, "seconds": list(self.seconds),
                "num_attacked": self.num_attacked, "num_misclassified_before": self.num_misclassified_before}

    def table(self) -> str:
        """A plain-text table: value, accuracy, success rate, mean L-inf, mean L2."""
        rows = [f"{self.param:>10} {'accuracy':>9} {'success':>9} {'L-inf':>9} {'L2':>9}"]
        for v, a, s, li, l2 in zip(self.values, self.accuracy, self.success_rate, self.mean_linf, self.mean_l2):
            rows.append(f"{v:>10.4g} {a:>9.4f} {s:>9.4f} {li:>9.4f} {l2:>9.4f}")
        return "\n".join(rows)


@dataclass(frozen=True)
class SweepPart:
    """Per-image outcome of part of a sweep (or of all of it), images keyed by global index.

    Attributes:
        index: ``[n]`` global image indices, increasing.
        labels: ``[n]`` true labels.
        clean_pred: ``[n]`` predictions on the untransformed images.
        pred: ``[V, n]`` predictions at each value.
        linf, l2: ``[V, n]`` per-image L-inf and L2 distance to the input.
        seconds: ``[V]`` wall time per value spent on this part.
    """

    index: np.ndarray
    labels: np.ndarray
    clean_pred: np.ndarray
    pred: np.ndarray
    linf: np.ndarray
    l2: np.ndarray
    seconds: np.ndarray

    def __len__(self):
        return len(self.index)


def as_batches(data, batch_size=128, max_examples=None):
    """``[(x, y), ...]`` numpy batches from a dataset of batches or an ``(x, y)`` pair."""
    batches, seen = [], 0
    if isinstance(data, tuple):
        x, y = np.asarray(data[0], np.float32), np.asarray(data[1], np.int64)
        if max_examples is not None:
            x, y = x[:max_examples], y[:max_examples]
        return [(x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, len(x), batch_size)]
    for xb, yb in data:
        xb, yb = np.asarray(xb, np.float32), np.asarray(yb, np.int64)
        if max_examples is not None and seen + len(yb) > max_examples:
            xb, yb = xb[: max_examples - seen], yb[: max_examples - seen]
        if len(yb):
            batches.append((xb, yb))
        seen += len(yb)
        if max_examples is not None and seen >= max_examples:
            break
    return batches


def batch_starts(batches) -> np.ndarray:
    """``[B + 1]`` global index of each batch's first image, and the total at the end."""
    return np.cumsum([0] + [len(b[1]) for b in batches]).astype(np.int64)


def shard_batches(num_batches: int, num_shards: int, shard: int) -> tuple:
    """The batch numbers of shard ``shard`` of ``num_shards``: a contiguous block, the sizes differing by at most one.

    Example:
        >>> shard_batches(5, 2, 0), shard_batches(5, 2, 1)
        ((0, 1, 2), (3, 4))
    """
    num_shards = checks.positive_int(num_shards, "num_shards")
    shard = checks.non_negative_int(shard, "shard")
    if shard >= num_shards:
        raise ConfigError(f"shard must be below num_shards ({num_shards}), got {shard}")
    lo, hi = (int(num_batches) * shard) // num_shards, (int(num_batches) * (shard + 1)) // num_shards
    return tuple(range(lo, hi))


def _target_slice(target, start, stop):
    if target is None:
        return {}
    return {"target": np.ravel(target)[start:stop] if np.ndim(target) > 0 else target}


def sweep_part(model, batches, transform, param, values, *, batch_ids=None, seed=0, target=None,
               progress=None) -> SweepPart:
    """Run the batches ``batch_ids`` (default: all) of the grid ``batches``: the per-image results.

    Batch ``b`` is transformed with ``seed + b`` and (per-image targets) its slice of ``target``,
    so any split of the batches gives the images the results one process gives them.

    Args:
        model: a classifier (logits, or a final softmax which is stripped).
        batches: the whole grid, ``[(x, y), ...]`` from :func:`as_batches`.
        transform, param, values, seed, target: as for :func:`sweep`.
        batch_ids: the batch numbers to run, in any order.
        progress: optional ``callable(done, total)`` over the (batch, value) pairs of this part.
    """
    values = tuple(float(v) for v in values)
    predict = compiled_predict(model)
    lm = as_logits_model(model)
    starts = batch_starts(batches)
    ids = sorted(range(len(batches)) if batch_ids is None else {int(b) for b in batch_ids})
    if ids and not 0 <= ids[0] <= ids[-1] < len(batches):
        raise ConfigError(f"batch numbers must be in [0, {len(batches)}), got {ids[0]}..{ids[-1]}")
    index, labels, clean, preds, dinf, d2 = [], [], [], [], [], []
    secs = np.zeros(len(values))
    for done, b in enumerate(ids):
        x, y = batches[b]
        extra = _target_slice(target, starts[b], starts[b + 1])
        index.append(np.arange(starts[b], starts[b + 1]))
        labels.append(y)
        clean.append(np.argmax(predict(tf.constant(x)).numpy(), 1))
        bp, bi, b2 = [], [], []
        for vi, v in enumerate(values):
            t0 = time.perf_counter()
            x_t = tf.convert_to_tensor(transform(lm, tf.constant(x), tf.constant(y), **{param: v}, seed=seed + b,
                                                 **extra))
            bp.append(np.argmax(predict(x_t).numpy(), 1))
            diff = (x_t.numpy() - x).reshape(len(x), -1)
            bi.append(np.abs(diff).max(1))
            b2.append(np.sqrt((diff.astype(np.float64) ** 2).sum(1)))
            secs[vi] += time.perf_counter() - t0
            if progress:
                progress(done * len(values) + vi + 1, len(ids) * len(values))
        preds.append(np.stack(bp))
        dinf.append(np.stack(bi))
        d2.append(np.stack(b2))
    cat = (lambda parts, shape: np.concatenate(parts, axis=-1) if parts else np.zeros(shape))
    v = len(values)
    return SweepPart(index=cat(index, (0,)).astype(np.int64), labels=cat(labels, (0,)).astype(np.int64),
                     clean_pred=cat(clean, (0,)).astype(np.int64), pred=cat(preds, (v, 0)).astype(np.int64),
                     linf=cat(dinf, (v, 0)), l2=cat(d2, (v, 0)), seconds=secs)


def merge_parts(parts, num_examples: int | None = None) -> SweepPart:
    """One :class:`SweepPart` from parts in any order, sorted by global index.

    The arrays come back C-contiguous whatever the parts' layout (a Ray backend hands over transposed
    ones), so the means :func:`summarize` takes are bit-identical to those of an unsharded sweep.
    Raises :class:`ConfigError` when an image appears twice or (with ``num_examples``) is missing.
    """
    parts = list(parts)
    if not parts:
        raise ConfigError("no sweep parts to merge")
    index = np.concatenate([p.index for p in parts])
    order = np.argsort(index, kind="stable")
    index = index[order]
    if len(index) > 1 and (np.diff(index) == 0).any():
        raise ConfigError(f"image {int(index[np.flatnonzero(np.diff(index) == 0)[0]])} is in two sweep parts")
    if num_examples is not None and not np.array_equal(index, np.arange(num_examples)):
        missing = np.setdiff1d(np.arange(num_examples), index)
        raise ConfigError(f"sweep parts cover {len(index)} of {num_examples} images "
                          f"(first missing: {int(missing[0]) if len(missing) else 'none'})")

    def cat(name):  # C order: summarize's means then add in the order they do for one process's part
        return np.ascontiguousarray(np.concatenate([getattr(p, name) for p in parts], axis=-1)[..., order])

    return SweepPart(index=index, labels=cat("labels"), clean_pred=cat("clean_pred"), pred=cat("pred"),
                     linf=cat("linf"), l2=cat("l2"), seconds=np.sum([p.seconds for p in parts], axis=0))


def summarize(part: SweepPart, *, name, param, values, num_classes, target=None) -> SweepResult:
    """The :class:`SweepResult` of a whole sweep's per-image results.

    Success is counted as the package defines it everywhere: untargeted, an image classified
    correctly before and wrongly after, over the images classified correctly before; targeted, an
    image classified as its target, over the images whose label is not the target.
    """
    ys, n = part.labels, len(part)
    if n == 0:
        raise ConfigError("sweep got no data")
    clean_ok = part.clean_pred == ys
    acc, succ, per_class = [], [], []
    for pred in part.pred:
        ok = pred == ys
        acc.append(float(ok.mean()))
        if target is None:
            succ.append(float((~ok & clean_ok).sum() / max(clean_ok.sum(), 1)))
        else:
            tgt = np.broadcast_to(np.asarray(target).reshape(-1) if np.ndim(target) else np.asarray(target), ys.shape)
            eligible = ys != tgt
            succ.append(float((pred[eligible] == tgt[eligible]).mean()) if eligible.any() else float("nan"))
        per_class.append(tuple(float(ok[ys == k].mean()) if (ys == k).any() else float("nan")
                               for k in range(int(num_classes))))
    tgt_out = None if target is None or np.ndim(target) else int(target)
    return SweepResult(name=name, param=param, values=tuple(float(v) for v in values),
                       clean_accuracy=float(clean_ok.mean()), accuracy=tuple(acc), success_rate=tuple(succ),
                       mean_linf=tuple(float(v) for v in part.linf.mean(1)),
                       mean_l2=tuple(float(v) for v in part.l2.mean(1)), per_class_accuracy=tuple(per_class),
                       num_examples=n, target=tgt_out, seconds=tuple(float(s) for s in part.seconds),
                       num_attacked=n, num_misclassified_before=int((~clean_ok).sum()))


# ----------------------------------------------------------------------------- backends

_BACKEND = contextvars.ContextVar("sweep_backend", default=None)


@contextlib.contextmanager
def sweep_backend(backend):
    """Run every :func:`sweep` inside the ``with`` block on ``backend`` (None: in this process).

    A backend has ``run(model, batches, transform, param, values, *, seed, target, progress) ->
    SweepPart`` returning the merged per-image results of the whole grid (e.g.
    :class:`tf_featuretest.distribute.RaySweepBackend`).
    """
    token = _BACKEND.set(backend)
    try:
        yield backend
    finally:
        _BACKEND.reset(token)


def current_backend():
    """The backend set by the innermost :func:`sweep_backend` block, or None."""
    return _BACKEND.get()


def sweep(model, data, transform, param, values, *, name=None, target=None, seed=0, batch_size=128,
          max_examples=None, num_classes=None, progress=None, backend=None) -> SweepResult:
    """Evaluate ``model`` on ``transform(model, x, y, **{param: v}, seed=...)`` for each ``v`` in ``values``.

    Args:
        model: a classifier returning logits.
        data: a ``tf.data`` dataset of ``(x, y)`` batches or an ``(x, y)`` array pair.
        transform: ``fn(model, x, y, *, <param>, seed, [target]) -> x'``.
        param: the name of the swept keyword argument.
        values: the values to sweep.
        name: a display name (default: the transform's name).
        target: passed to the transform as ``target=`` when given (one class, or one per image);
            success is then hitting it.
        seed: base seed; batch ``b`` of the grid (global images ``starts[b]`` onwards) uses
            ``seed + b`` in every process, so results do not depend on timing or sharding.
        batch_size: the grid of an array pair (a dataset keeps its own batches).
        max_examples: evaluate only the first images.
        progress: optional ``callable(done, total)``.
        backend: where to run the batches (default: the :func:`sweep_backend` in force, else this
            process).

    Example:
        >>> from functools import partial
        >>> res = sweep(model, (x, y), partial(fgsm), "eps", [0.0, 0.1])  # doctest: +SKIP
    """
    values = tuple(float(v) for v in values)
    if not values:
        raise ConfigError(f"sweep over {param!r} needs at least one value")
    batches = as_batches(data, batch_size, max_examples)
    if not batches:
        raise ConfigError("sweep got no data")
    n = int(batch_starts(batches)[-1])
    if target is not None and np.ndim(target) > 0 and len(np.ravel(target)) != n:
        raise ConfigError(f"target has {len(np.ravel(target))} values for {n} images")
    backend = backend if backend is not None else current_backend()
    if backend is None:
        part = sweep_part(model, batches, transform, param, values, seed=seed, target=target, progress=progress)
    else:
        part = merge_parts([backend.run(model, batches, transform, param, values, seed=seed, target=target,
                                        progress=progress)], n)
    c = int(num_classes or as_logits_model(model).output_shape[-1])
    tname = name or getattr(getattr(transform, "func", transform), "__name__", "transform")
    return summarize(part, name=tname, param=param, values=values, num_classes=c, target=target)
