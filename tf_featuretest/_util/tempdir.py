"""A private temporary folder per process, removed at exit, and those of killed processes removed at the next start."""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile

from .io import pid_alive


def private_tempdir(prefix: str = "featuretest-") -> str:
    """Make a new private folder this process's temporary files go to, removed when the process exits.

    Sets :data:`tempfile.tempdir`, so libraries that write temporaries and leave them behind
    (TensorFlow's AutoGraph writes ``__autograph_generated_file*.py`` for every converted
    function and removes them only at a normal exit) leave them in a folder that goes away with the
    process; the folders of killed processes (``<prefix><pid>-*`` whose pid is gone) are removed
    here, at the next start. Returns the folder.
    """
    base = tempfile.gettempdir()
    for name in os.listdir(base):  # the private folders of processes that were killed
        pid = name[len(prefix):].split("-", 1)[0] if name.startswith(prefix) else ""
        if pid.isdigit() and not pid_alive(int(pid)) and os.path.isdir(os.path.join(base, name)):
            shutil.rmtree(os.path.join(base, name), ignore_errors=True)
    folder = tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=base)
    tempfile.tempdir = folder
    owner = os.getpid()

    def _cleanup():
        if os.getpid() == owner:  # not in a forked child
            shutil.rmtree(folder, ignore_errors=True)
            if tempfile.tempdir == folder:
                tempfile.tempdir = None

    atexit.register(_cleanup)
    return folder
