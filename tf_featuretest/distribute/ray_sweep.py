"""Sweeps on Ray: the batches of a sweep's grid run by a pool of actors, merged by global image index.

:class:`RaySweepBackend` is a sweep backend (:func:`tf_featuretest.evaluation.sweep.sweep_backend`):
inside ``with sweep_backend(RaySweepBackend("auto")):`` every ``sweep()`` (the attack and noise
stages, ``featuretest attack/noise --ray``) sends its batch numbers through a Ray Data pipeline
whose ``map_batches`` stage is an actor pool: each actor loads the model once (shipped as ``.keras``
bytes through the object store, so no shared file system is needed), rebuilds the transform from
its registered name, and runs :func:`~tf_featuretest.evaluation.sweep.sweep_part` on the batches it
is handed. Batch ``b`` is seeded ``seed + b`` wherever it runs, so the merged per-image results
equal one process's. Results stream back while the pool works; a task whose actor dies is retried
on a restarted actor (``max_retries``).

The images of one sweep go into the object store once (one copy per node); the Ray Data rows carry
only batch numbers. Needs the ``[distributed]`` extra (``pip install tf-featuretest[distributed]``).
"""
from __future__ import annotations

import functools
import os
import tempfile

import numpy as np

from .._util import checks
from ..attacks.registry import SPECS
from ..errors import ConfigError, first_line
from ..evaluation.sweep import SweepPart, merge_parts, sweep_part
from ..models.saving import load_classifier
from ..noise import noise_transform


def transform_spec(transform) -> tuple:
    """``("attack", name, kwargs)`` or ``("noise", name, {})`` for a registered transform, so an actor can rebuild it.

    Accepts a registered attack function, a ``functools.partial`` of one with keyword settings, and
    :func:`~tf_featuretest.noise.noise_transform` results.
    """
    noise = getattr(transform, "noise_name", None)
    if noise is not None and not isinstance(transform, functools.partial):
        return ("noise", noise, {})
    fn, kw = transform, {}
    if isinstance(transform, functools.partial):
        if transform.args:
            raise ConfigError("a Ray sweep needs its transform's settings as keywords, not positional arguments")
        fn, kw = transform.func, dict(transform.keywords)
    for name, spec in SPECS.items():
        if spec.fn is fn:
            return ("attack", name, kw)
    raise ConfigError(f"{getattr(fn, '__name__', fn)!r} is not a registered attack or noise: a Ray sweep rebuilds "
                      "the transform from its name on every actor")


def build_transform(spec):
    """The transform a :func:`transform_spec` names."""
    kind, name, kw = spec
    if kind == "noise":
        return noise_transform(name)
    return functools.partial(SPECS[name].fn, **kw)


def model_bytes(model) -> bytes:
    """A Keras model as the bytes of a ``.keras`` file."""
    with tempfile.TemporaryDirectory(prefix="featuretest-ray-") as d:
        path = os.path.join(d, "model.keras")
        model.save(path)
        with open(path, "rb") as fh:
            return fh.read()


class SweepActor:
    """A Ray Data ``map_batches`` callable: loads the model once, then runs the batch numbers it is given."""

    def __init__(self, shared):
        import ray

        data = ray.get(shared[0])  # wrapped in a list so Ray hands over the reference, not a copy per task
        with tempfile.TemporaryDirectory(prefix="featuretest-actor-") as d:
            path = os.path.join(d, "model.keras")
            with open(path, "wb") as fh:
                fh.write(data["model"])
            self.model = load_classifier(path)
        self.transform = build_transform(data["spec"])
        self.data = data

    def __call__(self, rows):
        d = self.data
        part = sweep_part(self.model, d["batches"], self.transform, d["param"], d["values"],
                          batch_ids=[int(b) for b in rows["batch"]], seed=d["seed"], target=d["target"])
        n = max(len(part), 1)
        return {"index": part.index, "labels": part.labels, "clean_pred": part.clean_pred, "pred": part.pred.T,
                "linf": part.linf.T, "l2": part.l2.T, "seconds": np.tile(part.seconds / n, (len(part), 1))}


