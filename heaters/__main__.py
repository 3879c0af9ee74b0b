"""`python -m heaters` is the same as the `heaters` command (whose entry point is `main` here)."""

from __future__ import annotations

import gc
import sys


def main() -> None:
    """`heaters --version` answered before the CLI (Typer and its commands) is imported."""
    if sys.argv[1:] == ["--version"]:
        from heaters import __version__

        sys.stdout.write(f"heaters {__version__}\n")
        sys.stdout.flush()
        return
    from heaters._cli.app import main as cli_main

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
