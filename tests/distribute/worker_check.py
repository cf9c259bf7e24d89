"""Run by test_multiworker.py, under the launcher (one process per worker) or alone (one process):
the loop on the first N digits (argv: out folder, strategy, attack, N), each process's weights to
<out>/weights_<worker index>.npz."""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
from tf_featuretest.distribute import Adversarial, fit_distributed, make_strategy, worker_info  # noqa: E402

strategy = make_strategy(sys.argv[2])  # first: before any other TensorFlow op

import keras  # noqa: E402
import numpy as np  # noqa: E402

from tf_featuretest.data import load_arrays  # noqa: E402
from tf_featuretest.models.architectures import small_cnn  # noqa: E402

out, attack, n = sys.argv[1], sys.argv[3], int(sys.argv[4])
x, y, _ = load_arrays("digits", "train")
xv, yv, _ = load_arrays("digits", "validation")
keras.utils.set_random_seed(0)
model, res = fit_distributed(lambda: small_cnn(10, (32, 32, 1), dropout=0.0), (x[:n], y[:n]), (xv[:64], yv[:64]),
                             strategy=strategy, epochs=1, global_batch_size=64, seed=1,
                             adversarial=Adversarial.from_settings(attack, 0.1, 0.7, steps=3))
np.savez(os.path.join(out, f"weights_{worker_info(strategy).index}.npz"), *model.get_weights(),
         replicas=strategy.num_replicas_in_sync)
