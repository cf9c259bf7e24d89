"""Helpers of the fault-injection tests: ``featuretest`` in a subprocess with a hook, leftovers, remounts."""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DRIVER = os.path.join(HERE, "driver.py")
REPO = os.path.dirname(os.path.dirname(HERE))

#: A pipeline small enough for a subprocess test: 16x16 digits, one small CNN for 3 epochs.
MINI = """
name = "{name}"
seed = {seed}
[data]
source = "digits"
image_size = [16, 16]
batch_size = 128
[[classifiers]]
name = "cnn"
model = "small_cnn"
epochs = {epochs}
learning_rate = 0.003
[attacks]
eps = [0.0, 0.1]
pgd_steps = 2
max_examples = 16
one_pixel_images = 1
one_pixel_population = 10
one_pixel_generations = 1
fooling_classes = 1
"""


def env():
    """The subprocess environment: the package under test first on the path, TensorFlow quiet."""
    out = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")
    out["PYTHONPATH"] = os.environ.get("PYTHONPATH") or REPO
    return out


def featuretest(args, *hooks, cwd, timeout=300, extra_env=None):
    """Run ``featuretest args`` through the driver with ``hooks``; returns the CompletedProcess."""
    cmd = [sys.executable, DRIVER, *hooks, "--", *[str(a) for a in args]]
    return subprocess.run(cmd, cwd=str(cwd), env={**env(), **(extra_env or {})}, capture_output=True, text=True,
                          timeout=timeout)


def error_lines(proc) -> list:
    """The lines of stderr that are not TensorFlow or Python warnings' chatter."""
    return [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]


def leftovers(*roots) -> list:
    """Every temporary (``*.tmp-<pid>-*``) under ``roots``."""
    found = []
    for root in roots:
        for d, dirs, files in os.walk(str(root)):
            found += [os.path.join(d, n) for n in dirs + files if ".tmp-" in n]
    return found


def remount(path, options):
    """``mount -o remount,<options>`` (e.g. ``size=64m`` to free space, ``ro``)."""
    subprocess.run(["mount", "-o", f"remount,{options}", str(path)], check=True, capture_output=True)
