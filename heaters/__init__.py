"""heaters: online videos into a reviewed, searchable library of clips."""

from __future__ import annotations

__version__ = "0.1.0"


def _started_as_the_command() -> bool:
    """True in the `heaters` command (the console script or `python -m heaters`), not when the
    package is imported as a library (tests, the TUI's own process)."""
    import os
    import sys

    if sys.argv and os.path.basename(sys.argv[0]) in ("heaters", "heaters.exe"):
        return True
    orig = list(getattr(sys, "orig_argv", []))
    return any(a == "-m" and b == "heaters" for a, b in zip(orig, orig[1:], strict=False))


if _started_as_the_command():
    # Ctrl-C or SIGTERM while the command is still importing (seconds on a busy machine) ends it
    # at once with one line, not a KeyboardInterrupt traceback from deep inside an import.
    from heaters.interrupt import exit_at_once

    exit_at_once()
