"""The one way the package writes files: to a temporary name beside the target, fsync, rename.

A reader never sees half a file: it sees the old version or the new one. A failure (a kill, a
full or read-only disk) leaves the old file as it was and no temporary behind, except after a hard
kill, whose leftovers (``*.tmp-<pid>-*``) :func:`clean_leftovers` removes on the next start.
Disk errors become a one-line :class:`~tf_featuretest.errors.FeatureTestError` naming the path and
the cause (``no space left on device``, ``read-only file system``).

JSON goes through :func:`to_jsonable` (dataclasses, numpy, tuples; NaN and inf become null), so
every ``results.json`` is strict JSON.

Example:
    >>> write_json("runs/x/summary.json", {"accuracy": np.float32(0.5), "missing": float("nan")})
    'runs/x/summary.json'
"""
from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import datetime
import errno
import json
import math
import os
import shutil
import sys
import time
import uuid

import numpy as np

from ..errors import ConfigError, FeatureTestError

TMP_MARK = ".tmp-"


class WriteError(FeatureTestError, OSError):
    """A file or folder could not be written (disk full, read-only, no permission)."""


def describe_os_error(exc: OSError, path) -> str:
    """``"<path>: no space left on device (ENOSPC)"`` and the like."""
    code = errno.errorcode.get(exc.errno, "") if exc.errno else ""
    reason = exc.strerror or str(exc)
    return f"{path}: {reason.lower()}" + (f" ({code})" if code else "")


def temp_name(path) -> str:
    """A unique temporary name beside ``path`` (same folder, so the rename is atomic)."""
    path = os.fspath(path)
    head, tail = os.path.split(path)
    return os.path.join(head, f".{tail}{TMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}")


