"""Classification metrics (top-k, per-class report, confusion matrix) and generative-model metrics.

The per-class figures follow scikit-learn's ``classification_report`` definitions exactly (zero
division gives 0), so the two can be compared number for number.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DataError
from ..models.introspection import compiled_predict


def _labels(y, num_classes, what="label"):
    y = np.asarray(y)
    if y.ndim != 1:
        raise DataError(f"{what}s must be a 1-D array of class indices, got shape {y.shape}")
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        bad = y[(y < 0) | (y >= num_classes)][0]
        raise DataError(f"{what} {int(bad)} outside 0..{num_classes - 1}")
    return y.astype(np.int64)


def top_k_accuracy(y_true, scores, k=1) -> float:
    """Fraction of rows whose true label is among the ``k`` highest scores (ties broken by index)."""
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise DataError(f"scores must be [N, num_classes], got shape {scores.shape}")
    y = _labels(y_true, scores.shape[1])
    if len(y) != len(scores):
        raise DataError(f"{len(y)} labels for {len(scores)} score rows")
    if len(y) == 0:
        return float("nan")
    k = min(int(k), scores.shape[1])
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return float(np.mean(np.any(top == y[:, None], axis=1)))


def confusion_matrix(y_true, y_pred, num_classes) -> np.ndarray:
    """``[num_classes, num_classes]`` counts; row = true label, column = prediction."""
    y_true = _labels(y_true, num_classes)
    y_pred = _labels(y_pred, num_classes, "prediction")
    return np.bincount(y_true * num_classes + y_pred, minlength=num_classes ** 2).reshape(num_classes, num_classes)


@dataclass(frozen=True)
class ClassificationReport:
    """Per-class precision, recall, F1 and support, their averages, and the confusion matrix."""

    class_names: tuple
    precision: tuple
    recall: tuple
    f1: tuple
    support: tuple
    tpr: tuple
    fpr: tuple
    accuracy: float
    top_k: dict  # k -> accuracy
    macro: dict
    weighted: dict
    confusion: tuple  # rows of counts

    def to_dict(self) -> dict:
        return {
            "accuracy": self.accuracy,
            "top_k": {str(k): v for k, v in self.top_k.items()},
            "macro_avg": self.macro,
            "weighted_avg": self.weighted,
            "per_class": [
                {"class": n, "precision": p, "recall": r, "f1": f, "support": s, "tpr": t, "fpr": fp}
                for n, p, r, f, s, t, fp in zip(self.class_names, self.precision, self.recall, self.f1,
                                                self.support, self.tpr, self.fpr)
            ],
            "confusion_matrix": [list(row) for row in self.confusion],
        }

    def format(self, digits=4) -> str:
        """A text table in the layout of scikit-learn's report."""
        width = max([len("weighted avg")] + [len(str(n)) for n in self.class_names])
        head = f"{'':>{width}} {'precision':>9} {'recall':>9} {'f1-score':>9} {'support':>9}"
        lines = [head, ""]
        for n, p, r, f, s in zip(self.class_names, self.precision, self.recall, self.f1, self.support):
            lines.append(f"{str(n):>{width}} {p:>9.{digits}f} {r:>9.{digits}f} {f:>9.{digits}f} {s:>9d}")
        total = int(sum(self.support))
        lines += ["", f"{'accuracy':>{width}} {'':>9} {'':>9} {self.accuracy:>9.{digits}f} {total:>9d}"]
        for label, avg in (("macro avg", self.macro), ("weighted avg", self.weighted)):
            lines.append(f"{label:>{width}} {avg['precision']:>9.{digits}f} {avg['recall']:>9.{digits}f} "
                         f"{avg['f1']:>9.{digits}f} {total:>9d}")
        return "\n".join(lines)


def classification_report(y_true, scores_or_pred, class_names, *, ks=(1, 5)) -> ClassificationReport:
    """Per-class report from labels and either scores ``[N, C]`` or predicted labels ``[N]``.

    Args:
        y_true: true labels ``[N]``.
        scores_or_pred: logits/probabilities ``[N, C]`` (enables top-k) or predicted labels ``[N]``.
        class_names: one name per class.
        ks: top-k accuracies to report (only with scores; k above the class count is clipped).
    """
    c = len(class_names)
    arr = np.asarray(scores_or_pred)
    if arr.ndim == 2:
        if arr.shape[1] != c:
            raise DataError(f"scores have {arr.shape[1]} columns for {c} class names")
        if not np.isfinite(arr).all():
            raise DataError("scores contain NaN or infinity")
        pred = np.argmax(arr, axis=1)
        top_k = {int(min(k, c)): top_k_accuracy(y_true, arr, k) for k in ks}
    else:
        pred = _labels(arr, c, "prediction")
        top_k = {}
    cm = confusion_matrix(y_true, pred, c)
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    n = cm.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / np.maximum(predicted, 1), 0.0)
        recall = np.where(support > 0, tp / np.maximum(support, 1), 0.0)
        denom = precision + recall
        f1 = np.where(denom > 0, 2 * precision * recall / np.where(denom > 0, denom, 1), 0.0)
        fp = predicted - tp
        negatives = n - support
        fpr = np.where(negatives > 0, fp / np.maximum(negatives, 1), 0.0)
    weights = support / max(n, 1)
    macro = {"precision": float(precision.mean()), "recall": float(recall.mean()), "f1": float(f1.mean())}
    weighted = {"precision": float((precision * weights).sum()), "recall": float((recall * weights).sum()),
                "f1": float((f1 * weights).sum())}
    return ClassificationReport(
        class_names=tuple(str(x) for x in class_names), precision=tuple(map(float, precision)),
        recall=tuple(map(float, recall)), f1=tuple(map(float, f1)), support=tuple(int(s) for s in support),
        tpr=tuple(map(float, recall)), fpr=tuple(map(float, fpr)), accuracy=float(tp.sum() / max(n, 1)),
        top_k=top_k, macro=macro, weighted=weighted, confusion=tuple(tuple(int(v) for v in row) for row in cm))


def predict_logits(model, data, *, batch_size=256):
    """Run ``model`` over a dataset of ``(x, y)`` batches or an ``(x, y)`` array pair.

    Returns:
        ``(logits float32 [N, C], labels int64 [N])``.
    """
    import tensorflow as tf

    fn = compiled_predict(model)
    logits, labels = [], []
    if isinstance(data, tuple):
        x, y = data
        for i in range(0, len(x), batch_size):
            logits.append(fn(tf.convert_to_tensor(x[i:i + batch_size])).numpy())
        labels = [np.asarray(y)]
    else:
        for xb, yb in data:
            logits.append(fn(xb).numpy())
            labels.append(np.asarray(yb))
    return np.concatenate(logits).astype(np.float32), np.concatenate(labels).astype(np.int64)


def evaluate_classifier(model, data, class_names, *, ks=(1, 5)) -> ClassificationReport:
    """Predict over ``data`` and build the :class:`ClassificationReport`."""
    logits, labels = predict_logits(model, data)
    return classification_report(labels, logits, class_names, ks=ks)
