"""The report folder of a run is published whole: readers see the old report or the new one, never a mix.

A run writes its figures, ``results.json`` and ``index.html`` into a staging copy of
``reports/<pipeline>/`` (a hidden ``.<pipeline>.tmp-<pid>-...`` folder beside it, which starts as a
copy of the current report so files kept there, such as ``reviews.json``, are read as before).
When the report is complete the staging folder takes the report folder's place in one step
(:func:`~tf_featuretest._util.io.replace_dir`). A run killed before that leaves the old report
untouched and a staging folder that the next run's leftover cleaning removes.

Files that someone else (the service recording reviews) changed in the live folder while the run
was going are carried into the published folder, so nothing written meanwhile is lost.
"""
from __future__ import annotations

import os
import shutil

from .._util.io import TMP_MARK, WriteError, describe_os_error, fsync_tree, replace_dir, restore_previous, temp_name


def _ignore_temporaries(folder, names):
    return [n for n in names if TMP_MARK in n]


def open_staging(final) -> str:
    """A new staging folder for the report ``final``: a copy of it when it exists; returns its path."""
    final = os.fspath(final)
    restore_previous(final)
    staging = temp_name(final)
    try:
        os.makedirs(os.path.dirname(os.path.abspath(final)), exist_ok=True)
        if os.path.isdir(final):
            shutil.copytree(final, staging, symlinks=True, ignore=_ignore_temporaries)
        else:
            os.makedirs(staging)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise WriteError(describe_os_error(exc, staging)) from None
    return staging


def _changed_meanwhile(old_dir, new_dir, since) -> list:
    """Top-level files of ``old_dir`` changed after ``since`` that are newer than (or missing in) ``new_dir``."""
    out = []
    if not os.path.isdir(old_dir):
        return out
    for name in os.listdir(old_dir):
        src = os.path.join(old_dir, name)
        if TMP_MARK in name or not os.path.isfile(src) or os.path.islink(src):
            continue
        mtime = os.path.getmtime(src)
        dst = os.path.join(new_dir, name)
        if mtime > since and (not os.path.exists(dst) or mtime > os.path.getmtime(dst)):
            out.append(name)
    return out


def _carry(old_dir, new_dir, names) -> None:
    for name in names:
        tmp = temp_name(os.path.join(new_dir, name))
        shutil.copy2(os.path.join(old_dir, name), tmp)
        os.replace(tmp, os.path.join(new_dir, name))


def publish(staging, final, *, since: float) -> str:
    """Put the finished ``staging`` folder in place of the report folder ``final``; returns ``final``.

    ``since`` is when the run began: files of the live folder changed after it by someone else
    are carried over (before the swap, and once more from the old folder right after it).
    """
    staging, final = os.fspath(staging), os.fspath(final)
    try:
        _carry(final, staging, _changed_meanwhile(final, staging, since))
        fsync_tree(staging)
        replace_dir(staging, final)  # the old report now sits at the staging name (or is gone)
        if os.path.isdir(staging):
            _carry(staging, final, _changed_meanwhile(staging, final, since))
    except OSError as exc:
        raise WriteError(describe_os_error(exc, final)) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final


def discard(staging) -> None:
    """Remove a staging folder that will not be published (the report stage did not finish)."""
    shutil.rmtree(os.fspath(staging), ignore_errors=True)
