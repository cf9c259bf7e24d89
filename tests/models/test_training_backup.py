"""Resumable training (models.backup, train_classifier's work_dir): resume, damage, settings, full disk, lock."""
import os
import subprocess

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_featuretest._util.io import WriteError
from tf_featuretest._util.locks import FolderLock, LockedError
from tf_featuretest.errors import ConfigError
from tf_featuretest.models import backup, build_classifier
from tf_featuretest.models.training import train_classifier


class Interrupt(Exception):
    pass


class StopAfter(keras.callbacks.Callback):
    """Raises at the end of an epoch, after the backup (callbacks run in order; this one is last)."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epoch:
            raise Interrupt


@pytest.fixture(scope="module")
def data(digits):
    x, y = digits["train"]
    x = tf.image.resize(x[:512], (12, 12)).numpy()
    return tf.data.Dataset.from_tensor_slices((x, y[:512])).batch(128)


def _model():
    keras.utils.set_random_seed(0)
    return build_classifier("small_cnn", 10, (12, 12, 1))


def _train(data, work_dir, **kw):
    return train_classifier(_model(), data, data, epochs=4, patience=10, work_dir=str(work_dir), verbose=0, **kw)


def test_an_interrupted_training_resumes_with_its_history_and_weights(data, tmp_path):
    whole = _train(data, tmp_path / "whole")
    with pytest.raises(Interrupt):
        _train(data, tmp_path / "w", callbacks=[StopAfter(2)])
    states = backup.states(str(tmp_path / "w" / "backup"))
    assert [os.path.basename(s) for s in states] == ["epoch-00002", "epoch-00001"]
    model = _model()
    resumed = train_classifier(model, data, data, epochs=4, patience=10, work_dir=str(tmp_path / "w"), verbose=0)
    assert resumed.extra["resumed_from_epoch"] == 2 and resumed.epochs_run == 4
    assert all(len(v) == 4 for v in resumed.history.values())
    # the first two epochs are the interrupted run's, the same as an uninterrupted one's
    np.testing.assert_allclose(resumed.history["loss"][:2], whole.history["loss"][:2], rtol=1e-5)
    assert backup.states(str(tmp_path / "w" / "backup")) == []  # removed once training ended


def test_a_damaged_newest_state_is_moved_aside_and_the_one_before_is_used(data, tmp_path):
    with pytest.raises(Interrupt):
        _train(data, tmp_path, callbacks=[StopAfter(2)])
    folder = tmp_path / "backup"
    weights = folder / "epoch-00002" / "weights.npz"
    weights.write_bytes(weights.read_bytes()[:1000])  # cut short, as a crash mid-write on another system would
    with pytest.warns(UserWarning, match="damaged training backup .*epoch-00002.*SHA-256"):
        resumed = _train(data, tmp_path)
    assert resumed.extra["resumed_from_epoch"] == 1 and resumed.epochs_run == 4
    aside = [n for n in os.listdir(folder) if n.startswith("damaged-epoch-00002")]
    assert len(aside) == 1  # kept for inspection, out of the way


@pytest.mark.parametrize("damage", ["garbage", "keras-h5", "json"])
def test_unusable_backups_mean_a_fresh_start_not_a_failure(data, tmp_path, damage):
    folder = tmp_path / "backup" / "epoch-00003"
    folder.mkdir(parents=True)
    if damage == "garbage":
        (folder / "weights.npz").write_bytes(os.urandom(2000))
        (folder / "state.json").write_text("{not json")
    elif damage == "keras-h5":  # what Keras's BackupAndRestore left: a file signature HDF5 cannot find
        (tmp_path / "backup" / "latest.weights.h5").write_bytes(b"\0" * 4096)
        (folder / "state.json").write_text('{"format": 1}')
    else:
        (folder / "weights.npz").write_bytes(b"")
        (folder / "state.json").write_text("[]")
    with pytest.warns(UserWarning, match="damaged training backup"):
        result = _train(data, tmp_path)
    assert "resumed_from_epoch" not in result.extra and result.epochs_run == 4


def test_a_state_of_other_settings_or_another_model_is_not_resumed(data, tmp_path):
    with pytest.raises(Interrupt):
        _train(data, tmp_path, callbacks=[StopAfter(1)])
    with pytest.warns(UserWarning, match="other training settings"):
        result = train_classifier(_model(), data, data, epochs=3, patience=10, work_dir=str(tmp_path), verbose=0)
    assert "resumed_from_epoch" not in result.extra and result.epochs_run == 3
    with pytest.raises(Interrupt):
        _train(data, tmp_path / "b", callbacks=[StopAfter(1)])
    keras.utils.set_random_seed(0)
    other = build_classifier("small_cnn", 5, (12, 12, 1))  # another head: the arrays do not fit
    y5 = data.map(lambda x, y: (x, y % 5))
    with pytest.warns(UserWarning, match="do not fit this model"):
        result = train_classifier(other, y5, y5, epochs=4, patience=10, work_dir=str(tmp_path / "b"), verbose=0)
    assert "resumed_from_epoch" not in result.extra


def test_a_full_disk_is_one_line_naming_enospc_and_leaves_nothing(data, tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        with pytest.raises(WriteError, match=r"training backup of epoch 1 .*no space left on device \(ENOSPC\)") as e:
            _train(data, disk / "work")
        assert "\n" not in str(e.value)
        left = [os.path.join(d, f) for d, _, files in os.walk(disk) for f in files if f != ".lock"]
        assert left == []
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def test_one_training_per_work_dir(data, tmp_path):
    with FolderLock(tmp_path, what="another training"):
        with pytest.raises(LockedError, match="in use by another training"):
            _train(data, tmp_path)


def test_save_path_must_be_keras_before_training(data, tmp_path):
    with pytest.raises(ConfigError, match="must end in .keras"):
        train_classifier(_model(), data, epochs=1, save_path=str(tmp_path / "m.h5"), verbose=0,
                         callbacks=[StopAfter(1)])
