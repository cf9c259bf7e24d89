"""Scale-out: multi-worker training on ``tf.distribute`` and sharded sweeps on Ray.

* :func:`make_strategy` and :func:`fit_distributed`: one custom training loop (plain or FGSM/PGD
  adversarial) for the default, mirrored, multiworker (``TF_CONFIG``) and TPU strategies, with
  checkpoints that resume exactly.
* :class:`RaySweepBackend`: the batches of every sweep run by a pool of Ray actors that load the
  model once each; the per-image results equal one process's (needs the ``[distributed]`` extra).
* ``python -m tf_featuretest.distribute.launch -n 2 -- featuretest train ...``: a local launcher.

See ``docs/distributed.md``.
"""
from .loop import fit_distributed
from .steps import Adversarial
from .strategy import STRATEGIES, WorkerInfo, make_strategy, tf_config, worker_info
from .stream import GlobalBatches, augmenter

__all__ = ["Adversarial", "GlobalBatches", "STRATEGIES", "WorkerInfo", "augmenter", "fit_distributed", "make_strategy",
           "tf_config", "worker_info"]
