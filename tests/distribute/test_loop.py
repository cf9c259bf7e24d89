"""The distributed training loop: agreement with Keras, with itself over two replicas, exact resume."""
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_featuretest.attacks.fgsm import fgsm
from tf_featuretest.distribute import Adversarial, fit_distributed, make_strategy
from tf_featuretest.distribute.steps import mix
from tf_featuretest.errors import ConfigError
from tf_featuretest.models.architectures import small_cnn
from tf_featuretest.models.training import compile_classifier

HERE = os.path.dirname(os.path.abspath(__file__))


def _cnn():
    return small_cnn(10, (32, 32, 1), dropout=0.0)


@pytest.mark.multiprocess
@pytest.mark.parametrize("attack,ratio", [("pgd", 0.7), ("none", 0.0)])
def test_two_logical_cpus_agree_with_one_device(tmp_path, attack, ratio):
    # 129 images at global batch 64: the last batch has one row, so one replica gets an empty slice;
    # ratio 0.7 of 64 rows = 45 attacked rows, split unevenly over the two replicas.
    out = tmp_path / "w.npz"
    proc = subprocess.run([sys.executable, os.path.join(HERE, "replica_check.py"), str(out), "129", "64", attack,
                           str(ratio), "1"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    logs = json.loads(proc.stdout.strip().splitlines()[-1])
    assert logs["mirrored"]["replicas"] == 2 and logs["default"]["replicas"] == 1
    w = np.load(out)
    n = len(w.files) // 2
    diff = max(float(np.abs(w[f"default_{i}"] - w[f"mirrored_{i}"]).max()) for i in range(n))
    assert diff < 1e-6
    moved = max(float(np.abs(w[f"default_{i}"]).max()) for i in range(n))
    assert moved > 0.01
    # PGD's sign steps amplify rounding: a pixel whose gradient is ~0 may step the other way, which moves
    # that image's loss slightly (the weights still agree to 1e-6)
    tol = 1e-4 if attack == "pgd" else 1e-6
    for key, vals in logs["default"]["history"].items():
        np.testing.assert_allclose(logs["mirrored"]["history"][key], vals, atol=tol, err_msg=key)


def test_one_step_equals_keras_fit(digits):
    x, y = digits["train"]
    x, y = x[:64], y[:64]
    keras.utils.set_random_seed(1)
    ref = _cnn()
    start = ref.get_weights()
    compile_classifier(ref, learning_rate=1e-3)
    ref.fit(x, y, batch_size=64, epochs=1, shuffle=False, verbose=0)
    model = _cnn()
    model.set_weights(start)
    model, res = fit_distributed(model, (x, y), strategy=make_strategy("default"), epochs=1, global_batch_size=64)
    for a, b in zip(ref.get_weights(), model.get_weights()):
        np.testing.assert_allclose(a, b, atol=2e-6)
    assert res.epochs_run == 1 and set(res.history) == {"loss", "accuracy", "top5_accuracy"}


def test_validation_metrics_equal_keras_evaluate(digits):
    (x, y), (xv, yv) = digits["train"], digits["validation"]
    keras.utils.set_random_seed(0)
    model, res = fit_distributed(_cnn, (x[:200], y[:200]), (xv[:150], yv[:150]), strategy=make_strategy("default"),
                                 epochs=1, global_batch_size=32)
    compile_classifier(model, learning_rate=1e-3)
    got = model.evaluate(xv[:150], yv[:150], batch_size=50, verbose=0, return_dict=True)
    assert res.history["val_loss"][0] == pytest.approx(got["loss"], abs=1e-5)
    assert res.history["val_accuracy"][0] == pytest.approx(got["accuracy"], abs=1e-6)
    assert res.history["val_top5_accuracy"][0] == pytest.approx(got["top5_accuracy"], abs=1e-6)


def test_mixing_attacks_the_first_rows_of_the_global_batch(digits_cnn, digits):
    x, y = digits["test"]
    x, y = tf.constant(x[:10]), tf.constant(y[:10].astype(np.int64))
    adv = Adversarial("fgsm", 0.1, 0.6)  # 6 of the 10 global rows
    whole = fgsm(digits_cnn, x[:6], y[:6], eps=0.1).numpy()
    # a replica holding global rows 4..9 attacks rows 4 and 5 only
    part = mix(digits_cnn, adv, x[4:], y[4:], tf.constant(10, tf.int64), tf.constant(4, tf.int64), tf.constant([0, 0],
                                                                                                               tf.int64))
    np.testing.assert_allclose(part.numpy()[:2], whole[4:6], atol=1e-6)
    np.testing.assert_array_equal(part.numpy()[2:], x.numpy()[6:])
    # a replica whose rows all lie past the attacked ones is untouched (and an empty one works)
    late = mix(digits_cnn, adv, x[7:], y[7:], tf.constant(10, tf.int64), tf.constant(7, tf.int64), tf.constant([0, 0],
                                                                                                               tf.int64))
    np.testing.assert_array_equal(late.numpy(), x.numpy()[7:])
    empty = mix(digits_cnn, Adversarial("pgd", 0.1, 1.0, steps=2), x[:0], y[:0], tf.constant(10, tf.int64),
                tf.constant(10, tf.int64), tf.constant([0, 0], tf.int64))
    assert empty.shape[0] == 0


def test_resume_mid_epoch_is_bit_identical(digits, tmp_path):
    """A run resumed from a checkpoint taken inside an epoch (dropout on, PGD mixing) ends where an
    uninterrupted run ends: weights, optimizer, data position, dropout seeds and history."""
    import shutil

    (x, y), (xv, yv) = digits["train"], digits["validation"]
    data, val, adv = (x[:160], y[:160]), (xv[:64], yv[:64]), Adversarial("pgd", 0.1, 0.5, steps=2)
    kw = dict(strategy=make_strategy("default"), global_batch_size=48, adversarial=adv, patience=5, seed=2)
    build = lambda: small_cnn(10, (32, 32, 1))  # noqa: E731  (with dropout)
    keras.utils.set_random_seed(0)
    full, rf = fit_distributed(build, data, val, epochs=2, work_dir=str(tmp_path / "a"), checkpoint_every=3, **kw)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    ckpts = tmp_path / "b" / "checkpoints"
    tf.compat.v1.train.update_checkpoint_state(str(ckpts), str(ckpts / "ckpt-6"))  # epoch 2, batch 2 of 4
    keras.utils.set_random_seed(5)  # another initialisation: the checkpoint must overwrite it
    resumed, rr = fit_distributed(build, data, val, epochs=2, work_dir=str(tmp_path / "b"), **kw)
    assert rr.extra["resumed_from_step"] == 6 and rf.extra["resumed_from_step"] is None
    for a, b in zip(full.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert rr.history == rf.history and len(rr.history["loss"]) == 2
    # a finished run resumes as finished
    again, ra = fit_distributed(build, data, val, epochs=2, work_dir=str(tmp_path / "a"), **kw)
    assert ra.history == rf.history and ra.extra["resumed_from_step"] == 8


def test_bad_arguments():
    with pytest.raises(ConfigError, match="strategy must be one of"):
        make_strategy("horovod")
    with pytest.raises(ConfigError, match="ratio must be"):
        Adversarial("pgd", 0.1, 1.5)
    with pytest.raises(ConfigError, match="attack must be 'fgsm' or 'pgd'"):
        Adversarial("cw")
    with pytest.raises(ConfigError, match="epochs must be"):
        fit_distributed(_cnn, (np.zeros((4, 32, 32, 1), np.float32), np.zeros(4)), strategy=make_strategy(), epochs=0)
