"""`python -m heaters` is the same as the `heaters` command (whose entry point is `main` here)."""

from __future__ import annotations

import sys


def main() -> None:
    """`heaters --version` answered before the CLI (Typer and its commands) is imported."""
    if sys.argv[1:] == ["--version"]:
        from heaters import __version__

        sys.stdout.write(f"heaters {__version__}\n")
        sys.stdout.flush()
        return
    from heaters._cli.app import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
