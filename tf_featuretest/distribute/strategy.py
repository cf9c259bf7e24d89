"""``tf.distribute`` strategies by name, created once per process, and where this worker stands.

``"default"`` is one device, ``"mirrored"`` every local GPU (or the given devices), ``"multiworker"``
a ``MultiWorkerMirroredStrategy`` whose cluster is read from ``TF_CONFIG`` (the TensorFlow
convention: ``{"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": i}}``),
``"tpu"`` a ``TPUStrategy`` on the TPU the environment names. Collective strategies must be created
before any other TensorFlow op runs, so the command line creates the strategy first; creating it
again returns the same object.

Example:
    >>> make_strategy("default").num_replicas_in_sync
    1
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

import tensorflow as tf

from .._util import checks
from ..errors import ConfigError, first_line

#: The strategy names the package knows.
STRATEGIES = ("default", "mirrored", "multiworker", "tpu")
_MADE: dict = {}


@dataclass(frozen=True)
class WorkerInfo:
    """This process's place in the cluster: ``index`` of ``count`` workers; the chief writes the files."""

    index: int = 0
    count: int = 1
    is_chief: bool = True
    task_type: str = "worker"


def tf_config() -> dict | None:
    """The parsed ``TF_CONFIG`` environment variable (None when unset), with one-line errors."""
    raw = os.environ.get("TF_CONFIG", "").strip()
    if not raw:
        return None
    try:
        cfg = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"TF_CONFIG is not valid JSON ({exc.msg} at character {exc.pos})") from None
    cluster, task = cfg.get("cluster") if isinstance(cfg, dict) else None, cfg.get("task", {})
    if not isinstance(cluster, dict) or not any(isinstance(v, list) and v for v in cluster.values()):
        raise ConfigError(f"TF_CONFIG needs a 'cluster' with a non-empty list of 'worker' addresses, got {raw[:120]!r}")
    if not isinstance(task, dict) or task.get("type") not in cluster:
        raise ConfigError(f"TF_CONFIG task type must be one of {sorted(cluster)}, got {task.get('type')!r}")
    index = task.get("index")
    if not isinstance(index, int) or not 0 <= index < len(cluster[task["type"]]):
        raise ConfigError(f"TF_CONFIG task index must be in [0, {len(cluster[task['type']])}), got {index!r}")
    return cfg


def make_strategy(name: str | None = "default", *, devices=None):
    """The strategy ``name`` (see the module docstring); the same object when asked twice.

    Args:
        name: ``"default"``, ``"mirrored"``, ``"multiworker"`` or ``"tpu"``.
        devices: ``"mirrored"`` only: the devices to mirror over (default: every local GPU, else the CPU).

    Raises:
        ConfigError: an unknown name, a bad ``TF_CONFIG``, a second collective strategy, or a
            collective strategy asked for after TensorFlow already started.
    """
    name = "default" if name is None else checks.choice(name, "strategy", STRATEGIES)
    key = (name, tuple(devices) if devices else None)
    if key in _MADE:
        return _MADE[key]
    collective = [k for k in _MADE if k[0] in ("multiworker", "tpu")]
    if name in ("multiworker", "tpu") and collective:
        raise ConfigError(f"a {collective[0][0]} strategy already exists in this process; create one strategy only")
    if name == "default":
        strategy = tf.distribute.get_strategy()
    elif name == "mirrored":
        strategy = tf.distribute.MirroredStrategy(list(devices) if devices else None)
    elif name == "multiworker":
        tf_config()
        try:
            strategy = tf.distribute.MultiWorkerMirroredStrategy()
        except (RuntimeError, ValueError) as exc:
            raise ConfigError(f"cannot start the multiworker strategy: {first_line(exc)} (it must be created before "
                              "any other TensorFlow op: call tf_featuretest.distribute.make_strategy first)") from None
    else:
        strategy = _tpu_strategy()
    _MADE[key] = strategy
    return strategy


def _tpu_strategy():
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=os.environ.get("TPU_NAME", ""))
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as exc:
        raise ConfigError(f"no TPU to run on (TPU_NAME={os.environ.get('TPU_NAME', '')!r}): {first_line(exc)}") from None


def worker_info(strategy=None) -> WorkerInfo:
    """Where this process stands in ``strategy``'s cluster (one worker, the chief, without a cluster)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    spec = resolver.cluster_spec().as_dict() if resolver is not None else {}
    if not spec or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return WorkerInfo()
    task_type, index = resolver.task_type or "worker", int(resolver.task_id or 0)
    workers = list(spec.get("chief", [])) + list(spec.get("worker", []))
    chief = task_type == "chief" or (task_type == "worker" and index == 0 and "chief" not in spec)
    offset = len(spec.get("chief", [])) if task_type == "worker" else 0
    return WorkerInfo(index=offset + index, count=len(workers), is_chief=chief, task_type=task_type)
