"""Generated test cases as a reusable suite: every case, its checks and the model's answer, in ``cases.npz``.

:class:`TestCases` holds one row per case: the image, its assigned label, where it came from
(anchor index in the split, latent point, radius, ``origin``: ``random``, ``gradient``,
``evolution`` or ``dcgan``), both checks (in-distribution scores and flag; the committee's votes,
confidences and verdict), the valid / ambiguous flags and the classifier's prediction. A case id
(a hash of where the case came from) survives reruns with the same seed, so human reviews can be
merged by it.

``save_cases`` writes ``cases.npz`` (plain arrays, no pickle); ``load_cases`` reads it back and
``replay`` scores another model on the same cases.

Example:
    >>> save_cases(cases, "runs/testgen/cases.npz")  # doctest: +SKIP
    >>> replay(load_cases("runs/testgen/cases.npz"), other_model).to_dict()  # doctest: +SKIP
"""
from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass

import numpy as np

from .._util.io import atomic_path, nan_to_none
from ..errors import DataError
from .checker import CaseChecks

FORMAT = 1
ORIGINS = ("random", "gradient", "evolution", "dcgan")


def case_id(*parts) -> str:
    """A short stable id from where a case came from (strings, numbers, arrays)."""
    h = hashlib.sha1()
    for p in parts:
        h.update(np.round(np.asarray(p, np.float64), 4).tobytes() if isinstance(p, np.ndarray) else str(p).encode())
        h.update(b"|")
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class TestCases:
    """One row per generated case (see the module docstring); ``predictions`` are the tested model's."""

    __test__ = False  # not a pytest class

    source: str
    images: np.ndarray
    labels: np.ndarray
    anchor: np.ndarray
    latent: np.ndarray
    radius: np.ndarray
    origin: np.ndarray
    case_ids: np.ndarray
    checks: CaseChecks
    predictions: np.ndarray
    num_classes: int

    def __len__(self) -> int:
        return int(len(self.labels))

    @property
    def valid(self) -> np.ndarray:
        return self.checks.valid

    @property
    def ambiguous(self) -> np.ndarray:
        return self.checks.ambiguous

    @property
    def wrong(self) -> np.ndarray:
        return self.predictions != self.labels

    @property
    def confirmed(self) -> np.ndarray:
        """Confirmed failures: valid (in distribution, committee keeps the label) and the model is wrong."""
        return self.valid & self.wrong

    def take(self, idx) -> TestCases:
        idx = np.asarray(idx)
        return dataclasses.replace(self, images=self.images[idx], labels=self.labels[idx], anchor=self.anchor[idx],
                                   latent=self.latent[idx], radius=self.radius[idx], origin=self.origin[idx],
                                   case_ids=self.case_ids[idx], checks=self.checks.take(idx),
                                   predictions=self.predictions[idx])

    def with_predictions(self, predictions) -> TestCases:
        predictions = np.asarray(predictions, np.int64)
        if predictions.shape != self.labels.shape:
            raise DataError(f"got {predictions.shape} predictions for {len(self)} cases")
        return dataclasses.replace(self, predictions=predictions)

    @staticmethod
    def concat(parts) -> TestCases:
        parts = [p for p in parts if p is not None]
        if not parts:
            raise DataError("nothing to concatenate")
        first = parts[0]
        cat = lambda name: np.concatenate([getattr(p, name) for p in parts])  # noqa: E731
        source = "+".join(dict.fromkeys(p.source for p in parts))
        return dataclasses.replace(first, source=source, images=cat("images"), labels=cat("labels"), anchor=cat("anchor"),
                                   latent=cat("latent"), radius=cat("radius"), origin=cat("origin"),
                                   case_ids=cat("case_ids"), checks=CaseChecks.concat([p.checks for p in parts]),
                                   predictions=cat("predictions"))

    def summary(self, origin=None) -> dict:
        """Counts and rates over the cases (of one ``origin`` when given)."""
        m = np.ones(len(self), bool) if origin is None else self.origin == origin
        n, valid = int(m.sum()), self.valid & m
        correct = ~self.wrong
        per_valid = [int((valid & (self.labels == c)).sum()) for c in range(self.num_classes)]
        per_acc = [float(correct[valid & (self.labels == c)].mean()) if per_valid[c] else float("nan")
                   for c in range(self.num_classes)]
        sub = self.checks.take(np.flatnonzero(m)).rates()
        return {"num_cases": n, "num_valid": int(valid.sum()), "yield": float(valid.sum() / n) if n else 0.0,
                "num_ambiguous": int((self.ambiguous & m).sum()), "num_changed": int((self.checks.changed & m).sum()),
                "num_out_of_distribution": int((~self.checks.in_distribution & m).sum()), "rates": sub,
                "accuracy_on_valid": float(correct[valid].mean()) if valid.any() else float("nan"),
                "accuracy_on_all": float(correct[m].mean()) if n else float("nan"),
                "num_confirmed_failures": int((self.confirmed & m).sum()),
                "num_wrong_ambiguous": int((self.wrong & self.ambiguous & m).sum()),
                "per_class_valid": per_valid, "per_class_accuracy": [nan_to_none(v) for v in per_acc]}

    def failure_order(self) -> np.ndarray:
        """Indices of the confirmed failures, one per anchor (DCGAN: per label) in turn, so any prefix is varied."""
        idx = np.flatnonzero(self.confirmed)
        group = np.where(self.anchor[idx] >= 0, self.anchor[idx], -1 - self.labels[idx])
        rank = np.zeros(len(idx), np.int64)
        for g in np.unique(group):
            m = np.flatnonzero(group == g)
            rank[m] = np.arange(len(m))
        return idx[np.lexsort((idx, rank))]

    def failures(self, limit=200) -> list:
        """The confirmed failures as dicts (case id, anchor, label, prediction, origin, votes), varied first."""
        out = []
        for i in self.failure_order()[:limit]:
            out.append({"case": str(self.case_ids[i]), "index": int(i), "anchor": int(self.anchor[i]),
                        "label": int(self.labels[i]), "predicted": int(self.predictions[i]),
                        "origin": str(self.origin[i]), "votes": self.checks.votes[i].tolist(),
                        "confidences": [round(float(v), 4) for v in self.checks.confidences[i]]})
        return out


