"""The `heaters` command: the Typer app assembled from the command groups (pipeline, inspect,
review, find, admin), the root options, and `main` (one-line errors, exit codes).

Each command is parse -> one `heaters.library.Library` call -> render. Module level is light
(typer, rich, the stdlib, pure heaters modules): `--version`, `status` and `clips` never load
SQLAlchemy, SQLModel, numpy or the media and model stack (tests/test_quick.py).
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from heaters import __version__
from heaters._cli import admin, find, inspect, pipeline
from heaters._cli.common import MAX_ID, ROOT_HOME, HomeOpt
from heaters._cli.review import review_app
from heaters.console import err, safe
from heaters.domain.text import one_line
from heaters.errors import HeatersError, storage_advice, storage_problem
from heaters.interrupt import Interrupted
from heaters.library import ENV_HOME

app = typer.Typer(
    name="heaters",
    help="Turn online videos into a reviewed, searchable library of clips.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"heaters {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    home: HomeOpt = None,
) -> None:
    """`heaters --home DIR COMMAND` is `heaters COMMAND --home DIR` (the command's own wins)."""
    del debug  # read by main() before Typer parses, so that errors in parsing honour it too
    if home is not None:
        # Runs before the command's options are parsed: its --home (envvar HEATERS_HOME)
        # defaults to this one, and `demo` uses it instead of a temporary folder.
        os.environ[ENV_HOME] = str(home)
        ROOT_HOME[0] = home


# The commands in the order `heaters --help` lists them; the review group after `gc`.
COMMANDS: list[tuple[str, Callable[..., Any]]] = [
    ("ingest", pipeline.ingest_cmd),
    ("run", pipeline.run_cmd),
    ("status", inspect.status_cmd),
    ("videos", inspect.videos_cmd),
    ("clips", inspect.clips_cmd),
    ("retry", pipeline.retry_cmd),
    ("gc", admin.gc_cmd),
    ("events", inspect.events_cmd),
    ("similar", find.similar_cmd),
    ("search", find.search_cmd),
    ("export", find.export_cmd),
    ("resplice", pipeline.resplice_cmd),
    ("scenes", inspect.scenes_cmd),
    ("doctor", admin.doctor_cmd),
    ("config", admin.config_cmd),
    ("show", inspect.show_cmd),
    ("demo", pipeline.demo_cmd),
    ("follows", admin.follows_cmd),
    ("unfollow", admin.unfollow_cmd),
    ("rm", admin.rm_cmd),
]
for _name, _function in COMMANDS:
    app.command(_name)(_function)
    if _name == "gc":
        app.add_typer(review_app, name="review")
app.add_typer(admin.db_app, name="db")

status_cmd = inspect.status_cmd
clips_cmd = inspect.clips_cmd


def _describe(exc: BaseException) -> str:
    """One line for an unexpected error: the database driver's own words (never SQLAlchemy's
    SQL text and links), and what to do about a damaged database."""
    orig = getattr(exc, "orig", None)  # SQLAlchemy's wrapper around the driver's error
    cause = orig if isinstance(orig, BaseException) else exc
    text = one_line(str(cause), 300)
    if any(m in text.lower() for m in ("malformed", "not a database", "file is encrypted")):
        return (
            f"the database is damaged ({text}); restore heaters.db from a backup"
            " (heaters doctor runs SQLite's integrity check)"
        )
    return f"{type(cause).__name__}: {text} (run with --debug for details)"


# The options of the quick commands as `_plain_call` reads them: option -> (parameter, type).
_PLAIN: dict[str, dict[str, tuple[str, type]]] = {
    "status": {"--home": ("home", Path), "--json": ("as_json", bool)},
    "clips": {"--home": ("home", Path), "--json": ("as_json", bool),
              "--video": ("video", int), "--state": ("state", str)},
}  # fmt: skip
_NUMBER = re.compile(r"0|[1-9][0-9]{0,18}")


def _plain_call(args: list[str]) -> tuple[str, dict[str, Any]] | None:
    """`status` or `clips` with plain options: the command and its arguments, read without Typer.

    Typer coerces each parameter through a pydantic TypeAdapter: importing pydantic and building
    them costs about as much CPU as the rest of `heaters status` (benchmarks/README.md). These
    commands are the ones run at every glance, so their everyday forms (`--home H`, `--home=H`,
    `--json`, `--video N`, `--state S`, each at most once) are read here; anything else (help, an
    unknown, repeated or dash-led value, a number out of range) goes through Typer as before, with
    its messages and exit codes. tests/test_quick.py checks both ways read the same arguments.
    """
    if not args or args[0] not in _PLAIN:
        return None
    options = _PLAIN[args[0]]
    values: dict[str, Any] = {}
    rest = iter(args[1:])
    for arg in rest:
        option, eq, value = arg.partition("=")
        if option not in options or options[option][0] in values:
            return None
        name, kind = options[option]
        if kind is bool:
            if eq:
                return None
            values[name] = True
            continue
        if not eq:
            value = next(rest, "")
        if not value or value.startswith("-") or not value.isprintable():
            return None
        if kind is int:
            if not _NUMBER.fullmatch(value) or int(value) > MAX_ID:
                return None
            values[name] = int(value)
        else:
            values[name] = kind(value)
    if "home" not in values and os.environ.get(ENV_HOME):
        values["home"] = Path(os.environ[ENV_HOME])  # as Typer reads the option's envvar
    return args[0], values


def _command(args: list[str]) -> Callable[[], Any]:
    """What runs `args`: a quick command called directly, or Typer."""
    plain = _plain_call(args)
    if plain is None:
        return lambda: app(args=args, prog_name="heaters", standalone_mode=False)
    name, values = plain
    function = status_cmd if name == "status" else clips_cmd
    return lambda: function(**values)


def _command_name(args: list[str]) -> str | None:
    """The command word: the first argument that is neither an option nor --home's value."""
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg == "--home":
            skip = True
        elif not arg.startswith("-"):
            return arg
    return None


def main(argv: list[str] | None = None) -> None:
    """Run the CLI: one-line errors and exit codes 2 (bad usage/input), 1 (failed), 0."""
    args = list(sys.argv[1:] if argv is None else argv)
    command = _command_name(args)
    if command != "run":  # `run` keeps exiting at once on a signal until its workers start
        from heaters.interrupt import raise_keyboard_interrupt

        raise_keyboard_interrupt()
    debug = "--debug" in args or bool(os.environ.get("HEATERS_DEBUG"))
    # Stage warnings (e.g. packets skipped in a damaged file) are for --debug; without a handler
    # Python would print them raw on stderr, which `run --quiet` under cron must keep empty.
    logging.getLogger("heaters").addHandler(
        logging.StreamHandler() if debug else logging.NullHandler()
    )
    try:
        code = _command(args)()
    except typer.Abort:
        err.print("aborted")
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.TyperException as exc:  # click's usage errors, vendored by Typer
        fmt = getattr(exc, "format_message", None)
        if fmt is None:
            raise
        # One line, like every other error: "error: <what>", and where to look for help.
        ctx = getattr(exc, "ctx", None)
        where = f" (see {ctx.command_path} --help)" if ctx is not None else ""
        err.print(f"error: {one_line(fmt(), 300)}{where}", markup=False, highlight=False)
        sys.exit(int(getattr(exc, "exit_code", 2)))
    except HeatersError as exc:
        if debug:
            raise
        err.print(f"[red]error:[/red] {safe(one_line(str(exc), 1000))}", markup=True)
        sys.exit(exc.exit_code)
    except Interrupted as exc:  # heaters run on SIGINT/SIGTERM: claims given back, files removed
        sys.stdout.flush()
        os.write(2, f"interrupted: {exc}\n".encode())  # unbuffered: nothing can hold it back
        if getattr(exc, "forced", False):  # a worker is still inside native code: don't wait
            os._exit(130)
        sys.exit(130)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as exc:
        if debug:
            raise
        problem = storage_problem(exc)  # the database itself could not be written
        if problem is not None:
            err.print(
                f"error: {one_line(problem, 300)}; {storage_advice(problem)} and try again",
                markup=False,
            )
            sys.exit(1)
        err.print(f"error: {_describe(exc)}", markup=False)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
