"""Sweeps: run a model on transformed inputs over a range of one parameter.

One implementation serves attacks (``eps``), noise (``severity``) and generated tests. A transform
is any ``fn(model, x, y, *, <param>=value, seed=...) -> x'`` (settings bound with
``functools.partial``).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

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
        seconds: wall time per value.
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

    def to_dict(self) -> dict:
        clean = nan_to_none
        return {"name": self.name, "param": self.param, "values": list(self.values),
                "clean_accuracy": self.clean_accuracy, "accuracy": list(self.accuracy),
                "success_rate": list(self.success_rate), "mean_linf": list(self.mean_linf),
                "mean_l2": list(self.mean_l2),
                "per_class_accuracy": [[clean(v) for v in row] for row in self.per_class_accuracy],
                "num_examples": self.num_examples, "target": self.target, "seconds": list(self.seconds)}

    def table(self) -> str:
        """A plain-text table: value, accuracy, success rate, mean L-inf, mean L2."""
        rows = [f"{self.param:>10} {'accuracy':>9} {'success':>9} {'L-inf':>9} {'L2':>9}"]
        for v, a, s, li, l2 in zip(self.values, self.accuracy, self.success_rate, self.mean_linf, self.mean_l2):
            rows.append(f"{v:>10.4g} {a:>9.4f} {s:>9.4f} {li:>9.4f} {l2:>9.4f}")
        return "\n".join(rows)


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


def sweep(model, data, transform, param, values, *, name=None, target=None, seed=0, batch_size=128,
          max_examples=None, num_classes=None, progress=None) -> SweepResult:
    """Evaluate ``model`` on ``transform(model, x, y, **{param: v}, seed=...)`` for each ``v`` in ``values``.

    Args:
        model: a classifier returning logits.
        data: a ``tf.data`` dataset of ``(x, y)`` batches or an ``(x, y)`` array pair.
        transform: ``fn(model, x, y, *, <param>, seed, [target]) -> x'``.
        param: the name of the swept keyword argument.
        values: the values to sweep.
        name: a display name (default: the transform's name).
        target: passed to the transform as ``target=`` when given; success is then hitting it.
        seed: base seed; batch ``i`` uses ``seed + i`` so results do not depend on timing.
        max_examples: evaluate only the first images.
        progress: optional ``callable(done, total)``.

    Example:
        >>> from functools import partial
        >>> res = sweep(model, (x, y), partial(fgsm), "eps", [0.0, 0.1])  # doctest: +SKIP
    """
    values = tuple(float(v) for v in values)
    if not values:
        raise ConfigError(f"sweep over {param!r} needs at least one value")
    predict = compiled_predict(model)
    model = as_logits_model(model)
    batches = as_batches(data, batch_size, max_examples)
    if not batches:
        raise ConfigError("sweep got no data")
    ys = np.concatenate([b[1] for b in batches])
    n = len(ys)
    c = int(num_classes or model.output_shape[-1])
    clean_pred = np.concatenate([np.argmax(predict(tf.constant(x)).numpy(), 1) for x, _ in batches])
    clean_ok = clean_pred == ys
    per_image_target = target is not None and np.ndim(target) > 0
    if per_image_target and len(np.ravel(target)) != n:
        raise ConfigError(f"target has {len(np.ravel(target))} values for {n} images")
    starts = np.cumsum([0] + [len(b[1]) for b in batches])
    acc, succ, linf, l2, per_class, secs = [], [], [], [], [], []
    total = len(values) * len(batches)
    for vi, v in enumerate(values):
        t0 = time.perf_counter()
        preds, dinf, d2 = [], [], []
        for bi, (x, y) in enumerate(batches):
            extra = {} if target is None else {
                "target": np.ravel(target)[starts[bi]:starts[bi + 1]] if per_image_target else target}
            x_t = transform(model, tf.constant(x), tf.constant(y), **{param: v}, seed=seed + bi, **extra)
            x_t = tf.convert_to_tensor(x_t)
            preds.append(np.argmax(predict(x_t).numpy(), 1))
            diff = (x_t.numpy() - x).reshape(len(x), -1)
            dinf.append(np.abs(diff).max(1))
            d2.append(np.sqrt((diff.astype(np.float64) ** 2).sum(1)))
            if progress:
                progress(vi * len(batches) + bi + 1, total)
        secs.append(time.perf_counter() - t0)
        pred = np.concatenate(preds)
        ok = pred == ys
        acc.append(float(ok.mean()))
        if target is None:
            succ.append(float((~ok & clean_ok).sum() / max(clean_ok.sum(), 1)))
        else:
            tgt = np.broadcast_to(np.asarray(target), ys.shape)
            eligible = ys != tgt
            succ.append(float((pred[eligible] == tgt[eligible]).mean()) if eligible.any() else float("nan"))
        linf.append(float(np.concatenate(dinf).mean()))
        l2.append(float(np.concatenate(d2).mean()))
        per_class.append(tuple(float(ok[ys == k].mean()) if (ys == k).any() else float("nan") for k in range(c)))
    tname = name or getattr(getattr(transform, "func", transform), "__name__", "transform")
    tgt_out = None if target is None or np.ndim(target) else int(target)
    return SweepResult(name=tname, param=param, values=values, clean_accuracy=float(clean_ok.mean()),
                       accuracy=tuple(acc), success_rate=tuple(succ), mean_linf=tuple(linf), mean_l2=tuple(l2),
                       per_class_accuracy=tuple(per_class), num_examples=n, target=tgt_out, seconds=tuple(secs))


