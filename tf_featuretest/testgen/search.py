"""Directed search for failures inside each anchor's valid region, against random sampling at equal cost.

Random sampling finds a classifier's failures only where they are dense. Inside the ball of each
anchor's found radius (:mod:`.radius`) we look for latent points that the classifier gets wrong
while the checker still says "valid" (in distribution, the committee keeps the label):

- ``gradient``: ascent on the classifier's cross-entropy for the anchor's label, through the
  decoder, from random starts in the ball; each step moves ``step * radius`` along the normalised
  gradient and projects back onto the ball. A path stops at its first wrong point (just across
  the decision boundary, where the label is most likely to still hold) or after ``max_steps``,
  and a new one starts from a fresh random point.
- ``evolution``: a gradient-free search for models without gradients (as SINVAD does): a
  population in the ball, fitness = the classifier's margin (label logit minus the best other
  logit), the better half kept, children by uniform crossover and Gaussian mutation, projected
  onto the ball.
- ``random``: uniform samples in the ball, the baseline.

Every method gets the same number of *model calls* per anchor (one call = the classifier on one
image; a gradient step counts as one). Each image the classifier gets wrong goes to the checker;
the valid ones are confirmed failures. Near-identical finds (decoded images closer than
``dedupe`` in root-mean-square pixel difference, per anchor) are counted once.

Example:
    >>> res = search_failures(cnn, vae, checker, z, y, rho, idx, method="gradient", budget=40)  # doctest: +SKIP
    >>> res.to_dict()["confirmed_per_minute"]  # doctest: +SKIP
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from .._util import checks, seeds
from ..models.introspection import as_logits_model, compiled_predict
from .cases import TestCases, case_id
from .radius import decode, sample_ball

METHODS = ("random", "gradient", "evolution")
#: Default gradient steps per start and evolution generations.
STEPS, GENERATIONS = 8, 6


@dataclass(frozen=True)
class SearchResult:
    """What one method found: confirmed failures (deduplicated) as :class:`TestCases`, and its cost."""

    method: str
    budget: int
    model_calls: int
    checker_calls: int
    wrong: int
    seconds: float
    found: TestCases | None

    @property
    def confirmed(self) -> int:
        return 0 if self.found is None else len(self.found)

    def to_dict(self) -> dict:
        minutes = self.seconds / 60.0
        return {"method": self.method, "budget_per_anchor": self.budget, "model_calls": self.model_calls,
                "checker_calls": self.checker_calls, "wrong": self.wrong, "confirmed": self.confirmed,
                "seconds": self.seconds, "confirmed_per_minute": self.confirmed / minutes if minutes > 0 else None,
                "confirmed_per_1000_calls": 1000.0 * self.confirmed / self.model_calls if self.model_calls else None,
                "anchors_with_failures": 0 if self.found is None else int(len(np.unique(self.found.anchor)))}


def _project(z, center, radius):
    d = z - center
    n = np.linalg.norm(d, axis=1, keepdims=True)
    scale = np.minimum(1.0, radius[:, None] / np.maximum(n, 1e-12))
    return (center + d * scale).astype(np.float32)


def _predict(model, images, batch_size):
    fn = compiled_predict(model)
    out = [np.asarray(fn(tf.constant(images[i:i + batch_size]))) for i in range(0, len(images), batch_size)]
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def _margin(logits, labels):
    own = logits[np.arange(len(labels)), labels]
    other = logits.copy()
    other[np.arange(len(labels)), labels] = -np.inf
    return own - other.max(axis=1)


def _gradient_fn(model, vae, dim):
    logits_model = as_logits_model(model)

    @tf.function(input_signature=[tf.TensorSpec([None, dim], tf.float32), tf.TensorSpec([None], tf.int64)])
    def step(z, labels):
        with tf.GradientTape() as tape:
            tape.watch(z)
            x = tf.cast(vae.decode(z), tf.float32)
            logits = tf.cast(logits_model(x, training=False), tf.float32)
            loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
        return x, logits, tape.gradient(loss, z)

    return step


def _run_random(model, vae, z, labels, radius, budget, seed, batch_size):
    pts = sample_ball(z, budget, radius, seed)
    images = decode(vae, pts, batch_size)
    logits = _predict(model, images, batch_size)
    owner = np.repeat(np.arange(len(z)), budget)
    return pts, images, logits, owner


def _run_gradient(model, vae, z, labels, radius, budget, seed, batch_size, slots=4, max_steps=STEPS, step_size=0.3):
    """``slots`` ascents per anchor, each restarted from a new random point once it has found a failure
    (the first wrong point on its path, still close to where the label held) or taken ``max_steps`` steps."""
    slots = max(1, min(slots, budget))
    rounds = max(1, budget // slots)
    owner = np.repeat(np.arange(len(z)), slots)
    center, rad, lab = z[owner], radius[owner], labels[owner]
    cur = sample_ball(z, slots, radius, seed)
    taken = np.zeros(len(cur), np.int64)
    fn = _gradient_fn(model, vae, z.shape[1])
    pts, imgs, logs = [], [], []
    for r in range(rounds):
        xs, ls, gs = [], [], []
        for i in range(0, len(cur), batch_size):
            x, lg, g = fn(tf.constant(cur[i:i + batch_size]), tf.constant(lab[i:i + batch_size]))
            xs.append(x.numpy())
            ls.append(lg.numpy())
            gs.append(g.numpy())
        logits = np.concatenate(ls)
        pts.append(cur.copy())
        imgs.append(np.concatenate(xs))
        logs.append(logits)
        g = np.concatenate(gs)
        g /= np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-12)
        nxt = _project(cur + step_size * rad[:, None] * g, center, rad)
        taken += 1
        restart = (np.argmax(logits, axis=1) != lab) | (taken >= max_steps)
        if restart.any():
            fresh = sample_ball(center[restart], 1, rad[restart], seeds.derive(seed, r + 1))
            nxt[restart] = fresh
            taken[restart] = 0
        cur = nxt
    return np.concatenate(pts), np.concatenate(imgs), np.concatenate(logs), np.tile(owner, rounds)


def _run_evolution(model, vae, z, labels, radius, budget, seed, batch_size, generations=GENERATIONS, sigma=0.25):
    rng = np.random.default_rng(seeds.derive(seed, 7))
    pop_size = max(4, int(2 * budget // (generations + 1)))
    a, d = z.shape
    owner_pop = np.repeat(np.arange(a), pop_size)
    pop = sample_ball(z, pop_size, radius, seed)
    pts, imgs, logs, owners = [], [], [], []

    def evaluate(points, own):
        x = decode(vae, points, batch_size)
        lg = _predict(model, x, batch_size)
        pts.append(points)
        imgs.append(x)
        logs.append(lg)
        owners.append(own)
        return _margin(lg, labels[own])

    fit = evaluate(pop, owner_pop)
    used = pop_size
    half = pop_size // 2
    while used < budget:
        fit_m, pop_m = fit.reshape(a, pop_size), pop.reshape(a, pop_size, d)
        order = np.argsort(fit_m, axis=1, kind="stable")[:, :half]
        parents = np.take_along_axis(pop_m, order[:, :, None], axis=1)
        pfit = np.take_along_axis(fit_m, order, axis=1)
        n_child = min(pop_size - half, budget - used)
        i1 = rng.integers(0, half, (a, n_child))
        i2 = rng.integers(0, half, (a, n_child))
        mask = rng.random((a, n_child, d)) < 0.5
        kids = np.where(mask, np.take_along_axis(parents, i1[:, :, None], 1), np.take_along_axis(parents, i2[:, :, None], 1))
        kids = kids + rng.normal(size=kids.shape).astype(np.float32) * (sigma * radius)[:, None, None]
        own_k = np.repeat(np.arange(a), n_child)
        kids = _project(kids.reshape(-1, d), z[own_k], radius[own_k])
        kfit = evaluate(kids, own_k).reshape(a, n_child)
        pop = np.concatenate([parents, kids.reshape(a, n_child, d)], axis=1).reshape(-1, d)
        fit = np.concatenate([pfit, kfit], axis=1).reshape(-1)
        used += n_child
    return np.concatenate(pts), np.concatenate(imgs), np.concatenate(logs), np.concatenate(owners)


def check_methods(methods, name="searches"):
    """``methods`` if each is a directed search method (``"gradient"``, ``"evolution"``)."""
    methods = tuple(methods)
    for i, m in enumerate(methods):
        checks.choice(m, f"{name}[{i}]", METHODS[1:])
    return methods


def dedupe_per_anchor(images, owner, threshold) -> np.ndarray:
    """Indices of the first of each group of near-identical images (RMS pixel difference < threshold) per anchor."""
    keep = []
    flat = images.reshape(len(images), -1)
    for a in np.unique(owner):
        kept = []
        for i in np.flatnonzero(owner == a):
            if all(np.sqrt(np.mean((flat[i] - flat[j]) ** 2)) >= threshold for j in kept):
                kept.append(i)
        keep += kept
    return np.asarray(sorted(keep), np.int64)


def search_failures(model, vae, checker, z_anchor, labels, radius, anchor_index, *, method="gradient", budget=40,
                    seed=0, dedupe=0.05, batch_size=256, num_classes=None) -> SearchResult:
    """Look for confirmed failures of ``model`` around each anchor with one ``method`` (see the module docstring).

    Args:
        model: the classifier under test ([0, 1] images; logits or probabilities).
        vae: the VAE whose decoder maps latent points to images.
        checker: the :class:`~tf_featuretest.testgen.checker.CaseChecker`.
        z_anchor, labels, radius: ``[A, D]`` latent means, ``[A]`` labels and found radii of the anchors.
        anchor_index: ``[A]`` the anchors' indices in their split (stored with each case).
        method: ``"random"``, ``"gradient"`` or ``"evolution"``.
        budget: model calls per anchor.
        seed: seed of the starts, samples and mutations.
        dedupe: RMS pixel difference under which two finds of one anchor count as one.
    """
    method = checks.choice(method, "method", METHODS)
    budget = checks.positive_int(budget, "budget")
    z = np.asarray(z_anchor, np.float32)
    labels = np.asarray(labels, np.int64)
    radius = np.asarray(radius, np.float32)
    anchor_index = np.asarray(anchor_index, np.int64)
    start, calls0 = time.perf_counter(), checker.calls
    runner = {"random": _run_random, "gradient": _run_gradient, "evolution": _run_evolution}[method]
    pts, images, logits, owner = runner(model, vae, z, labels, radius, budget, seeds.derive(seed, METHODS.index(method)),
                                        batch_size)
    preds = np.argmax(logits, axis=1).astype(np.int64)
    wrong = np.flatnonzero(preds != labels[owner])
    found = None
    if len(wrong):
        c = checker.check(images[wrong], labels[owner[wrong]])
        valid_pos = np.flatnonzero(c.valid)
        ok = wrong[valid_pos]
        if len(ok):
            rel = dedupe_per_anchor(images[ok], owner[ok], dedupe)
            keep, c = ok[rel], c.take(valid_pos[rel])
            ids = np.asarray([case_id("latent", anchor_index[owner[i]], method, pts[i]) for i in keep])
            found = TestCases(source="latent", images=images[keep], labels=labels[owner[keep]],
                              anchor=anchor_index[owner[keep]], latent=pts[keep], radius=radius[owner[keep]],
                              origin=np.full(len(keep), method), case_ids=ids, checks=c, predictions=preds[keep],
                              num_classes=int(num_classes or checker.num_classes))
    return SearchResult(method=method, budget=budget, model_calls=int(len(preds)),
                        checker_calls=int(checker.calls - calls0), wrong=int(len(wrong)),
                        seconds=float(time.perf_counter() - start), found=found)