def save_cases(cases: TestCases, path) -> str:
    """Write ``cases`` to ``path`` (``.npz``, compressed, no pickled objects) atomically."""
    c = cases.checks
    arrays = {"format": np.int64(FORMAT), "source": np.str_(cases.source), "num_classes": np.int64(cases.num_classes),
              "images": cases.images.astype(np.float32), "labels": cases.labels.astype(np.int64),
              "anchor": cases.anchor.astype(np.int64), "latent": cases.latent.astype(np.float32),
              "radius": cases.radius.astype(np.float32), "origin": cases.origin.astype(str),
              "case_id": cases.case_ids.astype(str), "in_distribution": c.in_distribution.astype(bool),
              "status": c.code.astype(np.int8), "members": np.asarray(c.members, str),
              "votes": c.votes.astype(np.int64), "confidences": c.confidences.astype(np.float32),
              "label_probability": c.label_probability.astype(np.float32), "valid": cases.valid,
              "ambiguous": cases.ambiguous, "predictions": cases.predictions.astype(np.int64),
              "score_names": np.asarray(list(c.scores), str)}
    for k, v in c.scores.items():
        arrays[f"score_{k}"] = np.asarray(v, np.float64)
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez_compressed(tmp, **arrays)
    return str(path)


_REQUIRED = ("format", "source", "num_classes", "images", "labels", "anchor", "latent", "radius", "origin", "case_id",
             "in_distribution", "status", "members", "votes", "confidences", "label_probability", "predictions",
             "score_names")


def load_cases(path) -> TestCases:
    """Read a ``cases.npz`` written by :func:`save_cases`; a clear :class:`DataError` otherwise."""
    try:
        with np.load(path, allow_pickle=False) as f:
            data = {k: f[k] for k in f.files}
    except FileNotFoundError:
        raise DataError(f"cases file not found: {path}") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"{path} is not a readable cases.npz ({exc})") from None
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise DataError(f"{path} is not a cases.npz of tf-featuretest: missing {missing}")
    if int(data["format"]) != FORMAT:
        raise DataError(f"{path} has cases format {int(data['format'])}, this version reads {FORMAT}")
    n = len(data["labels"])
    bad = [k for k in ("images", "anchor", "latent", "radius", "origin", "case_id", "status", "votes", "predictions")
           if len(data[k]) != n]
    if bad:
        raise DataError(f"{path}: arrays {bad} do not have {n} rows like 'labels'")
    names = [str(s) for s in data["score_names"]]
    checks = CaseChecks(in_distribution=data["in_distribution"].astype(bool),
                        scores={k: data[f"score_{k}"] for k in names}, code=data["status"].astype(np.int8),
                        members=tuple(str(m) for m in data["members"]), votes=data["votes"],
                        confidences=data["confidences"], label_probability=data["label_probability"])
    return TestCases(source=str(data["source"]), images=data["images"], labels=data["labels"], anchor=data["anchor"],
                     latent=data["latent"], radius=data["radius"], origin=data["origin"], case_ids=data["case_id"],
                     checks=checks, predictions=data["predictions"], num_classes=int(data["num_classes"]))


@dataclass(frozen=True)
class ReplayResult:
    """Another model scored on stored cases: its summary, and how often it agrees with the stored predictions."""

    summary: dict
    agreement: float
    changed_predictions: int
    cases: TestCases

    def to_dict(self) -> dict:
        return {**self.summary, "agreement_with_stored": self.agreement,
                "changed_predictions": self.changed_predictions, "confirmed_failures": self.cases.failures()}


def replay(cases: TestCases, predictions) -> ReplayResult:
    """Score ``predictions`` (another model's arg-max answers on ``cases.images``) on the stored checks."""
    new = cases.with_predictions(predictions)
    same = new.predictions == cases.predictions
    return ReplayResult(summary=new.summary(), agreement=float(same.mean()) if len(same) else float("nan"),
                        changed_predictions=int((~same).sum()), cases=new)
