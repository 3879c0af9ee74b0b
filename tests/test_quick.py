"""Quick commands: `--version`, `status` and `clips` load no database ORM, numpy or media stack,
and the quick read path shows byte for byte what the full store shows."""

from __future__ import annotations

import contextlib
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from heaters import cli
from heaters.domain.sources import Source
from heaters.store import clips as clip_store
from heaters.store import reads, review, search, videos
from heaters.store.migrations import LATEST
from heaters.store.store import Store, StoreError
from heaters.store.tables import Clip, Embedding

# What a glance at the library must not pay for (each costs tens of ms to import, or more);
# pydantic comes with SQLModel, and with Typer's coercion of parameters (see cli._plain_call).
HEAVY = ("sqlalchemy", "sqlmodel", "numpy", "av", "onnxruntime", "textual", "sqlite_vec", "PIL",
         "pydantic")  # fmt: skip


def library(root: Path) -> Path:
    """A home with videos and clips in many states, failures (with markup and an escape sequence
    in their errors), tags, committed review actions and pending ones (some replaced, two
    composing splits, a merge) still in their grace period."""
    now = time.time()
    store = Store.open(root)
    cfg = review.ReviewConfig(home=store.home, min_clip_s=0.5)
    with store.tx() as s:
        rows = [videos.register(s, Source("url", f"https://example.com/v{i}"))[0] for i in range(4)]
        v1, v2, v3, v4 = rows
        v1.state, v1.fps = "spliced", 30.0
        v2.state, v2.attempts = "download_failed", 3
        v2.last_error = "[red]HTTP Error 404[/red] \x1b]0;pwned\x07 not found"
        v3.attempts, v3.last_error, v3.next_attempt_at = 1, "connection refused", now + 300
        v4.state = "downloaded"
        s.add_all(rows)
        s.flush()
        for i, state in enumerate(
            ["pending_review"] * 6 + ["embedded", "review_skipped", "keyframe_failed", "spliced"]
        ):
            s.add(Clip(source_video_id=v1.id or 0, start_frame=i * 60, end_frame=(i + 1) * 60,
                       start_time_s=i * 2.0, end_time_s=(i + 1) * 2.0 + 1 / 3, state=state))  # fmt: skip
        s.add(Clip(source_video_id=v4.id or 0, start_frame=0, end_frame=45, start_time_s=0.0,
                   end_time_s=1.5, state="pending_review"))  # fmt: skip
        s.flush()
        failed = s.get(Clip, 9)
        assert failed is not None
        failed.attempts, failed.last_error = 2, "keyframes: [bold]no frames[/bold]"
        retrying = s.get(Clip, 10)
        assert retrying is not None
        retrying.attempts, retrying.last_error, retrying.next_attempt_at = 1, "busy", now + 60
        for strategy, tags in (("a", [["dog", 0.91], ["cat", 0.05]]), ("b", [["dog", 0.7]])):
            s.add(Embedding(clip_id=7, model="m", strategy=strategy, dim=4, vector=bytes(16),
                            tags=tags))  # fmt: skip
            s.flush()  # the newest embedding's tags are the ones shown
    with store.tx() as s:  # committed long ago
        review.append(s, 6, "approve", None, cfg, now=now - 3600)
        assert review.commit_due(s, now, 10.0, cfg) == 1
    with store.tx() as s:  # pending: still in their grace period
        review.append(s, 1, "approve", None, cfg, now=now - 2)
        review.append(s, 1, "skip", None, cfg, now=now - 1)  # replaces the approve
        review.append(s, 3, "merge", {"with": 2}, cfg, now=now - 4)
        review.append(s, 4, "split", {"frame": 200}, cfg, now=now - 3)
        review.append(s, 4, "split", {"frame": 220}, cfg, now=now)
    store.close()
    (root / "config.toml").write_text("grace_s = 3600.0\n")  # every pending action stays pending
    return root


