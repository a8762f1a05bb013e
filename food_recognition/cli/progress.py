"""Progress lines for the CLI's long work: drawn on a terminal, quiet anywhere else.

Evaluation, Blob uploads and downloads, and the data scan report ``progress(done,
total)``; :func:`progress_line` turns that into one line on stderr, redrawn in
place. Where stderr is a file or a pipe (a log, CI, ``2>``) nothing is drawn:
a log of carriage returns helps no one.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

__all__ = ["on_terminal", "progress_line"]


def on_terminal() -> bool:
    """Whether stderr is a terminal, where progress is drawn.

    :returns: ``True`` on a terminal; ``False`` for a file or a pipe.
    """
    return sys.stderr.isatty()


def progress_line(label: str, unit: str = "") -> Callable[[int, int], None] | None:
    """A ``progress(done, total)`` callback drawing ``label: done/total unit (percent%)``.

    The line is redrawn at most once per percent, and ends with a newline when
    ``done`` reaches ``total``.

    :param label: what is going on (``evaluating``, ``uploading``).
    :param unit: what is counted (``images``, ``files``), or nothing.
    :returns: the callback, or ``None`` when stderr is not a terminal.
    """
    if not on_terminal():
        return None
    shown = [-1]
    counted = f" {unit}" if unit else ""

    def show(done: int, total: int) -> None:
        percent = done * 100 // max(total, 1)
        if percent != shown[0] or done == total:
            shown[0] = percent
            end = "\n" if done == total else ""
            print(
                f"\r{label}: {done}/{total}{counted} ({percent}%)",
                end=end,
                file=sys.stderr,
                flush=True,
            )

    return show
