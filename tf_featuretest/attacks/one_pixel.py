"""The one-pixel (and k-pixel) attack of Su, Vargas and Sakurai (2019), by differential evolution.

Each candidate is ``k`` pixels ``(row, col, value per channel)``. The search is DE/rand/1 with
mutation factor ``F = 0.5`` and no crossover, as in the paper: a child
``p[r1] + F * (p[r2] - p[r3])`` replaces its parent when it lowers the true-class probability
(untargeted) or raises the target probability (targeted). An image stops as soon as one
candidate succeeds.

Speed comes from three things:

* one pixel is evaluated *locally* (:mod:`._local`): for plain convolutional networks only the
  changed pixel's footprint in each layer is recomputed, from the clean image's activations,
  instead of running the whole network on every candidate (exact up to float32 summation order);
  other models and ``k > 1`` run the whole model on each candidate image;
* candidates are batched across images: every evaluation takes a fixed number of candidates
  from all images in flight, and finished images are replaced by waiting ones at once;
* candidates that repeat an earlier one of the same image exactly (DE truncates positions to
  whole pixels and clips values, so repeats are common once the population converges) reuse
  its result instead of being evaluated again.

The DE bookkeeping runs in NumPy with one random generator per image, so how images are grouped
matters only where float rounding (which depends on the batch shape) tips a comparison. Whatever
evaluated the search, the reported success and prediction come from the whole model applied to
the returned images.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from .._util import cache, seeds
from ..errors import ConfigError
from ..models.introspection import as_logits_model, num_classes
from . import _local, _ops

_F = 0.5


@dataclass(frozen=True)
class OnePixelResult:
    """Outcome of :func:`one_pixel_attack`.

    Attributes:
        images: the inputs with the best candidate's pixels set ``[N, H, W, C]`` (for a failed
            image: the candidate that came closest).
        pixels: changed pixels ``[N, k, 2]`` as ``(row, col)``.
        values: their new values ``[N, k, C]``.
        success: ``[N]`` a real flip: untargeted, the model classified the clean image correctly and the
            returned one wrongly; targeted, the returned image gets the target (images whose label is
            the target are not counted as successes).
        predicted: ``[N]`` the class the model gives the returned image.
        clean_predicted: ``[N]`` the class the model gives the clean image.
        eligible: ``[N]`` images a success was possible for (clean-correct; targeted: label != target).
        labels: ``[N]`` the true labels.
        generations: ``[N]`` generations run before success or giving up.
        target: the target class(es), or None.
    """

    images: np.ndarray
    pixels: np.ndarray
    values: np.ndarray
    success: np.ndarray
    predicted: np.ndarray
    generations: np.ndarray
    target: object = None
    clean_predicted: np.ndarray | None = None
    eligible: np.ndarray | None = None
    labels: np.ndarray | None = None

    @property
    def already_wrong(self) -> np.ndarray:
        """``[N]`` images the model misclassified before the attack."""
        if self.clean_predicted is None or self.labels is None:
            return np.zeros(len(self.success), bool)
        return self.clean_predicted != self.labels

    @property
    def success_rate(self) -> float:
        """Successes among the images a success was possible for (clean-correct; targeted: label != target)."""
        ok = np.ones(len(self.success), bool) if self.eligible is None else self.eligible
        return float(np.mean(self.success[ok])) if ok.any() else float("nan")

    def to_dict(self) -> dict:
        tgt = None if self.target is None else np.asarray(self.target).tolist()
        eligible = np.ones(len(self.success), bool) if self.eligible is None else self.eligible
        return {"num_images": int(len(self.success)), "num_already_wrong": int(self.already_wrong.sum()),
                "num_eligible": int(eligible.sum()), "success_rate": self.success_rate,
                "success": self.success.tolist(), "predicted": self.predicted.tolist(),
                "pixels": self.pixels.tolist(), "values": np.round(self.values, 6).tolist(),
                "generations": self.generations.tolist(), "mean_generations": float(np.mean(self.generations)),
                "target": tgt, "clean_predicted": None if self.clean_predicted is None else self.clean_predicted.tolist(),
                "definition": "success = classified correctly before and wrongly after (untargeted), or given the "
                              "target after (targeted; images labelled with the target excluded); success_rate = "
                              "successes / num_eligible"}


def _score(logits, use, targeted):
    """``(fitness, success, pred)`` per variant from logits ``[n, classes]``; lower fitness is better."""
    probs = tf.nn.softmax(logits)
    pred = tf.argmax(probs, -1, output_type=tf.int64)
    p_use = tf.gather(probs, use, batch_dims=1)
    fitness = tf.where(targeted, -p_use, p_use)
    success = tf.where(targeted, tf.equal(pred, use), tf.not_equal(pred, use))
    return fitness, success, pred


def _evaluator(lm):
    """Compiled ``(x [G,H,W,C], img [n], cand [n,k,2+C], use [n], targeted [n]) -> (fitness, success, pred)``.

    Builds every candidate image (``x[img]`` with its ``k`` pixels set) and runs the whole model.
    """

    def evaluate(x, img, cand, use, targeted):
        imgs = tf.gather(x, img)
        h, w = tf.shape(x)[1], tf.shape(x)[2]
        rows = tf.cast(cand[..., 0], tf.int32)
        cols = tf.cast(cand[..., 1], tf.int32)
        for j in range(cand.shape[1]):
            mask = tf.logical_and(tf.one_hot(rows[:, j], h, on_value=True, off_value=False)[:, :, None],
                                  tf.one_hot(cols[:, j], w, on_value=True, off_value=False)[:, None, :])
            imgs = tf.where(mask[..., None], cand[:, j, None, None, 2:], imgs)
        return _score(lm(imgs, training=False), use, targeted)

    return tf.function(evaluate, reduce_retracing=True)


def _local_evaluator(engine):
    """The same contract for one pixel, through :mod:`._local` (only the pixel's footprint is recomputed).

    The clean images' activations are computed by TensorFlow's own kernels and reused until an image
    enters a slot; the window arithmetic is compiled with XLA (it fuses the many small window
    operations); the head partitions variants by window position, which XLA cannot compile. The
    returned function takes two more arguments: ``engine.prepare()`` and a dict, both made once per
    attack (the dict keeps the clean activations of the image tensor last seen).
    """
    base_fn = tf.function(engine.base)
    core = tf.function(engine.changes, jit_compile=True)

    @tf.function(autograph=False)  # straight-line code; AutoGraph cannot read this closure's source
    def finish(head_base, delta, r0, c0, prepared, use, targeted):
        return _score(engine.finish(head_base, delta, r0, c0, prepared), use, targeted)

    def evaluate(x, img, cand, use, targeted, prepared, state):
        if state.get("x") is not x:
            state["x"], state["base"] = x, base_fn(x)
        cand = np.asarray(cand)
        args = [tf.constant(v) for v in (img, cand[:, 0, 0], cand[:, 0, 1], cand[:, 0, 2:])]
        if "core" not in state:  # shapes are fixed for the attack: call the traced graphs directly
            state["core"] = core.get_concrete_function(state["base"], *args, prepared)
        parts = state["core"](state["base"], *args, prepared)
        use, targeted = tf.constant(use), tf.constant(targeted)
        if "finish" not in state:
            state["finish"] = finish.get_concrete_function(*parts, prepared, use, targeted)
        return state["finish"](*parts, prepared, use, targeted)

    return evaluate


def _pick_evaluator(model, lm, k, shape):
    """``(evaluate, extra args)``: the local evaluator when it applies (one pixel, supported layers), else the full one."""
    if k == 1:
        engine = cache.cached(model, ("one_pixel_local", shape), lambda: _local.build(lm, shape))
        if engine is not None:
            fn = cache.cached(model, ("one_pixel_local_fn", shape), lambda: _local_evaluator(engine))
            return fn, (engine.prepare(), {})
    return cache.cached(model, ("one_pixel",), lambda: _evaluator(cache.weak_call(lm))), ()


def _init_population(rng, popsize, k, shape):
    h, w, c = shape
    pop = np.empty((popsize, k, 2 + c), np.float32)
    pop[..., 0] = rng.uniform(0, h, (popsize, k))
    pop[..., 1] = rng.uniform(0, w, (popsize, k))
    pop[..., 2:] = np.clip(rng.normal(0.5, 0.5, (popsize, k, c)), 0, 1)
    return pop


def _mutate(rng, pop, upper):
    """DE/rand/1 children, one per member; r1, r2, r3 distinct and different from the member."""
    p = len(pop)
    step = max(1, (p - 1) // 3)
    a, b, c = (rng.integers(1, step + 1, p) for _ in range(3))
    i = np.arange(p)
    r1, r2, r3 = (i + a) % p, (i + a + b) % p, (i + a + b + c) % p
    child = pop[r1] + _F * (pop[r2] - pop[r3])
    return np.clip(child, 0.0, upper).astype(np.float32)


def _keys(trials, image):
    """Keys that identify what a candidate does to the image: its integer pixel positions and value bits.

    Candidates that only write back the image's own values all leave it unchanged and share the key ``b""``.
    """
    pos = trials[..., :2].astype(np.int32)
    vals = np.ascontiguousarray(trials[..., 2:])
    clean = np.all(image[pos[..., 0], pos[..., 1]] == vals, axis=(1, 2))
    raw = np.concatenate([pos.reshape(len(trials), -1).view(np.uint8), vals.reshape(len(trials), -1).view(np.uint8)],
                         axis=1)
    keys = np.ascontiguousarray(raw).view(f"V{raw.shape[1]}").ravel().tolist()  # one bytes object per row
    for j in np.flatnonzero(clean).tolist():
        keys[j] = b""
    return keys


class _Search:
    """One image's differential evolution: its population, the generation in evaluation, and a memo.

    DE children often repeat earlier candidates exactly (positions are truncated to whole pixels and
    values clipped to [0, 1]), so every evaluated candidate's result is kept by key and reused.
    """

    def __init__(self, index, slot, rng):
        self.index, self.slot, self.rng = index, slot, rng
        self.pop = self.fit = None
        self.gen = 0
        self.memo = {}

    def start_generation(self, trials, image):
        self.trials, self.keys = trials, _keys(trials, image)
        first = {}
        for j, key in enumerate(self.keys):
            if key not in self.memo and key not in first:
                first[key] = j
        self.todo = np.fromiter(first.values(), np.int64, len(first))

    def record(self, take, fit, ok, pred):
        keys = self.keys
        self.memo.update(zip([keys[j] for j in take.tolist()], zip(fit.tolist(), ok.tolist(), pred.tolist())))

    def fill(self):
        """Results of all candidates of this generation, from the memo (evaluated ones are in it too)."""
        memo = self.memo
        fit, ok, pred = zip(*[memo[key] for key in self.keys])
        self.tfit, self.tok, self.tpred = (np.array(fit, np.float32), np.array(ok, bool), np.array(pred, np.int64))


def one_pixel_attack(model, x, y, *, pixels=1, popsize=400, generations=100, target=None, seed=None,
                     images_per_pass=None) -> OnePixelResult:
    """Run the k-pixel differential-evolution attack and report which pixels changed.

    Args:
        model: a Keras classifier (logits or softmax outputs).
        x: float32 images ``[N, H, W, C]`` in [0, 1].
        y: integer labels ``[N]``.
        pixels: number of pixels ``k`` the attack may change.
        popsize: candidates per image (400 in the paper).
        generations: maximum DE generations (100 in the paper).
        target: None (untargeted), a class, or one class per image.
        seed: the same seed gives the same result.
        images_per_pass: each model evaluation takes ``images_per_pass * popsize`` candidates (default
            ``1200 // popsize``), from up to ``6 * images_per_pass`` images in flight. The same seed and
            setting give the same result; another setting may differ where float rounding (which
            depends on the batch shape) tips a comparison between two candidates.

    Returns:
        A :class:`OnePixelResult`. ``success`` and ``predicted`` come from the whole model applied
        to the returned images.

    Example:
        >>> res = one_pixel_attack(model, x[:8], y[:8], generations=20, seed=0)  # doctest: +SKIP
        >>> res.success_rate  # doctest: +SKIP
    """
    k = _ops.check_steps(pixels, "pixels")
    popsize = _ops.check_steps(popsize, "popsize")
    generations = _ops.check_steps(generations, "generations")
    if popsize < 4:
        raise ConfigError(f"popsize must be at least 4, got {popsize!r}")
    if images_per_pass is not None:
        _ops.check_steps(images_per_pass, "images_per_pass")
    lm = as_logits_model(model)
    ncls = num_classes(lm)
    x, y = _ops.check_inputs(x, y, ncls)
    n, shape = int(x.shape[0]), tuple(int(v) for v in x.shape[1:])
    t = _ops.target_tensor(target, n, ncls).numpy()
    seed = int(seeds.seed_pair(seed)[0])
    xs, ys = x.numpy(), y.numpy()
    use, targeted = np.where(t >= 0, t, ys), t >= 0
    evaluate, extra = _pick_evaluator(model, lm, k, shape)
    per_pass = int(images_per_pass or max(1, 1200 // popsize))
    batch = min(n, per_pass) * popsize  # candidates per evaluation: a fixed shape, so XLA compiles once
    slots = min(n, 6 * per_pass)  # images in flight: memo hits leave most of a generation unevaluated
    xbuf = np.zeros((slots,) + shape, np.float32)
    x_t = None  # xbuf as a tensor, remade only when an image enters a slot
    upper = np.array([shape[0] - 1e-3, shape[1] - 1e-3] + [1.0] * shape[2], np.float32)

    best = np.zeros((n, k, 2 + shape[2]), np.float32)
    gens = np.zeros(n, np.int64)
    queue, flight, free = deque(range(n)), [], list(range(slots))[::-1]

    def advance(s):
        """Close the generation just evaluated; start the next one. False when the image is done."""
        s.fill()
        if s.pop is None:
            s.pop, s.fit = s.trials, s.tfit.copy()
        else:
            better = s.tfit < s.fit
            s.pop = np.where(better[:, None, None], s.trials, s.pop)
            s.fit = np.where(better, s.tfit, s.fit)
        if s.tok.any():
            m = int(np.flatnonzero(s.tok)[np.argmin(s.tfit[s.tok])])
            best[s.index], gens[s.index] = s.trials[m], s.gen
            return False
        if s.gen >= generations:
            best[s.index], gens[s.index] = s.pop[int(np.argmin(s.fit))], s.gen
            return False
        s.gen += 1
        s.start_generation(_mutate(s.rng, s.pop, upper), xs[s.index])
        return True

    while queue or flight:
        while queue and len(flight) < slots and sum(len(s.todo) for s in flight) < batch:
            i = queue.popleft()
            s = _Search(i, free.pop(), np.random.default_rng([seed, i]))
            xbuf[s.slot] = xs[i]
            x_t = None
            s.start_generation(_init_population(s.rng, popsize, k, shape), xs[i])
            flight.append(s)
        picked, room = [], batch
        for s in flight:
            if room and len(s.todo):
                take, s.todo = s.todo[:room], s.todo[room:]
                picked.append((s, take))
                room -= len(take)
        if picked:
            img = np.concatenate([np.full(len(tk), s.slot) for s, tk in picked])
            cand = np.concatenate([s.trials[tk] for s, tk in picked])
            who = np.concatenate([np.full(len(tk), s.index) for s, tk in picked])
            if room:  # pad the last passes to the fixed shape
                pad = np.zeros(room, np.int64)
                img, cand, who = (np.concatenate([a, a[pad]]) for a in (img, cand, who))
            if x_t is None:
                x_t = tf.constant(xbuf)
            fit, ok, pred = (v.numpy() for v in evaluate(x_t, img.astype(np.int32), cand, use[who], targeted[who],
                                                          *extra))
            at = 0
            for s, tk in picked:
                s.record(tk, fit[at:at + len(tk)], ok[at:at + len(tk)], pred[at:at + len(tk)])
                at += len(tk)
        keep = []
        for s in flight:
            alive = True
            while alive and not len(s.todo):
                alive = advance(s)
            if alive:
                keep.append(s)
            else:
                free.append(s.slot)
        flight = keep

    images = xs.copy()
    rows, cols = best[..., 0].astype(np.int64), best[..., 1].astype(np.int64)
    for i in range(n):
        for j in range(k):
            images[i, rows[i, j], cols[i, j]] = best[i, j, 2:]
    predicted, clean, success = ys.copy(), ys.copy(), np.zeros(n, bool)
    eligible = np.where(targeted, ys != use, True)
    if n:  # the verdict comes from the whole model on the returned images, whatever evaluated the search
        predicted = tf.argmax(lm(tf.constant(images), training=False), -1).numpy().astype(ys.dtype)
        clean = tf.argmax(lm(tf.constant(xs), training=False), -1).numpy().astype(ys.dtype)
        eligible = np.where(targeted, ys != use, clean == ys)
        success = eligible & np.where(targeted, predicted == use, predicted != ys)
    return OnePixelResult(images=images, pixels=np.stack([rows, cols], -1), values=best[..., 2:], success=success,
                          predicted=predicted, generations=gens, target=None if target is None else t,
                          clean_predicted=clean, eligible=eligible, labels=ys)


def one_pixel(model, x, y, *, pixels=1, popsize=400, generations=100, target=None, seed=None, images_per_pass=None):
    """:func:`one_pixel_attack` as a plain transform ``fn(model, x, y, ...) -> x_adv`` for sweeps.

    See :func:`one_pixel_attack` for the arguments.

    Example:
        >>> x_adv = one_pixel(model, x, y, pixels=3, generations=30, seed=0)  # doctest: +SKIP
    """
    res = one_pixel_attack(model, x, y, pixels=pixels, popsize=popsize, generations=generations, target=target,
                           seed=seed, images_per_pass=images_per_pass)
    return tf.constant(res.images)
