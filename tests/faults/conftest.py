"""Fixtures of the fault-injection tests: small and read-only disks (tmpfs, root only)."""
import os
import shutil
import subprocess

import pytest


@pytest.fixture
def tmpfs(tmp_path):
    """``mount(name, size="3m", readonly=False) -> path``: a small tmpfs (root only), unmounted afterwards."""
    mounted = []
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")

    def mount(name, size="3m", readonly=False):
        path = tmp_path / name
        path.mkdir()
        opts = f"size={size}" + (",ro" if readonly else "")
        res = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], capture_output=True, text=True)
        if res.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip()}")
        mounted.append(path)
        return path

    yield mount
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], capture_output=True)
