"""`heaters db copy --to postgresql://...`: parse, call `heaters.store.copy`, render.

Kept apart from `cli.py`, which registers it on import."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from heaters.cli import HomeOpt, JsonOpt, QuietOpt, app
from heaters.console import out, print_json
from heaters.errors import BadInput, OperationFailed
from heaters.store.home import Home, default_home

db_app = typer.Typer(help="The library's database: copy a one-machine home into PostgreSQL.")
app.add_typer(db_app, name="db")


@db_app.command("copy")
def db_copy(
    to: Annotated[
        str,
        typer.Option("--to", help="postgresql://USER:PASSWORD@HOST/DATABASE (new, empty)."),
    ],
    home: HomeOpt = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Copy this home's SQLite library (heaters.db) into an empty PostgreSQL database, verified
    row for row; then set `database_url` (and `media_root`) on every machine.

    Example: [bold]heaters db copy --to postgresql://heaters@nas/heaters[/bold]
    """
    from heaters.store.copy import CopyError, copy_sqlite_to_postgres
    from heaters.store.db import is_postgres_url
    from heaters.store.store import redact

    if not is_postgres_url(to):
        raise BadInput("--to wants a postgresql:// URL")
    root = Path(home) if home is not None else default_home()
    db_path = Home(root.expanduser().absolute()).db_path
    if not db_path.is_file():
        raise BadInput(f"no library to copy: {db_path} does not exist")
    try:
        report = copy_sqlite_to_postgres(db_path, to)
    except CopyError as exc:
        raise OperationFailed(str(exc)) from exc
    except Exception as exc:  # the server: unreachable, refused, not ours to write
        orig = getattr(exc, "orig", None) or exc
        line = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
        raise OperationFailed(f"cannot copy into {redact(to)}: {line}") from exc
    if as_json:
        print_json({"to": redact(to), "rows": report.rows, "verified": True})
        return
    if not quiet:
        for table, n in report.rows.items():
            out.print(f"{table:>16}  {n} rows", markup=False)
    out.print(
        f"copied {report.total} rows into {redact(to)}, verified row for row; use it with"
        f" heaters config database_url '{redact(to)}' (the password as you gave it)",
        markup=False,
    )
