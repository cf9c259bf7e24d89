"""The case checker: two questions per generated case, answered separately.

1. *In distribution?* -- :class:`~.distribution.DistributionCheck` (density scores calibrated on
   held-out real images).
2. *Label kept?* -- :class:`~.judge.LabelCommittee` (kept / changed / ambiguous).

A case is a **valid** test only if it is in distribution and the committee keeps its label. A case
the committee is unsure about is **ambiguous**: never a valid test, never counted as a failure.
The same checker judges latent cases, DCGAN cases and the calibration sets.

Example:
    >>> checker = CaseChecker(committee, distribution)  # doctest: +SKIP
    >>> c = checker.check(images, labels)  # doctest: +SKIP
    >>> c.valid.mean(), c.ambiguous.mean()  # doctest: +SKIP
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DataError
from .distribution import DistributionCheck
from .judge import STATUSES, LabelCommittee


@dataclass(frozen=True)
class CaseChecks:
    """Per-case answers of the checker.

    Attributes:
        in_distribution: ``[N]`` bool.
        scores: ``{score: [N]}`` density scores (``knn_distance``, ``elbo``).
        code: ``[N]`` the committee's verdict (0 kept, 1 changed, 2 ambiguous; ``judge.STATUSES``).
        members: the committee's member names.
        votes: ``[N, M]`` each member's top label; confidences: ``[N, M]`` its probability.
        label_probability: ``[N, M]`` the probability each member gives the case's label.
    """

    in_distribution: np.ndarray
    scores: dict
    code: np.ndarray
    members: tuple
    votes: np.ndarray
    confidences: np.ndarray
    label_probability: np.ndarray

    @property
    def kept(self) -> np.ndarray:
        return self.code == 0

    @property
    def changed(self) -> np.ndarray:
        return self.code == 1

    @property
    def ambiguous(self) -> np.ndarray:
        return self.code == 2

    @property
    def valid(self) -> np.ndarray:
        """In distribution and the committee keeps the label."""
        return self.in_distribution & self.kept

    @property
    def status(self) -> np.ndarray:
        return np.asarray(STATUSES)[self.code]

    def __len__(self) -> int:
        return int(len(self.code))

    def take(self, idx) -> CaseChecks:
        idx = np.asarray(idx)
        return CaseChecks(self.in_distribution[idx], {k: v[idx] for k, v in self.scores.items()}, self.code[idx],
                          self.members, self.votes[idx], self.confidences[idx], self.label_probability[idx])

    @staticmethod
    def concat(parts) -> CaseChecks:
        parts = list(parts)
        if not parts:
            raise DataError("nothing to concatenate")
        first = parts[0]
        return CaseChecks(np.concatenate([p.in_distribution for p in parts]),
                          {k: np.concatenate([p.scores[k] for p in parts]) for k in first.scores},
                          np.concatenate([p.code for p in parts]), first.members,
                          np.concatenate([p.votes for p in parts]), np.concatenate([p.confidences for p in parts]),
                          np.concatenate([p.label_probability for p in parts]))

    def rates(self) -> dict:
        """Shares of the cases: in distribution, kept, changed, ambiguous, valid (0 for no cases)."""
        n = len(self)
        f = (lambda m: float(np.mean(m))) if n else (lambda m: 0.0)
        return {"in_distribution": f(self.in_distribution), "kept": f(self.kept), "changed": f(self.changed),
                "ambiguous": f(self.ambiguous), "valid": f(self.valid)}


class CaseChecker:
    """Both questions for a batch of labelled images (see the module docstring).

    Args:
        committee: the :class:`LabelCommittee`.
        distribution: the :class:`DistributionCheck`.
    """

    def __init__(self, committee: LabelCommittee, distribution: DistributionCheck):
        self.committee = committee
        self.distribution = distribution
        self.calls = 0  # images checked, for cost accounting

    @property
    def num_classes(self) -> int:
        return self.committee.num_classes

    def check(self, images, labels, batch_size: int = 256) -> CaseChecks:
        """Check ``images`` meant to show ``labels``."""
        images = np.asarray(images, np.float32)
        labels = np.asarray(labels, np.int64).reshape(-1)
        if len(images) != len(labels):
            raise DataError(f"got {len(labels)} labels for {len(images)} images")
        self.calls += len(images)
        ok, scores = self.distribution.evaluate(images, batch_size)
        v = self.committee.keeps(images, labels, batch_size)
        return CaseChecks(in_distribution=np.asarray(ok, bool), scores=scores, code=v.code, members=v.votes.members,
                          votes=v.votes.labels, confidences=v.votes.confidences,
                          label_probability=v.label_probability)

    def favourite_labels(self, images, batch_size: int = 256) -> np.ndarray:
        """The label the committee finds most likely for each image (the hardest one to reject)."""
        return self.committee.votes(np.asarray(images, np.float32), batch_size).majority()

    def to_dict(self) -> dict:
        return {"committee": {"members": self.committee.describe(), "agree": self.committee.agree,
                              "rule": "kept: every member's top label is the case's label with probability >= agree; "
                                      "changed: no member's top label is the case's label and a majority agree on "
                                      "another; ambiguous: otherwise"},
                "in_distribution": self.distribution.to_dict()}
