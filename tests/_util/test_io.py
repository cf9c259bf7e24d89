"""The atomic writer's helpers, the folder lock and the private temporary folder, with real processes."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from tf_featuretest._util import io
from tf_featuretest._util.locks import FolderLock, LockedError, holder
from tf_featuretest.errors import FeatureTestError


def _python(code, **kw):
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def _wait_for(path, proc, timeout=60):
    deadline = time.time() + timeout
    while not os.path.exists(path):
        assert proc.poll() is None, proc.communicate()[1]
        assert time.time() < deadline
        time.sleep(0.05)


def test_a_held_lock_names_its_holder_and_a_killed_holder_frees_it(tmp_path):
    folder = tmp_path / "runs" / "digits"
    ready = tmp_path / "ready"
    proc = _python(f"""
        import time
        from tf_featuretest._util.locks import FolderLock
        lock = FolderLock({str(folder)!r}, what="featuretest run").acquire()
        open({str(ready)!r}, "w").close()
        time.sleep(120)
    """)
    try:
        _wait_for(ready, proc)
        with pytest.raises(LockedError, match=rf"in use by featuretest run \(pid {proc.pid}") as info:
            FolderLock(folder).acquire()
        assert isinstance(info.value, FeatureTestError) and "\n" not in str(info.value)
        assert holder(folder)["pid"] == proc.pid
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with FolderLock(folder, what="test") as lock:  # the kernel dropped the dead holder's lock: no stale lock
        assert lock.held and holder(folder)["pid"] == os.getpid()
        with pytest.raises(LockedError):  # one holder per folder, in this process too
            FolderLock(folder).acquire()
    assert holder(folder) == {}
    FolderLock(folder).acquire().release()


def test_replace_dir_swaps_whole_folders(tmp_path):
    final, new = tmp_path / "report", tmp_path / "staging"
    final.mkdir()
    (final / "index.html").write_text("old")
    new.mkdir()
    (new / "index.html").write_text("new")
    (new / "results.json").write_text("{}")
    io.replace_dir(new, final)
    assert sorted(os.listdir(final)) == ["index.html", "results.json"] and (final / "index.html").read_text() == "new"
    assert not new.exists() and not (tmp_path / "report.previous").exists()
    other = tmp_path / "other"
    other.mkdir()
    io.replace_dir(other, tmp_path / "fresh")  # no folder there yet: a plain rename
    assert (tmp_path / "fresh").is_dir() and not other.exists()


def test_restore_previous_undoes_a_half_finished_swap(tmp_path):
    final = tmp_path / "report"
    aside = tmp_path / ("report" + io.PREVIOUS)
    aside.mkdir()
    (aside / "index.html").write_text("kept")
    assert io.restore_previous(final) and (final / "index.html").read_text() == "kept"
    assert not io.restore_previous(final)


def test_clean_leftovers_keeps_live_writers_and_removes_dead_ones(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    mine = tmp_path / f".a.json.tmp-{os.getpid()}-12345678"
    gone = tmp_path / f".b.json.tmp-{dead_pid}-12345678"
    gone_dir = tmp_path / "sub" / f".version.tmp-{dead_pid}-abcdef01"
    for p in (mine, gone):
        p.write_text("x")
    gone_dir.mkdir(parents=True)
    (gone_dir / "saved_model.pb").write_text("half")
    (tmp_path / "keep.json").write_text("{}")
    removed = io.clean_leftovers(tmp_path)
    assert sorted(removed) == sorted([str(gone), str(gone_dir)]) and mine.exists()
    assert io.clean_leftovers(tmp_path, own=True) == [str(mine)]
    assert sorted(os.listdir(tmp_path)) == ["keep.json", "sub"]


def test_check_writable_names_a_read_only_folder(tmp_path):
    assert io.check_writable(tmp_path / "new" / "out.json") == str(tmp_path / "new" / "out.json")
    assert (tmp_path / "new").is_dir() and os.listdir(tmp_path / "new") == []
    ro = tmp_path / "ro"
    ro.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", str(ro)], capture_output=True).returncode:
        pytest.skip("mounting a read-only tmpfs needs root")
    try:
        with pytest.raises(io.WriteError, match=r"read-only file system \(EROFS\)"):
            io.check_writable(ro / "out.json", what="--out")
    finally:
        subprocess.run(["umount", "-l", str(ro)], capture_output=True)


def test_a_killed_process_s_private_temp_folder_goes_at_the_next_start(tmp_path):
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = dict(os.environ, TMPDIR=str(temp))
    proc = _python("""
        import os, signal, tempfile
        from tf_featuretest._util.tempdir import private_tempdir
        folder = private_tempdir()
        with tempfile.NamedTemporaryFile(prefix="__autograph_generated_file", suffix=".py", delete=False) as fh:
            fh.write(b"x = 1")
        assert os.path.dirname(fh.name) == folder
        os.kill(os.getpid(), signal.SIGKILL)
    """, env=env)
    proc.communicate(timeout=60)
    assert proc.returncode == -9
    (left,) = os.listdir(temp)
    assert os.listdir(temp / left)[0].startswith("__autograph")
    done = subprocess.run([sys.executable, "-c", "from tf_featuretest._util.tempdir import private_tempdir; "
                           "import os; print(private_tempdir())"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert os.listdir(temp) == []  # the dead one's folder was removed, and the new one at exit
