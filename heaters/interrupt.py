"""Stopping a run cleanly on Ctrl-C or SIGTERM.

The signal handler only sets `STOP`; long work checks it where it already loops (a decoded frame,
a progress report, a download poll) and unwinds with `Interrupted`. That is a BaseException, like
KeyboardInterrupt, so no stage's `except Exception` mistakes it for the item's failure: the runner
gives the claims back uncharged and removes the partial files.
"""

from __future__ import annotations

import threading

STOP = threading.Event()


class Interrupted(BaseException):
    """The run was asked to stop (SIGINT/SIGTERM): not a failure of the item at hand."""


def check() -> None:
    """Raise Interrupted once a stop was asked for; costs one Event lookup otherwise."""
    if STOP.is_set():
        raise Interrupted("stop requested")


def requested() -> bool:
    return STOP.is_set()
