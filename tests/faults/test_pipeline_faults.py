"""Two runs at once, kills between report files and during an export, leftovers: nothing partial is served.

Every command runs in a subprocess through :mod:`driver`; the checks read what a user or the
service would then see on disk.
"""
import os
import subprocess
import sys
import time

import pytest
from fault_helpers import DRIVER, MINI, env, error_lines, featuretest, leftovers

from tf_featuretest.export import export_all
from tf_featuretest.models import build_classifier, save_model_atomic
from tf_featuretest.serve.app import latest_report
from tf_featuretest.serve.backend import ExportBackend


def _roots(tmp_path):
    return ["--runs", tmp_path / "runs", "--reports", tmp_path / "reports", "--export-root", tmp_path / "sm", "--quiet"]


def _config(tmp_path, seed=0, epochs=1):
    path = tmp_path / f"mini-{seed}.toml"
    path.write_text(MINI.format(name="mini", seed=seed, epochs=epochs))
    return path


def _dead_pid():
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def test_a_second_run_on_the_same_folder_exits_2_naming_the_first(tmp_path):
    """Issue item 2: two runs on one folder shared backups and models and silently interfered."""
    gate = tmp_path / "gate"
    gate.mkdir()
    cfg = _config(tmp_path)
    first = subprocess.Popen([sys.executable, DRIVER, f"pause-in-training={gate}", "--", "run", str(cfg), "--stages",
                              "classifier", *[str(a) for a in _roots(tmp_path)]], cwd=tmp_path, env=env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 240
        while not (gate / "ready").exists():
            assert first.poll() is None, first.communicate()[1][-3000:]
            assert time.time() < deadline, "the first run never reached training"
            time.sleep(0.2)
        second = featuretest(["run", cfg, "--stages", "classifier", *_roots(tmp_path)], cwd=tmp_path)
        errors = error_lines(second)
        assert second.returncode == 2 and len(errors) == 1, second.stderr[-3000:]
        assert "in use by featuretest run" in errors[0] and f"pid {first.pid}" in errors[0]
        assert "Traceback" not in second.stderr
    finally:
        (gate / "go").touch()
        out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err[-3000:]
    models = [f for f in os.listdir(tmp_path / "runs" / "mini") if f.endswith(".keras")]
    assert len(models) == 1 and "classifier  ok" in out


def test_a_kill_between_report_files_leaves_the_old_report_whole(tmp_path):
    """Issue item 10: results.json could be newer than index.html; leftovers were never cleaned."""
    roots = _roots(tmp_path)
    report = tmp_path / "reports" / "mini"
    ok = featuretest(["run", _config(tmp_path, seed=0), "--stages", "data", *roots], cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr[-3000:]
    before = {n: (report / n).read_bytes() for n in ("index.html", "results.json")}
    killed = featuretest(["run", _config(tmp_path, seed=1), "--stages", "data", *roots], "kill-between-report-files",
                         cwd=tmp_path)
    assert killed.returncode == -9, killed.stderr[-3000:]
    # what a reader (and the service) sees: the first run's page and numbers, together
    assert {n: (report / n).read_bytes() for n in before} == before
    assert latest_report(str(tmp_path / "reports")) == str(report)
    assert leftovers(tmp_path / "reports")  # the killed run's staging copy, hidden beside the report
    dead = _dead_pid()  # and leftovers of other killed writers
    for folder in (report, tmp_path / "runs" / "mini", tmp_path / "sm" / "mini" / "classifier"):
        os.makedirs(folder / f".version.tmp-{dead}-0badc0de", exist_ok=True)
        (folder / f".index.html.tmp-{dead}-0badc0de").write_text("half")
    again = featuretest(["run", _config(tmp_path, seed=1), "--stages", "data", *roots], cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert b'"seed": 1' in (report / "results.json").read_bytes()
    assert leftovers(tmp_path / "reports", tmp_path / "runs", tmp_path / "sm") == []


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "m.keras"
    save_model_atomic(build_classifier("small_cnn", 10, (16, 16, 1)), str(path))
    return path


def test_a_kill_during_an_export_never_mixes_versions(tmp_path, model_file):
    """Issue item 10: one export could mix classifier/4 with attacks/3; an empty version crashed serve."""
    root = tmp_path / "sm"
    import keras

    export_all(keras.models.load_model(model_file), str(root), "mini")
    args = ["export", "--model", model_file, "--root", root, "--pipeline", "mini", "--quiet"]
    for artifact in ("attacks", "classifier"):  # killed while each one's SavedModel is complete but not in place
        killed = featuretest(args, f"kill-in-export={artifact}", cwd=tmp_path)
        assert killed.returncode == -9, killed.stderr[-3000:]
        backend = ExportBackend(str(root / "mini"))
        assert backend.version == backend.attacks_version == 1  # still the whole first export
    os.makedirs(root / "mini" / "classifier" / "99")  # an empty highest version (a copy that never finished)
    backend = ExportBackend(str(root / "mini"))
    assert backend.version == backend.attacks_version == 1
    done = featuretest(args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    versions = {line.split()[0]: int(line.split()[1]) for line in done.stdout.splitlines()[1:]}
    assert versions["classifier"] == versions["attacks"] == 100  # one number for the whole export
    backend = ExportBackend(str(root / "mini"))
    assert backend.version == backend.attacks_version == 100
    assert leftovers(root) == []


def test_autograph_files_of_a_killed_command_are_removed(tmp_path, model_file):
    """Issue item 10: every `featuretest attack` left AutoGraph files in the system temp folder."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    args = ["attack", "--model", model_file, "--attack", "pgd", "--eps", "0.1", "--max-examples", "8", "--quiet"]
    killed = featuretest(args, "kill-at-exit", cwd=tmp_path, extra_env={"TMPDIR": str(temp)})
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert not [n for n in os.listdir(temp) if n.startswith("__autograph")]  # kept in the command's own folder
    nxt = featuretest(["evaluate", "--model", tmp_path / "missing.keras"], cwd=tmp_path, extra_env={"TMPDIR": str(temp)})
    assert nxt.returncode == 2
    left = [os.path.join(d, f) for d, _, files in os.walk(temp) for f in files]
    assert left == []  # the killed command's folder went at the next start
