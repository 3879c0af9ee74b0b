"""Stopping a run cleanly on Ctrl-C or SIGTERM.

The signal handler only sets `STOP`; long work checks it where it already loops (a decoded frame,
a progress report, a download poll) and unwinds with `Interrupted`. That is a BaseException, like
KeyboardInterrupt, so no stage's `except Exception` mistakes it for the item's failure: the runner
gives the claims back uncharged and removes the partial files.
"""

from __future__ import annotations

import os
import signal
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


def _exit_now(signum: int, frame: object) -> None:
    os.write(2, b"interrupted\n")
    os._exit(130)


def exit_at_once() -> None:
    """Until a command installs its own handling: SIGINT/SIGTERM end the process at once, with
    one line and exit 130 (nothing has been claimed or half-written yet)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _exit_now)
        signal.signal(signal.SIGTERM, _exit_now)


def raise_keyboard_interrupt() -> None:
    """For commands that clean up on Ctrl-C themselves (export, review...): the usual Python
    behaviour, KeyboardInterrupt; SIGTERM ends the process as usual."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
