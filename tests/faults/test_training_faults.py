"""Kills and full disks while ``featuretest train`` and ``featuretest run`` train: the rerun always succeeds.

Each test runs the real command in a subprocess (:mod:`driver` installs the kill point) and then
runs it again without a fault, as a user would.
"""
import os

from fault_helpers import MINI, error_lines, featuretest, leftovers, remount

TRAIN = ["train", "--epochs", "3", "--image-size", "16", "--batch-size", "128", "--quiet"]


def _files(root):
    return sorted(os.path.join(d, f) for d, _, files in os.walk(root) for f in files if f != ".lock")


def test_a_damaged_backup_left_by_a_kill_does_not_break_the_rerun(tmp_path):
    """Issue item 1: a kill while the backup is written left a bad file; every rerun failed until it was deleted."""
    args = [*TRAIN, "--out", tmp_path / "m.keras"]
    first = featuretest(args, "kill-after-epoch=2", cwd=tmp_path)
    assert first.returncode == -9, first.stderr[-2000:]
    backup = tmp_path / "m_work" / "backup"
    files = _files(backup)
    assert files  # the kill came after epoch 2's backup
    for path in files:  # what a kill in the middle of writing them leaves: each file cut short
        size = os.path.getsize(path)
        with open(path, "r+b") as fh:
            fh.truncate(size // 2)
    again = featuretest(args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "epochs 3, saved" in again.stdout  # all damaged: trained from scratch, all 3 epochs
    assert "damaged training backup" in again.stderr
    assert os.path.getsize(tmp_path / "m.keras") > 0 and not leftovers(tmp_path)


def test_a_kill_during_the_backup_write_resumes_from_the_last_good_epoch(tmp_path):
    args = [*TRAIN, "--out", tmp_path / "m.keras"]
    first = featuretest(args, "kill-in-backup-write=2", cwd=tmp_path)
    assert first.returncode == -9, first.stderr[-2000:]
    assert leftovers(tmp_path / "m_work")  # the half-written epoch-2 state is only a temporary
    again = featuretest(args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "epochs 3 (resumed after epoch 1), saved" in again.stdout
    assert not leftovers(tmp_path) and not _files(tmp_path / "m_work")


def test_train_on_a_full_disk_says_so_in_one_line_and_the_rerun_succeeds(tmp_path, tmpfs):
    """Issue item 7: disk full made train segfault (rc 139) and leave a partial backup."""
    disk = tmpfs("disk", size="1m")
    args = [*TRAIN, "--out", disk / "m.keras"]
    full = featuretest(args, cwd=tmp_path)
    assert full.returncode == 2, full.stderr[-3000:]
    errors = error_lines(full)
    assert len(errors) == 1 and "no space left on device (ENOSPC)" in errors[0], full.stderr[-2000:]
    assert "Traceback" not in full.stderr
    assert _files(disk) == [] and not leftovers(disk)  # nothing half-written stays
    remount(disk, "size=64m")  # the user frees space
    again = featuretest(args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "epochs 3, saved" in again.stdout and os.path.isfile(disk / "m.keras")


def test_a_run_on_a_full_disk_recovers_once_space_is_freed(tmp_path, tmpfs):
    """Issue item 1: after a full disk inside ``run``, the classifier stage failed on every rerun."""
    disk = tmpfs("runs", size="1m")
    cfg = tmp_path / "mini.toml"
    cfg.write_text(MINI.format(name="mini", seed=0, epochs=2))
    args = ["run", cfg, "--stages", "classifier", "--runs", disk, "--reports", tmp_path / "reports",
            "--export-root", tmp_path / "sm", "--quiet"]
    full = featuretest(args, cwd=tmp_path)
    assert full.returncode == 1, full.stderr[-3000:]  # the classifier stage failed; the report says why
    assert "ENOSPC" in full.stdout and "classifier  failed" in full.stdout
    remount(disk, "size=64m")
    again = featuretest(args, cwd=tmp_path)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert "classifier  ok" in again.stdout
    assert not leftovers(disk, tmp_path / "reports")


def test_read_only_outputs_fail_before_any_work(tmp_path, tmpfs):
    """Issue item 7: a read-only output folder failed only after evaluating everything (or training)."""
    ro = tmpfs("ro", size="1m", readonly=True)
    model = tmp_path / "m.keras"
    trained = featuretest(["train", "--epochs", "1", "--image-size", "16", "--out", model, "--quiet"], cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr[-2000:]
    for args, before in ((["evaluate", "--model", model, "--out", ro / "eval.json", "--quiet"], "top-1"),
                         ([*TRAIN, "--out", ro / "m.keras"], "test top-1"),
                         (["run", "--stages", "data", "--runs", ro, "--reports", tmp_path / "r", "--quiet"], "data")):
        res = featuretest(args, cwd=tmp_path)
        errors = error_lines(res)
        assert res.returncode == 2 and len(errors) == 1, (args, res.stdout[-1000:], res.stderr[-2000:])
        assert "read-only file system (EROFS)" in errors[0] and "Traceback" not in res.stderr
        assert before not in res.stdout  # nothing was evaluated, trained or run first
