"""One writer per folder: the run lock of ``runs/<pipeline>/``, an export's lock, a training's backup lock.

:class:`FolderLock` holds an exclusive ``fcntl.flock`` on ``<folder>/.lock``. The kernel drops the
lock when its holder exits, however it exits (a kill, a crash), so a stale lock is recovered by
construction: the next process simply gets it. The file also records who holds it (pid, host,
command, start time) so that a second process can name the holder in its one-line error.

Where ``fcntl`` is missing (Windows) the lock is a file created with ``O_EXCL`` holding the pid; a
file whose pid is no longer alive is a stale lock, taken over with a warning.

Example:
    >>> with FolderLock("runs/digits", what="featuretest run"):  # doctest: +SKIP
    ...     run_the_stages()
"""
from __future__ import annotations

import datetime
import json
import os
import socket
import sys
import warnings

from ..errors import FeatureTestError
from .io import WriteError, describe_os_error, makedirs, pid_alive

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

LOCK_NAME = ".lock"


class LockedError(FeatureTestError):
    """The folder is in use by another process (named in the message)."""


def _holder_text(info: dict) -> str:
    if not info:
        return "another process"
    parts = [f"pid {info.get('pid')}"]
    if info.get("host") and info.get("host") != socket.gethostname():
        parts.append(f"on {info['host']}")
    if info.get("started"):
        parts.append(f"since {info['started']}")
    if info.get("command"):
        parts.append(f"`{info['command']}`")
    return ", ".join(parts)


def _read_info(path) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read().strip()
        return json.loads(text) if text else {}
    except (OSError, ValueError):
        return {}


class FolderLock:
    """An exclusive lock on ``folder`` (created if missing) held by this process.

    Args:
        folder: the folder to lock; the lock file is ``folder/.lock``.
        what: what holds it, for messages (``"featuretest run"``).

    Raises:
        LockedError: from :meth:`acquire` when another live process holds the lock.
        WriteError: when the folder cannot be created or written (read-only, full).
    """

    def __init__(self, folder, *, what: str = "another featuretest process"):
        self.folder = os.fspath(folder)
        self.path = os.path.join(self.folder, LOCK_NAME)
        self.what = what
        self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def _info(self) -> dict:
        return {"pid": os.getpid(), "host": socket.gethostname(), "what": self.what,
                "command": " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv))[:200],
                "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds")}

    def _refuse(self, info):
        raise LockedError(f"{self.folder} is in use by {self.what if not info.get('what') else info['what']} "
                          f"({_holder_text(info)}); wait for it to finish or stop it, then run again")

    def acquire(self) -> FolderLock:
        if self._fd is not None:
            return self
        makedirs(self.folder)
        if fcntl is None:  # pragma: no cover - Windows
            return self._acquire_pid_file()
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise WriteError(describe_os_error(exc, self.path)) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            self._refuse(_read_info(self.path))
        except OSError as exc:
            os.close(fd)
            raise WriteError(describe_os_error(exc, self.path)) from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(self._info()).encode(), 0)
        except OSError as exc:  # a full disk: the lock still holds, only its note is missing
            warnings.warn(f"could not note the holder in {self.path}: {describe_os_error(exc, self.path)}",
                          stacklevel=2)
        self._fd = fd
        return self

    def _acquire_pid_file(self):  # pragma: no cover - Windows
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                info = _read_info(self.path)
                pid = info.get("pid")
                if isinstance(pid, int) and pid_alive(pid):
                    self._refuse(info)
                warnings.warn(f"taking over the stale lock {self.path} ({_holder_text(info)} is gone)",
                              stacklevel=3)
                os.remove(self.path)
                continue
            except OSError as exc:
                raise WriteError(describe_os_error(exc, self.path)) from None
            os.write(fd, json.dumps(self._info()).encode())
            self._fd = fd
            return self
        self._refuse(_read_info(self.path))

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if fcntl is None:  # pragma: no cover - Windows
                os.close(fd)
                os.remove(self.path)
                return
            os.ftruncate(fd, 0)  # the file stays: removing it would race with a process waiting on it
        except OSError:
            pass
        finally:
            if fcntl is not None:
                os.close(fd)  # closing the descriptor drops the flock

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
        return False

    def __del__(self):
        self.release()


def holder(folder) -> dict:
    """What ``folder/.lock`` says about its holder (empty when unlocked or unknown)."""
    return _read_info(os.path.join(os.fspath(folder), LOCK_NAME))