@pytest.fixture(scope="module")
def lib(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return library(tmp_path_factory.mktemp("quick") / "home")


def run(*args: str, importtime: bool = False) -> subprocess.CompletedProcess[str]:
    flags = ["-X", "importtime"] if importtime else []
    return subprocess.run(
        [sys.executable, *flags, "-m", "heaters", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def modules(stderr: str) -> set[str]:
    """Module names from `-X importtime` output."""
    names = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    return names


def imported(stderr: str) -> set[str]:
    """Top-level package names from `-X importtime` output."""
    return {name.split(".")[0] for name in modules(stderr)}


@pytest.mark.parametrize(
    "args",
    [
        ("--version",),
        ("status",),
        ("status", "--json"),
        ("clips",),
        ("clips", "--json", "--video", "1", "--state", "pending_review"),
    ],
)
def test_quick_commands_import_nothing_heavy(lib: Path, args: tuple[str, ...]) -> None:
    home = ("--home", str(lib)) if args != ("--version",) else ()
    res = run(*args, *home, importtime=True)
    assert res.returncode == 0, res.stderr[-2000:]
    names = imported(res.stderr)
    assert "heaters" in names  # the check reads what it should
    assert sorted(names.intersection(HEAVY)) == []
    if args == ("--version",):
        loaded = modules(res.stderr)
        assert not loaded.intersection({"typer", "rich", "heaters.cli"}), "version needs no CLI"
    else:
        assert "heaters.store.reads" in modules(res.stderr)


def test_the_import_check_sees_a_heavy_command(lib: Path) -> None:
    res = run("videos", "--home", str(lib), importtime=True)
    assert res.returncode == 0 and "sqlalchemy" in imported(res.stderr)


def _reference(root: Path, grace_s: float) -> dict[str, object]:
    """What the full store (SQLModel sessions, the ORM's clip rows) says about the home."""
    store = Store.open(root)
    with store.tx(write=False) as s:
        w = review.waiting(s, grace_s)
        listed = clip_store.list_clips(s)
        return {
            "videos": reads.counts(s, "source_videos"),
            "clips": reads.counts(s, "clips"),
            "failed_videos": reads.failures(s, "source_videos"),
            "failed_clips": reads.failures(s, "clips"),
            "waiting": (w.actions, w.first_at, w.last_at),
            "rows": [cli.clip_dict(c) for c in listed],
            "pending_rows": [
                cli.clip_dict(c) for c in clip_store.list_clips(s, 1, ["pending_review"])
            ],
            "tags": search.tags_by_clip(s, [c.id or 0 for c in listed]),
        }


def test_the_reader_answers_what_the_store_does(lib: Path) -> None:
    with reads.open_reader(lib) as reader:
        assert reader is not None
        w = reads.waiting(reader, 3600.0)
        rows = reads.clip_rows(reader)
        got = {
            "videos": reads.counts(reader, "source_videos"),
            "clips": reads.counts(reader, "clips"),
            "failed_videos": reads.failures(reader, "source_videos"),
            "failed_clips": reads.failures(reader, "clips"),
            "waiting": (w.actions, w.first_at, w.last_at),
            "rows": [cli.clip_dict(c) for c in rows],
            "pending_rows": [
                cli.clip_dict(c) for c in reads.clip_rows(reader, 1, ["pending_review"])
            ],
            "tags": reads.tags_by_clip(reader, [c.id for c in rows]),
        }
    want = _reference(lib, 3600.0)
    assert got == want
    assert got["waiting"][0] == 4 and got["tags"] == {7: [["dog", 0.7]]}  # the home is as meant
    assert {r["state"] for r in got["rows"]} >= {"pending_review", "embedded", "keyframe_failed"}


def _main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        cli.main(list(args))
    out, err = capsys.readouterr()
    return int(exit_.value.code or 0), out, err


COMMANDS = [
    ("status",),
    ("status", "--json"),
    ("clips",),
    ("clips", "--json"),
    ("clips", "--video", "1", "--state", "pending_review"),
    ("clips", "--video", "2"),
    ("clips", "--state", "nonsense"),  # bad input: one line, exit 2, either way
]


def test_quick_output_is_byte_identical_to_the_full_store(
    lib: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    frozen = time.time()
    monkeypatch.setattr(time, "time", lambda: frozen)  # "commit at ... (in Ns)" reads the clock
    quick = {a: _main(capsys, *a, "--home", str(lib)) for a in COMMANDS}

    @contextlib.contextmanager
    def no_reader(root: Path) -> Iterator[None]:
        yield None

    monkeypatch.setattr(reads, "open_reader", no_reader)
    full = {a: _main(capsys, *a, "--home", str(lib)) for a in COMMANDS}
    assert quick == full
    assert "review: 4 action(s) wait" in quick[("status",)][1]
    assert "\\x1b]0;pwned" in quick[("status",)][1] and "[red]HTTP" in quick[("status",)][1]
    assert quick[("clips", "--state", "nonsense")][0] == 2


def test_the_command_shows_what_the_reader_does(
    lib: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real command in a process of its own, against the in-process quick path."""
    for args in COMMANDS:
        res = run(*args, "--home", str(lib))
        code, out, err = _main(capsys, *args, "--home", str(lib))
        in_s = re.compile(r"\(in \d+s\)")  # seconds to a commit: the two runs are apart in time
        assert (res.returncode, in_s.sub("", res.stdout), res.stderr) == (
            code,
            in_s.sub("", out),
            err,
        )


def test_the_quick_path_only_reads_a_home_store_open_would_leave_alone(tmp_path: Path) -> None:
    root = library(tmp_path / "home")
    with reads.open_reader(root) as reader:
        assert reader is not None
    (root / "home.id").write_text("0123456789abcdef0123456789abcdef\n")  # a foreign database
    with reads.open_reader(root) as reader:
        assert reader is None
    with pytest.raises(StoreError, match="belongs to another home"):
        Store.open(root)
    (root / "home.id").unlink()  # a home from before ids: Store.open writes the file
    with reads.open_reader(root) as reader:
        assert reader is None
    Store.open(root).close()
    with reads.open_reader(root) as reader:
        assert reader is not None
    for missing in (tmp_path / "nowhere", tmp_path / "empty"):
        (tmp_path / "empty").mkdir(exist_ok=True)
        with reads.open_reader(missing) as reader:
            assert reader is None


def test_status_on_an_older_schema_migrates_it_as_before(tmp_path: Path) -> None:
    root = library(tmp_path / "home")
    db = sqlite3.connect(root / "heaters.db")  # back to schema 2: no embedding_tags (migration 3)
    for trigger in ("insert", "update", "delete"):
        db.execute(f"DROP TRIGGER tr_embedding_tags_{trigger}")
    db.execute("DROP TABLE embedding_tags")
    for trigger in ("insert", "update", "delete"):  # and what migrations 4, 5 and 7 made
        db.execute(f"DROP TRIGGER tr_embedding_changes_{trigger}")
    db.execute("DROP TRIGGER tr_embedding_changes_clip_state")
    db.execute("DROP TABLE embedding_changes")
    db.execute("DROP TABLE step_runs")
    # and migration 6's identities, metadata, follows and removed clips
    db.execute("DROP INDEX ux_source_videos_key")
    for column in ("source_key", "uploader", "upload_date", "description", "chapters", "follow_id"):
        db.execute(f"ALTER TABLE source_videos DROP COLUMN {column}")
    for table in ("follow_seen", "follows", "removed_clips"):
        db.execute(f"DROP TABLE {table}")
    db.execute("PRAGMA user_version=2")
    db.commit()
    db.close()
    with reads.open_reader(root) as reader:
        assert reader is None
    res = run("status", "--json", "--home", str(root))
    assert res.returncode == 0, res.stderr
    db = sqlite3.connect(root / "heaters.db")
    assert db.execute("PRAGMA user_version").fetchone()[0] == LATEST
    assert db.execute("SELECT COUNT(*) FROM embedding_tags").fetchone()[0] == 3  # rebuilt
    db.close()


def test_status_on_a_new_home_creates_it_as_before(tmp_path: Path) -> None:
    res = run("status", "--home", str(tmp_path / "new"))
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[1:] == ["videos: none", "clips: none"]
    assert (tmp_path / "new" / "heaters.db").is_file() and (tmp_path / "new" / "home.id").is_file()


PLAIN_FORMS = [
    ("status",),
    ("status", "--json"),
    ("status", "--home", "/srv/heaters"),
    ("status", "--home=rel/dir", "--json"),
    ("status", "--json", "--home", "~/h o m e"),
    ("clips",),
    ("clips", "--video", "0"),
    ("clips", "--video", "12", "--state", "pending_review", "--json"),
    ("clips", "--state=nonsense", "--home", "h", "--video=9223372036854775807"),
]
TYPER_FORMS = [  # read by Typer as before: help, errors, anything unusual
    ("status", "--help"),
    ("status", "--home"),
    ("status", "--home", ""),
    ("status", "--home", "--json"),
    ("status", "--json", "--json"),
    ("status", "--json=1"),
    ("status", "extra"),
    ("status", "--verbose"),
    ("clips", "--video", "-1"),
    ("clips", "--video", "007"),
    ("clips", "--video", "9223372036854775808"),
    ("clips", "--video", "1e3"),
    ("clips", "--video", "³"),
    ("clips", "--state", "-x"),
    ("clips", "--home", "a\nb"),
    ("--debug", "status"),
    ("videos",),
]


@pytest.mark.parametrize("env_home", [None, "/from/env"])
def test_plain_forms_read_what_typer_reads(
    env_home: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import inspect

    import typer

    if env_home is None:
        monkeypatch.delenv("HEATERS_HOME", raising=False)
    else:
        monkeypatch.setenv("HEATERS_HOME", env_home)
    group = typer.main.get_command(cli.app)
    for args in PLAIN_FORMS:
        plain = cli._plain_call(list(args))
        assert plain is not None and plain[0] == args[0], args
        function = cli.status_cmd if args[0] == "status" else cli.clips_cmd
        defaults = {n: p.default for n, p in inspect.signature(function).parameters.items()}
        by_typer = group.commands[args[0]].make_context(args[0], list(args[1:])).params
        assert {**defaults, **plain[1]} == by_typer, args
    for args in TYPER_FORMS:
        assert cli._plain_call(list(args)) is None, args


def test_plain_forms_load_no_pydantic(lib: Path) -> None:
    """Typer's pydantic-based coercion is skipped for the everyday forms (and used otherwise)."""
    quick = run("clips", "--home", str(lib), "--video", "1", "--json", importtime=True)
    assert quick.returncode == 0 and "pydantic" not in imported(quick.stderr)
    typer_read = run("clips", "--home", str(lib), "--video", "01", importtime=True)
    assert typer_read.returncode == 0 and "pydantic" in imported(typer_read.stderr)
