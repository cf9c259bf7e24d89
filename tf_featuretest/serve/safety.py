"""What the service sends about itself: ASCII-only headers, report files and results without server details.

- :func:`header_text`: HTTP header values carry only visible ASCII; a class name is sent
  percent-encoded as UTF-8 (RFC 3986), which leaves plain ASCII names without ``%`` unchanged
  (``"猫"`` becomes ``"%E7%8C%AB"``; ``urllib.parse.unquote`` gives it back).
- :func:`report_file_path`: a file of the report folder, or None for anything else (``..``, a NUL
  byte, an over-long or undecodable name, a folder, a link leading outside).
- :func:`public_results`: ``results.json`` as a client may see it: no tracebacks, no absolute
  paths of the server's disk.
"""
from __future__ import annotations

import os
import re
from urllib.parse import quote

#: Printable ASCII that stays as it is in a header value (everything but ``%``, which is the escape).
_HEADER_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%")
#: An absolute POSIX or Windows path, up to its last component (which is kept).
_ABS_DIRS = re.compile(r"(?<![\w.~/\\-])(?:[A-Za-z]:)?(?:[\\/][^\\/\s'\":,;()\[\]{}]+)+[\\/](?=[^\\/\s])")
_TRACEBACK = "Traceback (most recent call last)"
#: Keys of results.json that hold tracebacks or server-side details.
PRIVATE_KEYS = ("errors", "traceback", "tracebacks")


def header_text(value) -> str:
    """``value`` as a header value of visible ASCII only: percent-encoded UTF-8 where needed."""
    return quote(str(value), safe=_HEADER_SAFE)


def report_file_path(folder, path: str):
    """The real path of ``path`` inside the report ``folder`` when it names a file there, else None."""
    path = path or "index.html"
    if "\x00" in path or len(path) > 1024 or any(len(p.encode("utf-8", "replace")) > 255 for p in path.split("/")):
        return None
    try:
        root = os.path.realpath(folder)
        full = os.path.realpath(os.path.join(root, path))
        if not full.startswith(root + os.sep) or not os.path.isfile(full):
            return None
    except (OSError, ValueError, UnicodeError):
        return None
    return full


def _scrub_text(text: str) -> str:
    if _TRACEBACK in text:  # keep only the exception's own line
        lines = [ln for ln in text.strip().splitlines() if ln.strip()]
        text = lines[-1].strip() if lines else ""
    return _ABS_DIRS.sub("", text)


def public_results(value):
    """``results.json`` without tracebacks and with absolute paths cut to their last component.

    Example:
        >>> public_results({"errors": {"noise": "Traceback ..."}, "source": "folder:/home/me/data"})
        {'source': 'folder:data'}
    """
    if isinstance(value, dict):
        return {k: public_results(v) for k, v in value.items() if k not in PRIVATE_KEYS}
    if isinstance(value, list):
        return [public_results(v) for v in value]
    if isinstance(value, str):
        return _scrub_text(value)
    return value
