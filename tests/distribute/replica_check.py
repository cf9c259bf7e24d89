"""Run in a subprocess by test_loop.py: the loop under the default strategy and under MirroredStrategy
over two logical CPUs (logical devices must be set before TensorFlow starts), weights to an .npz."""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from tf_featuretest.data import load_arrays  # noqa: E402
from tf_featuretest.distribute import Adversarial, fit_distributed, make_strategy  # noqa: E402
from tf_featuretest.models.architectures import small_cnn  # noqa: E402


def main(out, n, batch, attack, ratio, epochs):
    x, y, _ = load_arrays("digits", "train")
    xv, yv, _ = load_arrays("digits", "validation")
    adv = None if attack == "none" else Adversarial(attack, 0.1, ratio, steps=3)
    weights, logs = {}, {}
    for name, devices in (("default", None), ("mirrored", ["/cpu:0", "/cpu:1"])):
        keras.utils.set_random_seed(0)
        model, res = fit_distributed(lambda: small_cnn(10, (32, 32, 1), dropout=0.0), (x[:n], y[:n]),
                                     (xv[:100], yv[:100]), strategy=make_strategy(name, devices=devices),
                                     epochs=epochs, patience=5, global_batch_size=batch, adversarial=adv, seed=3)
        for i, w in enumerate(model.get_weights()):
            weights[f"{name}_{i}"] = w
        logs[name] = {"history": res.history, "replicas": res.extra["replicas"]}
    np.savez(out, **weights)
    print(json.dumps(logs))


if __name__ == "__main__":
    a = sys.argv[1:]
    main(a[0], int(a[1]), int(a[2]), a[3], float(a[4]), int(a[5]))
