"""What the HTTP service computes: the exported SavedModels of one pipeline, loaded once.

:class:`ExportBackend` reads the highest version of ``<models_dir>/classifier/`` that loads (an
empty or broken version folder is passed over) and, when present, the attacks of the same version
(one export gives all its artifacts one number; else the newest attacks that load) through
:func:`tf_featuretest.export.load_artifact`, and calls their signatures. Its methods are plain
blocking calls; the app runs them in worker threads.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, ModelError
from ..export.layout import is_complete, latest_version, load_artifact
from ..testgen.judge import LabelCommittee, Votes

#: The look-alike methods the service offers, the default first (when the export has it).
METHODS = ("perceptual", "cw", "ddn", "feature_space", "pgd", "fgsm")
#: Methods that search for the smallest change: ``eps`` only caps it (1 = no cap).
MINIMAL = ("perceptual", "cw", "ddn")


@dataclass(frozen=True)
class Prediction:
    """Top-k classes of one image."""

    names: tuple
    indices: tuple
    probabilities: tuple

    def to_dict(self) -> dict:
        return {"label": self.names[0], "index": self.indices[0], "confidence": self.probabilities[0],
                "top_k": [{"label": n, "index": i, "probability": p}
                          for n, i, p in zip(self.names, self.indices, self.probabilities)]}


@dataclass(frozen=True)
class AttackOutcome:
    """A look-alike image and how the model sees it."""

    method: str
    target: str
    eps: float
    original: np.ndarray  # [H, W, C] the input at the model's size
    adversarial: np.ndarray  # [H, W, C]
    before: Prediction
    after: Prediction
    linf: float
    l2: float
    ssim: float
    judge: dict | None = None  # the label committee's verdict on the look-alike (None: no judge exported)

    @property
    def success(self) -> bool:
        return self.after.names[0] == self.target

    def to_dict(self) -> dict:
        return {"method": self.method, "target": self.target, "eps": self.eps, "success": self.success,
                "predicted_label": self.after.names[0], "confidence": self.after.probabilities[0],
                "linf": self.linf, "l2": self.l2, "ssim": self.ssim, "judge": self.judge,
                "original_prediction": self.before.to_dict(), "adversarial_prediction": self.after.to_dict()}


class ExportBackend:
    """The classifier and attacks exported for one pipeline.

    Args:
        models_dir: the pipeline folder, e.g. ``saved_models/digits`` (holding ``classifier/<n>``
            and optionally ``attacks/<n>``).
        pgd_steps: steps of the ``pgd`` method.

    Example:
        >>> backend = ExportBackend("saved_models/digits")  # doctest: +SKIP
        >>> backend.predict(x)[0].names[0]  # doctest: +SKIP
        '3'
    """

    def __init__(self, models_dir, *, pgd_steps=40):
        import tensorflow as tf

        self._tf = tf
        if not os.path.isdir(str(models_dir)):
            raise ModelError(f"models folder not found: {models_dir}")
        self.models_dir = str(models_dir)
        self.classifier, meta = load_artifact(self.models_dir, "classifier")  # the highest version that loads
        self.metadata = meta
        self.version = meta["version"]
        self.labels = tuple(str(n) for n in meta["class_names"])
        self.image_shape = tuple(int(v) for v in meta["image_shape"])
        self.pipeline = meta.get("pipeline")
        self._predict = self.classifier.signatures["serving_default"]
        self.attacks = None
        self.attacks_version = None
        self.methods = ()
        if latest_version(self.models_dir, "attacks") is not None:
            self.attacks, attack_meta = self._attacks_for(self.version)
            self.attacks_version = attack_meta["version"]
            self.methods = tuple(m for m in METHODS if m in self.attacks.signatures)
        self.pgd_steps = int(pgd_steps)
        self.judge, self.judge_members, self.samples = None, (), (np.zeros((0, *self.image_shape), np.float32),
                                                                    np.zeros(0, np.int64))
        if latest_version(self.models_dir, "judge") is not None:
            try:
                self._load_judge()
            except ModelError as exc:
                warnings.warn(f"the judge export does not load ({exc}); look-alikes are not judged", stacklevel=2)

    def _load_judge(self):
        judge, meta = load_artifact(self.models_dir, "judge")
        if [str(n) for n in meta["class_names"]] != list(self.labels):
            raise ModelError("its labels differ from the classifier's")
        self.judge_members = tuple(meta["members"])
        self._votes = judge.signatures["votes"]
        self.judge = LabelCommittee({m: None for m in self.judge_members}, num_classes=len(self.labels),
                                    agree=float(meta["agree"]))
        if hasattr(judge, "samples"):
            images, labels = (v.numpy() for v in judge.samples)
            self.samples = (images.astype(np.float32), labels.astype(np.int64))

    def verdict(self, images, labels) -> list:
        """The committee's answer for each image and label: ``{"verdict", "label", "members": [...]}``."""
        tf = self._tf
        probs = self._votes(image=tf.constant(np.asarray(images, np.float32)))["probabilities"].numpy()
        votes = Votes.from_probabilities(self.judge_members, probs)
        codes = self.judge.verdict(votes, labels).status
        return [{"verdict": str(c), "label": self.labels[int(lab)],
                 "members": [{"name": m, "label": self.labels[int(votes.labels[i, j])],
                              "confidence": float(votes.confidences[i, j])} for j, m in enumerate(self.judge_members)]}
                for i, (c, lab) in enumerate(zip(codes, np.asarray(labels).reshape(-1)))]

    def _attacks_for(self, version):
        """The attacks exported with the classifier's version (one export shares one number), else the newest."""
        folder = os.path.join(self.models_dir, "attacks", str(version))
        if is_complete(folder):
            try:
                return load_artifact(self.models_dir, "attacks", version)
            except ModelError as exc:
                warnings.warn(f"attacks version {version} does not load ({exc}); using the newest that does",
                              stacklevel=3)
        return load_artifact(self.models_dir, "attacks")

    def label_index(self, label) -> int:
        """Index of a label given by name (or by index when no name matches); ConfigError otherwise."""
        text = str(label).strip()
        if text in self.labels:
            return self.labels.index(text)
        if text.lstrip("-").isdigit() and 0 <= int(text) < len(self.labels):
            return int(text)
        raise ConfigError(f"unknown label {label!r}; valid labels: {', '.join(self.labels)}")

    def probabilities(self, images) -> np.ndarray:
        """Class probabilities ``[N, K]`` of float32 images ``[N, H, W, C]``."""
        out = self._predict(image=self._tf.constant(np.asarray(images, np.float32)))
        return out["probabilities"].numpy()

    def predict(self, images, k=5) -> list:
        """Top-``k`` :class:`Prediction` per image of a float32 batch ``[N, H, W, C]``."""
        probs = self.probabilities(images)
        k = min(int(k), probs.shape[1])
        order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
        return [Prediction(tuple(self.labels[i] for i in row), tuple(int(i) for i in row),
                           tuple(float(p[i]) for i in row)) for p, row in zip(probs, order)]

    @property
    def default_method(self) -> str | None:
        return self.methods[0] if self.methods else None

    def attack(self, image, target, *, method=None, eps=None) -> AttackOutcome:
        """A look-alike of one ``[H, W, C]`` image that the model should call ``target``.

        Args:
            image: float32 ``[H, W, C]`` in [0, 1] at the model's size.
            target: the target label (name, or index).
            method: one of :attr:`methods` (default: the first, ``perceptual`` when exported).
            eps: L-inf budget in (0, 1]; for the minimal-change methods (:data:`MINIMAL`) a cap on
                the change, default 1 (none); for the others the budget, default 0.2.
        """
        method = method or self.default_method
        if eps is None:
            eps = 1.0 if method in MINIMAL else 0.2
        tf = self._tf
        if method not in self.methods:
            have = ", ".join(self.methods) or "none (no attacks export)"
            raise ConfigError(f"unknown attack method {method!r}; available: {have}")
        if not 0.0 < float(eps) <= 1.0:
            raise ConfigError(f"eps must be in (0, 1], got {eps!r}")
        t = self.label_index(target)
        x = np.asarray(image, np.float32)[None]
        before = self.predict(x)[0]
        sig = self.attacks.signatures[method]
        args = {"image": tf.constant(x), "eps": tf.constant(float(eps), tf.float32),
                "target": tf.constant(t, tf.int64)}
        if method in ("pgd", "fgsm"):
            args["label"] = tf.constant([before.indices[0]], tf.int64)
        if method == "pgd":
            args["step_size"] = tf.constant(float(eps) / 8.0, tf.float32)
            args["steps"] = tf.constant(self.pgd_steps, tf.int32)
        if method in MINIMAL:
            del args["eps"]
            args["cap"] = tf.constant(float(eps), tf.float32)
        adv = sig(**args)["adversarial"].numpy()
        after = self.predict(adv)[0]
        judged = None if self.judge is None else self.verdict(adv, [before.indices[0]])[0]
        diff = adv[0] - x[0]
        fs = int(min(11, x.shape[1], x.shape[2]))
        ssim = float(tf.image.ssim(tf.constant(adv), tf.constant(x), max_val=1.0, filter_size=fs).numpy()[0])
        return AttackOutcome(method, self.labels[t], float(eps), x[0], adv[0], before, after,
                             float(np.abs(diff).max()), float(np.sqrt((diff ** 2).sum())), ssim, judged)