def _fsync_dir(folder) -> None:
    try:
        fd = os.open(folder or ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def fsync_tree(root) -> None:
    """fsync every file and folder under ``root`` (before a rename publishes it)."""
    for d, _, files in os.walk(root):
        for f in files:
            try:
                fd = os.open(os.path.join(d, f), os.O_RDONLY)
            except OSError:
                continue
            try:
                os.fsync(fd)
            except OSError:
                pass
            finally:
                os.close(fd)
        _fsync_dir(d)


def _remove(path) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            os.remove(path)


def makedirs(folder) -> None:
    """``os.makedirs(folder, exist_ok=True)`` with disk errors as :class:`WriteError`."""
    if not folder:
        return
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise WriteError(describe_os_error(exc, folder)) from None


@contextlib.contextmanager
def atomic_path(path, *, suffix: str = ""):
    """Yield a temporary path to write ``path``'s new content to; it replaces ``path`` on success.

    ``suffix`` keeps an extension some writers need (Keras saves only to names ending ``.keras``).
    On an exception the temporary is removed and ``path`` is left as it was.

    Example:
        >>> with atomic_path("model.keras", suffix=".keras") as tmp:  # doctest: +SKIP
        ...     model.save(tmp)
    """
    path = os.fspath(path)
    makedirs(os.path.dirname(os.path.abspath(path)))
    tmp = temp_name(path) + suffix
    try:
        yield tmp
        if os.path.isdir(tmp):
            fsync_tree(tmp)
        else:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(os.path.dirname(os.path.abspath(path)))
    except OSError as exc:
        _remove(tmp)
        if isinstance(exc, FeatureTestError):
            raise
        raise WriteError(describe_os_error(exc, path)) from None
    except BaseException:
        _remove(tmp)
        raise


def atomic_write(path, data) -> str:
    """Write ``data`` (str as UTF-8, or bytes) to ``path`` atomically; returns ``path``."""
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(raw)
    return os.fspath(path)


@contextlib.contextmanager
def atomic_dir(final, *, replace: bool = True):
    """Yield a temporary folder that becomes ``final`` when the block ends without an exception.

    With ``replace`` an existing ``final`` is swapped out (renamed aside, then removed), so a reader
    sees the old folder or the new one; without it an existing ``final`` is an error
    (:class:`FileExistsError`), which makes version folders write-once.
    """
    final = os.fspath(final)
    parent = os.path.dirname(os.path.abspath(final))
    makedirs(parent)
    tmp = temp_name(final)
    try:
        os.makedirs(tmp)
        yield tmp
        fsync_tree(tmp)
        if replace and os.path.lexists(final):
            replace_dir(tmp, final)
        else:
            os.rename(tmp, final)  # fails on an existing non-empty folder: never overwrites
        _fsync_dir(parent)
    except OSError as exc:
        _remove(tmp)
        if isinstance(exc, (FeatureTestError, FileExistsError)) or exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
            raise
        raise WriteError(describe_os_error(exc, final)) from None
    except BaseException:
        _remove(tmp)
        raise


def _renameat2():
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_RENAMEAT2 = _renameat2() if sys.platform.startswith("linux") else None
_AT_FDCWD, _RENAME_EXCHANGE = -100, 2


def exchange(a, b) -> bool:
    """Swap two existing paths in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``).

    Returns False, changing nothing, where the system or the file system cannot do it.
    """
    if _RENAMEAT2 is None:
        return False
    if _RENAMEAT2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
        return False
    raise OSError(err, os.strerror(err), b)


def replace_dir(new, final) -> None:
    """Put the folder ``new`` in place of ``final`` so that a reader sees the old one or the new one.

    Where the system can swap them atomically (:func:`exchange`) ``final`` is never missing; the
    old content, now at ``new``'s name, is removed. Elsewhere ``final`` is renamed to
    ``<final>.previous`` first, which :func:`restore_previous` puts back after a crash.
    """
    new, final = os.fspath(new), os.fspath(final)
    if not os.path.lexists(final):
        os.rename(new, final)
    elif exchange(new, final):
        _remove(new)
    else:
        aside = final + PREVIOUS
        _remove(aside)
        os.rename(final, aside)
        os.rename(new, final)
        _remove(aside)
    _fsync_dir(os.path.dirname(os.path.abspath(final)))


PREVIOUS = ".previous"


def restore_previous(final) -> bool:
    """After a crash inside :func:`replace_dir`'s fallback: put ``<final>.previous`` back if ``final`` is gone."""
    final = os.fspath(final)
    aside = final + PREVIOUS
    if os.path.lexists(aside) and not os.path.lexists(final):
        os.rename(aside, final)
        return True
    return False


def check_writable(path, *, what: str = "output") -> str:
    """Fail early (:class:`WriteError`, one line) when files cannot be written at ``path``.

    ``path`` is a folder, or a file whose folder is checked. The folder is created, a small probe
    file is written, synced and removed; nothing else changes. Returns ``path``.
    """
    path = os.fspath(path)
    folder = path if os.path.isdir(path) or path.endswith(os.sep) else os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
        probe = temp_name(os.path.join(folder, "write-check"))
        with open(probe, "wb") as fh:
            fh.write(b"x" * 4096)
            fh.flush()
            os.fsync(fh.fileno())
        os.remove(probe)
    except OSError as exc:
        raise WriteError(f"cannot write the {what}: {describe_os_error(exc, folder)}") from None
    return path


def clean_leftovers(folder, *, older_than: float = 0.0, recursive: bool = True, own: bool = False) -> list:
    """Remove temporaries (``*.tmp-<pid>-*``) under ``folder`` whose writer process is gone.

    A temporary whose pid is still alive is kept unless it is older than ``older_than`` seconds
    (0 keeps every live writer's file); ``own`` also removes this process's own temporaries (call
    it so when the process's writing is over). Returns the removed paths.
    """
    removed = []
    if not os.path.isdir(folder):
        return removed
    now = time.time()
    walker = os.walk(folder) if recursive else [(folder, [d for d in os.listdir(folder)
                                                          if os.path.isdir(os.path.join(folder, d))],
                                                 [f for f in os.listdir(folder)
                                                  if not os.path.isdir(os.path.join(folder, f))])]
    for d, dirs, files in walker:
        for name in list(dirs) + list(files):
            if TMP_MARK not in name:
                continue
            pid = _pid_of(name)
            path = os.path.join(d, name)
            try:
                age = now - os.lstat(path).st_mtime
            except OSError:
                continue
            if (pid is not None and pid_alive(pid) and not (older_than and age > older_than)
                    and not (own and pid == os.getpid())):
                continue
            _remove(path)
            removed.append(path)
            if name in dirs:
                dirs.remove(name)
    return removed


def _pid_of(name: str):
    tail = name.rsplit(TMP_MARK, 1)[-1]
    digits = tail.split("-", 1)[0].split(".", 1)[0]
    return int(digits) if digits.isdigit() else None


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (on this machine)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ----------------------------------------------------------------------------- JSON


def nan_to_none(value):
    """None for None, NaN and infinities; the value (as float for numpy floats) otherwise."""
    if value is None:
        return None
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def to_jsonable(value):
    """``value`` as plain JSON types: ``to_dict()`` objects, dataclasses, numpy, tuples; NaN/inf -> None."""
    if hasattr(value, "to_dict") and callable(value.to_dict) and not isinstance(value, type):
        return to_jsonable(value.to_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return [to_jsonable(v) for v in items]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return nan_to_none(value)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (os.PathLike, datetime.date)):
        return str(value)
    raise ConfigError(f"cannot write a {type(value).__name__} value as JSON: {value!r:.80}")


def dumps_json(value, *, indent=2, sort_keys=False) -> str:
    """Strict JSON text of :func:`to_jsonable` ``(value)``."""
    return json.dumps(to_jsonable(value), indent=indent, sort_keys=sort_keys, allow_nan=False)


def write_json(path, value, *, indent=2, sort_keys=False) -> str:
    """Write ``value`` as strict JSON to ``path`` atomically; returns ``path``."""
    return atomic_write(path, dumps_json(value, indent=indent, sort_keys=sort_keys) + "\n")


def read_json(path, *, what: str = "JSON file"):
    """Parse a JSON file; a missing, unreadable or malformed file is a one-line :class:`ConfigError`."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{what} not found: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{what} {path} is not valid JSON ({exc})") from None
