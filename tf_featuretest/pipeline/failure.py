"""What a failed stage keeps of its error: the type, the whole message and the last frame in user code.

TensorFlow's errors put the useful part last (``ValueError: in user code: ... File "...", line 12
... Input 0 of layer "conv2d" is incompatible ...``), so keeping only the first line left the
report with ``ValueError: in user code:``. A :class:`StageFailure` keeps the message whole for the
report and the terminal, and a one-line summary (the informative line) for tables.

Example:
    >>> try:
    ...     raise ValueError("in user code:\\n\\n    File 'x.py', line 3\\n\\n    shape mismatch (28, 28, 3)")
    ... except ValueError as exc:
    ...     describe_failure(exc).summary()
    'ValueError: shape mismatch (28, 28, 3)'
"""
from __future__ import annotations

import os
import sysconfig
import traceback
from dataclasses import dataclass

from ..errors import FeatureTestError

#: Longest message kept (characters); the rest is cut with a note.
MAX_MESSAGE = 4000
_LIBRARY_DIRS = tuple({os.path.realpath(sysconfig.get_paths()[k]) for k in ("stdlib", "platstdlib", "purelib",
                                                                             "platlib")})


@dataclass(frozen=True)
class StageFailure:
    """A stage's error as the report and the terminal show it.

    Attributes:
        type: the exception's class name.
        message: its whole message (cut at :data:`MAX_MESSAGE` characters).
        frame: ``"file:line in function: code"`` of the last traceback frame outside the Python and
            site-packages libraries (the package's or the user's own code), or None.
        expected: a :class:`~tf_featuretest.errors.FeatureTestError` (a one-line error by design).
        traceback: the formatted traceback (last frames).
    """

    type: str
    message: str
    frame: str | None
    expected: bool
    traceback: str

    def summary(self) -> str:
        """One line: the type and the message's informative line (its last line when the first ends in ':')."""
        lines = [ln.strip() for ln in self.message.splitlines() if ln.strip()]
        if not lines:
            return self.type
        line = lines[0]
        if len(lines) > 1 and line.endswith(":"):
            line = lines[-1]
        return line if line.startswith(f"{self.type}:") else f"{self.type}: {line}"

    def details(self) -> str:
        """The type, the whole message and (for an unexpected error) where it was raised."""
        text = f"{self.type}: {self.message}" if self.message else self.type
        if self.frame and not self.expected:
            text += f"\n(raised at {self.frame})"
        return text

    def to_dict(self) -> dict:
        return {"type": self.type, "message": self.message, "frame": self.frame, "summary": self.summary(),
                "expected": self.expected, "traceback": self.traceback}


def _in_library(path: str) -> bool:
    """True for Python's and installed libraries' files, and for code AutoGraph generated."""
    real = os.path.realpath(path)
    if "__autograph_generated" in os.path.basename(real) or real.startswith("<"):
        return True
    return any(real.startswith(d + os.sep) for d in _LIBRARY_DIRS) and "tf_featuretest" not in real


def describe_failure(exc: BaseException, limit: int = 8) -> StageFailure:
    """The :class:`StageFailure` of an exception caught from a stage."""
    message = str(exc).strip()
    if len(message) > MAX_MESSAGE:
        message = message[:MAX_MESSAGE] + f" ... ({len(message) - MAX_MESSAGE} more characters)"
    frames = traceback.extract_tb(exc.__traceback__)
    own = [f for f in frames if not _in_library(f.filename)]
    frame = None
    if own:
        f = own[-1]
        frame = f"{f.filename}:{f.lineno} in {f.name}" + (f": {f.line.strip()}" if f.line else "")
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=-limit))
    return StageFailure(type=type(exc).__name__, message=message, frame=frame,
                        expected=isinstance(exc, FeatureTestError), traceback=text)
