"""Hostile input: titles, ids and URLs from the internet are data. They never reach a shell or a
path outside the media folder, SQL gets them only as bound parameters, and only http(s) URLs or
explicit local files are accepted. (Hostile titles end to end: tests/test_bad_input.py.)

The source checks read heaters' own code (AST, not grep: comments and docstrings don't count), so
a new `shell=True` or a value pasted into SQL fails here, with the line to look at.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

import heaters
from heaters.store.home import Home
from tests import faultkit as fk
from tests.conftest import free_port

PACKAGE = Path(heaters.__file__).parent
SOURCES = sorted(PACKAGE.rglob("*.py"))


def _trees() -> list[tuple[Path, ast.AST]]:
    return [(p, ast.parse(p.read_text(encoding="utf-8"))) for p in SOURCES]


def _name(node: ast.AST) -> str:
    return ast.unparse(node)


# Where a process may become another by exec, and why no shell is involved.
EXEC_ALLOWED = {
    "orphans.py": "os.execvp of the argv list it was given, after asking to die with its parent",
}


def _shell_problems(path: str, tree: ast.AST) -> list[str]:
    shells = ("os.system", "os.popen", "subprocess.getoutput", "subprocess.getstatusoutput")
    runners = ("subprocess.run", "subprocess.Popen", "subprocess.call", "subprocess.check_call",
               "subprocess.check_output")  # fmt: skip
    bad = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        where = f"{path}:{node.lineno}"
        func = _name(node.func)
        exec_ok = func == "os.execvp" and path in EXEC_ALLOWED
        if func in shells or (func.startswith(("os.exec", "os.spawn")) and not exec_ok):
            bad.append(f"{where}: {func}")
        for kw in node.keywords:
            if kw.arg == "shell" and not (
                isinstance(kw.value, ast.Constant) and kw.value.value is False
            ):
                bad.append(f"{where}: shell={_name(kw.value)}")
        if func in runners and node.args and isinstance(node.args[0], ast.Constant | ast.JoinedStr):
            bad.append(f"{where}: {func} with a command string, not an argv list")
    return bad


def test_no_shell_anywhere() -> None:
    bad = [b for path, tree in _trees() for b in _shell_problems(path.name, tree)]
    assert bad == []


# Every value interpolated into SQL text, and why it cannot carry input. Anything else must be a
# bound parameter (:name / ?).
SQL_INTERPOLATIONS = {
    "table": "a table name from a fixed mapping (claims._TABLE, status) or _table(model)",
    "_due()": "a fixed SQL fragment",
    "inner": "a sub-select built from the fixed fragments above",
    "order": "one of two fixed column names",
    "json_in": "one of two fixed fragments: CAST(:tags AS json) or json(:tags), by backend",
    "sql_list(SUPERSEDED)": "heaters' own state names (domain.states.SUPERSEDED), quoted",
    "name": "a trigger or vec0 table name read from sqlite_master (migration 4 drops them)",
    "keyword": "TRIGGER or TABLE, chosen in code",
    "where": "step_runs.totals: empty, or a WHERE with a bound parameter",
    "BUSY_TIMEOUT_MS": "an integer constant",
    "mode": "IMMEDIATE or DEFERRED, chosen in code",
    "number": "a migration number (int)",
    "marks": "ints joined by commas, each through int()",
    "quoted": "the configured model name as an SQL literal ('' escaped): triggers take no params",
    "', '.join(cols)": "db copy: column names of heaters' own tables, each checked to be a column"
    " of the migrated PostgreSQL table (information_schema) before use",
    "key": "db copy: a table's key columns, from a fixed mapping",
    "WRITE_LOCK_KEY": "an integer constant (the PostgreSQL writer lock)",
    "_PG_MIGRATE_LOCK": "an integer constant (the PostgreSQL migration lock)",
    "values": "text search: a VALUES list of bound parameter marks (:l0, :w0), one per label",
    "tags_sql": "one of two fixed fragments (json(:tags) or CAST(:tags AS JSON))",
    "_LIVE_ROWS": "vectors: a fixed fragment (live clips' rows) over sql_list(SUPERSEDED)",
}
_SQL = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|PRAGMA|BEGIN|WHERE|VALUES)\b")


def _sql_problems(path: str, tree: ast.AST) -> list[str]:
    bad = []
    for node in ast.walk(tree):
        where = f"{path}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.JoinedStr):
            text = "".join(
                v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)
            )  # fmt: skip
            if not _SQL.search(text):
                continue
            for v in node.values:
                if isinstance(v, ast.FormattedValue) and _name(v.value) not in SQL_INTERPOLATIONS:
                    bad.append(f"{where}: {{{_name(v.value)}}} in SQL")
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod | ast.Add):
            parts = [n for n in (node.left, node.right) if isinstance(n, ast.Constant)]
            if any(isinstance(p.value, str) and _SQL.search(p.value) for p in parts):
                bad.append(f"{where}: SQL built with {type(node.op).__name__}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            target = node.func.value
            if node.func.attr == "format" and isinstance(target, ast.Constant):
                if _SQL.search(str(target.value)):
                    bad.append(f"{where}: SQL built with str.format")
    return bad


def test_sql_interpolates_only_fixed_names() -> None:
    bad = [b for path, tree in _trees() for b in _sql_problems(path.name, tree)]
    assert bad == [], "bind these as parameters (or add a reviewed entry to SQL_INTERPOLATIONS)"


def test_the_source_checks_do_catch_things() -> None:
    shell = ast.parse(
        "import os, subprocess\n"
        "subprocess.run(cmd, shell=True)\nos.system('x')\nsubprocess.run(f'ls {d}')\n"
    )
    assert len(_shell_problems("x.py", shell)) == 3
    sql = ast.parse(
        "s.execute(text(f\"SELECT * FROM clips WHERE title = '{title}'\"))\n"
        "q = 'DELETE FROM clips WHERE id = ' + clip_id\n"
        "q = 'UPDATE clips SET state = %s' % state\n"
        "q = 'SELECT {} FROM x'.format(col)\n"
        "s.execute(text(f'SELECT 1 FROM {table} WHERE id = :id'), {'id': 1})\n"
    )
    assert len(_sql_problems("x.py", sql)) == 4


def test_paths_come_only_from_integer_ids(tmp_path: Path) -> None:
    home = Home(tmp_path)
    assert home.source_dir(7) == tmp_path / "media" / "sources" / "7"
    assert home.clip_dir("12") == tmp_path / "media" / "clips" / "12"  # type: ignore[arg-type]
    for hostile in ("../../etc", "1/../../x", "7\x00", "..", "1e3"):
        with pytest.raises(ValueError):
            home.source_dir(hostile)  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            home.clip_dir(hostile)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        home.abs("../../etc/passwd")  # a stored path may not lead out either
    with pytest.raises(ValueError):
        home.rel(tmp_path.parent / "elsewhere.mp4")


def test_no_path_is_built_from_a_title_url_or_metadata() -> None:
    """In the code that writes media, no path join or file name mentions untrusted fields."""
    untrusted = re.compile(r"title|url|webpage|uploader|extractor|meta|info\[")
    bad = []
    for path, tree in _trees():
        if path.parent.name not in ("stages", "runner", "store") or path.name == "export.py":
            continue  # export names files with safe_name(), under exports/
        for node in ast.walk(tree):
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
                if untrusted.search(_name(node.right)):
                    bad.append(f"{path.name}:{node.lineno}: {_name(node)}")
    assert bad == []


@pytest.mark.parametrize(
    "source",
    [
        "file:///etc/passwd",
        "ftp://example.com/a.mp4",
        "data:video/mp4;base64,AAAA",
        "ytsearch:cats",  # a yt-dlp pseudo-URL: searches the web
        "http://",
        "--exec=touch pwned",  # an option for yt-dlp, smuggled in as a source
    ],
)
def test_only_http_urls_and_local_files_are_accepted(home: Path, source: str) -> None:
    res = fk.heaters(home, "ingest", source)
    assert res.code == 2, (source, res)
    assert len(res.stderr.strip().splitlines()) >= 1 and "Traceback" not in res.stderr
    assert not (home / "heaters.db").exists()  # refused before anything was opened


def test_shell_characters_in_a_url_stay_characters(home: Path, tmp_path: Path) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    url = f"http://127.0.0.1:{free_port()}/$(touch pwned);`touch pwned2`|touch pwned3.mp4"
    assert fk.heaters(home, "ingest", url, "--quiet").code == 0
    res = fk.heaters(home, "run", "--once", "--quiet", cwd=cwd)
    assert res.code == 0 and len(res.stderr.splitlines()) == 1, res.stderr  # a retry, and when
    assert "next attempt at" in res.stderr
    assert list(cwd.iterdir()) == [] and not list(home.rglob("pwned*"))
    video = json.loads(fk.heaters(home, "videos", "--json").stdout)[0]
    assert video["url"] == url and "refused" in video["last_error"].lower()


# ---------------------------------------------------------------- round two (issue 11)


def _one_line_refusal(res: fk.Run, what: object) -> None:
    assert res.code == 2, (what, res)
    assert len(res.stderr.strip().splitlines()) == 1, (what, res.stderr)
    assert "Traceback" not in res.stderr and "Error" not in res.stderr.split(":")[0], res.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("review", "approve", "99999999999999999999"),
        ("show", "99999999999999999999"),
        ("similar", "99999999999999999999"),
        ("scenes", "99999999999999999999"),
        ("review", "undo", "99999999999999999999"),
        ("clips", "--video", "99999999999999999999"),
        ("events", "--clip", "99999999999999999999"),
        ("export", "--video", "99999999999999999999"),
        ("review", "--video", "99999999999999999999"),
        ("review", "split", "1", "--frame", "99999999999999999999"),
        ("ingest", "http://[::1"),
        ("export", "--template", "{clip_id:0300d}"),
        ("export", "--template", "{clip_id:0400000000d}"),
        ("run", "--threshold", "-5"),
        ("run", "--threshold", "nan"),
        ("run", "--threshold", "1e400"),
        ("run", "--min-clip-s", "inf"),
        ("run", "--workers", "0"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(home: Path, args: tuple[str, ...]) -> None:
    res = fk.heaters(home, *args)
    _one_line_refusal(res, args)
    assert not (home / "heaters.db").exists()  # refused before the home was opened


def test_bad_run_flags_are_refused_before_any_work(home: Path, tmp_path: Path) -> None:
    """A bad flag is no fault of the video: nothing is downloaded and no attempt is charged."""
    video = tmp_path / "v.mp4"
    video.write_bytes(b"not even a video")
    assert fk.heaters(home, "ingest", str(video), "--quiet").code == 0
    for flags in (("--threshold", "-5"), ("--threshold", "nan"), ("--min-clip-s", "inf")):
        _one_line_refusal(fk.heaters(home, "run", *flags), flags)
    row = json.loads(fk.heaters(home, "videos", "--json").stdout)[0]
    assert (row["state"], row["attempts"], row["filepath"]) == ("new", 0, None)


BAD_CONFIG = [
    ("reviewer", "evil\nname"),
    ("reviewer", "\x1b]0;pwned\x07"),
    ("sprite_columns", "0"),
    ("sprite_max_fps", "0"),
    ("sprite_tile_width", "0"),
    ("sprite_tile_width", "100000"),
    ("threshold", "nan"),
    ("min_clip_s", "-1"),
    ("detector", "bogus"),
    ("keyframe_strategy", "bogus"),
    ("lease_s", "0"),
    ("model", "bogus"),
    ("max_attempts", "0"),
]


def test_config_values_are_checked_before_anything_is_written(home: Path) -> None:
    home.mkdir()
    (home / "config.toml").write_text("grace_s = 5.0\n")
    for key, value in BAD_CONFIG:
        res = fk.heaters(home, "config", "--", key, value)
        _one_line_refusal(res, (key, value))
        assert (home / "config.toml").read_text() == "grace_s = 5.0\n", (key, value)
    # a good value with quotes and unicode round-trips, and everything still works
    assert fk.heaters(home, "config", "reviewer", 'Zoë "Z" \\o/').code == 0
    res = fk.heaters(home, "config", "--json")
    assert res.code == 0 and json.loads(res.stdout)["reviewer"] == 'Zoë "Z" \\o/'
    assert fk.heaters(home, "events").code == 0


def test_a_config_file_broken_by_hand_is_one_line_and_repairable(home: Path) -> None:
    home.mkdir()
    (home / "config.toml").write_text("lease_s = 0\nsprite_columns = 10\n")
    for args in (("run", "--once"), ("events",), ("config",)):
        _one_line_refusal(fk.heaters(home, *args), args)
    assert fk.heaters(home, "config", "lease_s", "60").code == 0  # the repair itself works
    assert fk.heaters(home, "config").code == 0
    # a model name edited in by hand: run refuses before claiming anything (no clip left claimed)
    (home / "config.toml").write_text('model = "bogus"\n')
    _one_line_refusal(fk.heaters(home, "run", "--once"), "model bogus")


def test_url_spellings_of_one_resource_register_once(home: Path) -> None:
    port = free_port()
    spellings = [
        f"http://127.0.0.1:{port}/a/Video.mp4",
        f"HTTP://127.0.0.1:{port}/a/Video.mp4",
        f"http://127.0.0.1:{port}/a/Video.mp4#t=10",
        f"Http://127.0.0.1:{port}/a/Video.mp4#",
    ]
    res = fk.heaters(home, "ingest", *spellings, "--json")
    assert res.code == 0, res.stderr
    assert len({r["id"] for r in json.loads(res.stdout)}) == 1
    other = fk.heaters(home, "ingest", f"http://127.0.0.1:{port}/a/video.mp4", "--json")
    assert json.loads(other.stdout)[0]["created"]  # the path's case is the server's business


def test_outside_text_is_shown_as_text(home: Path, tmp_path: Path) -> None:
    """Rich markup and terminal escapes in URLs, paths and errors are printed as characters."""
    folder = tmp_path / "a["
    folder.mkdir()
    path = folder / "red]b.mp4"  # the path a[/red]b.mp4
    path.write_text("not a video")
    port = free_port()
    markup_url = f"http://127.0.0.1:{port}/page[/red]x.html"
    escape_url = f"http://127.0.0.1:{port}/\x1b]0;pwned\x07x[bold]y.mp4"
    res = fk.heaters(home, "ingest", str(path), markup_url, escape_url)
    assert res.code == 0 and "MarkupError" not in res.stderr, res
    assert (
        "[/red]b.mp4" in res.stdout and "\x1b" not in res.stdout and "\\x1b]0;pwned" in res.stdout
    )
    assert fk.heaters(home, "run", "--once", "--quiet").code in (0, 1)
    for args in (("status",), ("videos",)):
        res = fk.heaters(home, *args)
        assert res.code == 0 and not res.stderr, (args, res)
        assert "\x1b" not in res.stdout and "\\x1b]0;pwned\\x07x[bold]y" in res.stdout
        assert len(res.stdout.splitlines()) == (7 if args == ("status",) else 3), res.stdout
    assert "page[/red]x.html" in fk.heaters(home, "videos").stdout
    status = fk.heaters(home, "status").stdout
    assert "[generic]" in status  # yt-dlp's own words, not eaten as markup
    assert "Errno 1094995529" not in status and "not a video" in status


def test_an_emptied_or_foreign_database_never_meets_the_media(home: Path, tmp_path: Path) -> None:
    """`: > heaters.db` (or a missing one, or another home's) must not turn into an empty library
    whose `gc` frees every media file: every command refuses with one line."""
    from heaters.synthetic import make_video

    video = make_video(tmp_path / "v.mp4", (1.0, 1.0), width=160, height=90, seed=2)
    fk.make_home(home)
    assert fk.heaters(home, "ingest", str(video.path), "--quiet").code == 0
    assert fk.heaters(home, "run", "--quiet").code in (0, 1)  # the source is in media/
    media = sorted(p for p in (home / "media").rglob("*") if p.is_file())
    assert media and (home / "home.id").is_file()
    other = fk.make_home(tmp_path / "other")
    assert fk.heaters(other, "status").code == 0
    saved = (home / "heaters.db").read_bytes()
    for damage in ("emptied", "missing", "foreign"):
        for suffix in ("-wal", "-shm"):
            (home / f"heaters.db{suffix}").unlink(missing_ok=True)
        db = home / "heaters.db"
        if damage == "emptied":
            db.write_bytes(b"")
        elif damage == "missing":
            db.unlink()
        else:
            db.write_bytes((other / "heaters.db").read_bytes())
        for args in (("status",), ("gc",), ("run", "--once")):
            res = fk.heaters(home, *args)
            assert res.code == 1 and len(res.stderr.strip().splitlines()) == 1, (damage, res)
            assert "Traceback" not in res.stderr
        assert sorted(p for p in (home / "media").rglob("*") if p.is_file()) == media, damage
        db.write_bytes(saved)
    assert fk.heaters(home, "status").code == 0


def test_a_damaged_database_is_one_line_and_doctor_says_so(home: Path, tmp_path: Path) -> None:
    port = free_port()
    urls = [f"http://127.0.0.1:{port}/v{i}.mp4" for i in range(40)]
    assert fk.heaters(home, "ingest", *urls, "--quiet").code == 0
    with fk.db(home) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        root = conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'source_videos'"
        ).fetchone()[0]
    db = home / "heaters.db"
    data = bytearray(db.read_bytes())
    page = 4096 * (root - 1)
    data[page : page + 4096] = bytes((i * 31 + 7) % 256 for i in range(4096))
    db.write_bytes(bytes(data))
    for args in (("status",), ("videos",), ("run", "--once")):
        res = fk.heaters(home, *args)
        assert res.code == 1 and len(res.stderr.strip().splitlines()) == 1, (args, res)
        assert "damaged" in res.stderr and "[SQL" not in res.stderr and "sqlalche" not in res.stderr
    doctor = fk.heaters(home, "doctor")
    assert doctor.code == 1 and "FAIL database" in doctor.stdout, doctor
    noise = tmp_path / "noise"
    noise.mkdir()
    (noise / "heaters.db").write_bytes(bytes((i * 7919 + 13) % 251 for i in range(100_000)))
    doctor = fk.heaters(noise, "doctor")
    assert doctor.code == 1 and "FAIL database" in doctor.stdout, doctor


def test_review_without_a_terminal_refuses_at_once(home: Path) -> None:
    """`heaters review </dev/null` (cron, a pipe) would never exit and write escape codes."""
    res = fk.heaters(home, "review", timeout=60)  # subprocess: stdin/stdout are pipes
    _one_line_refusal(res, "review")
    assert "terminal" in res.stderr and not res.stdout
