"""`python -m heaters` is the same as the `heaters` command."""

from __future__ import annotations

from heaters.cli import main

main()
