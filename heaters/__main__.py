"""`python -m heaters` is the same as the `heaters` command (whose entry point is `main` here)."""

from __future__ import annotations

import gc
import os
import sys


def main() -> None:
    """`heaters --version` answered before the CLI (Typer and its commands) is imported."""
    if sys.argv[1:] == ["--version"]:
        from heaters import __version__

        sys.stdout.write(f"heaters {__version__}\n")
        sys.stdout.flush()
        return
    from heaters._cli.app import _command_name
    from heaters._cli.app import main as cli_main

    if _command_name(sys.argv[1:]) == "run":
        # `run` decodes (FFmpeg's threads) and embeds (ONNX Runtime's): numpy's BLAS has no
        # product there worth a thread pool, and OpenBLAS's two threads spin ~0.15 CPU-s after
        # numpy's import (each `run --once` under cron pays it). Before numpy is imported.
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        cli_main()
    finally:
        _leave()


def _leave() -> None:
    """Close what the command opened, then spare the exit its repeated garbage collections.

    While it tears the modules down, the interpreter runs full collections over every object the
    imports made (SQLAlchemy, pydantic, Typer, numpy: ~100k), ~0.15 s of each command's wall time
    on this machine, to free memory the process is about to give back. Here the stores still
    open are closed, one collection finalizes the garbage there is (a store left to the
    collector is closed then, SQLite's WAL merged, as a normal exit leaves it), and what is left
    is frozen: live objects, which the exit frees by reference counting as before. `atexit`
    handlers (temporary folders, logging) still run.
    """
    library = sys.modules.get("heaters.library")
    if library is not None:
        library.close_all()
    gc.collect()
    gc.freeze()


if __name__ == "__main__":
    main()