def connect(address="auto", *, num_cpus=None):
    """Start or join Ray: ``"local"`` starts one on this machine, ``"auto"`` joins the running cluster
    (``RAY_ADDRESS`` or ``ray start`` here) or starts a local one, anything else is a cluster address."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
    except ImportError:
        raise ConfigError("Ray is not installed: pip install 'tf-featuretest[distributed]'") from None
    import logging

    ray.data.DataContext.get_current().enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    if ray.is_initialized():
        return ray
    kw = dict(include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    if address == "local":
        ray.init(num_cpus=num_cpus, **kw)
        return ray
    try:
        ray.init(address=address, **kw)
    except ConnectionError as exc:
        if address != "auto":
            raise ConfigError(f"cannot reach the Ray cluster at {address!r}: {first_line(exc)}") from None
        ray.init(num_cpus=num_cpus, **kw)
    return ray


class RaySweepBackend:
    """Run sweeps on a Ray actor pool (see the module docstring).

    Args:
        address: ``"auto"``, ``"local"`` or a cluster address (``host:6379``, ``ray://host:10001``).
        actors: actors in the pool (each loads the model once).
        cpus_per_actor: Ray CPUs each actor asks for; fractions let several actors share a core
            (on 2 cores two 1-CPU actors leave nothing for Ray Data's own tasks and deadlock).
        batches_per_task: grid batches an actor runs per call.
        max_retries: times a task is retried when its actor dies.

    Example:
        >>> with sweep_backend(RaySweepBackend("local", actors=2)):  # doctest: +SKIP
        ...     res = sweep(model, (x, y), noise_transform("gaussian"), "severity", [0, 0.5])
    """

    def __init__(self, address="auto", *, actors=2, cpus_per_actor=0.5, batches_per_task=1, max_retries=3):
        self.address = address
        self.actors = checks.positive_int(actors, "actors")
        self.cpus_per_actor = checks.number(cpus_per_actor, "cpus_per_actor", low=0.0, low_open=True)
        self.batches_per_task = checks.positive_int(batches_per_task, "batches_per_task")
        self.max_retries = checks.non_negative_int(max_retries, "max_retries")

    def run(self, model, batches, transform, param, values, *, seed=0, target=None, progress=None) -> SweepPart:
        """The merged per-image results of every batch of ``batches`` (a sweep backend's one method)."""
        ray = connect(self.address)
        spec = transform_spec(transform)
        shared = [ray.put({"model": model_bytes(model), "spec": spec, "batches": batches, "param": param,
                           "values": tuple(float(v) for v in values), "seed": int(seed), "target": target})]
        ds = ray.data.from_items([{"batch": b} for b in range(len(batches))],
                                 override_num_blocks=max(1, min(len(batches), 4 * self.actors)))
        ds = ds.map_batches(SweepActor, batch_size=self.batches_per_task, concurrency=self.actors,
                            num_cpus=self.cpus_per_actor, fn_constructor_kwargs={"shared": shared},
                            max_restarts=-1, max_task_retries=self.max_retries)
        parts, done, total = [], 0, len(batches) * len(values)
        for out in ds.iter_batches(batch_size=None, batch_format="numpy"):
            parts.append(SweepPart(index=out["index"], labels=out["labels"], clean_pred=out["clean_pred"],
                                   pred=np.asarray(out["pred"]).T, linf=np.asarray(out["linf"]).T,
                                   l2=np.asarray(out["l2"]).T, seconds=np.asarray(out["seconds"]).sum(0)))
            done += len(out["index"])
            if progress:
                progress(min(total, done * len(values) // max(1, len(batches[0][1]))), total)
        return merge_parts(parts, int(sum(len(b[1]) for b in batches)))
