"""Helpers of the crash, concurrency and disk-full tests: run `heaters` with a fault armed, read a
home's whole store into a comparable snapshot, and check that its files and rows agree.

Also used by `benchmarks/faults.py` (the long mode), so nothing here depends on pytest.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sqlean

VIDEO_FIELDS = (
    *("state", "filepath", "title", "frame_count", "fps", "width", "height", "codec"),
    *("detector", "attempts", "last_error", "claimed_by", "next_attempt_at"),
)

CONFIG = "lease_s = {lease}\ngrace_s = 0.0\nmin_clip_s = 0.5\nretry_base_s = 0.0\n"


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def killed(self) -> bool:
        return self.code == -9


def heaters(
    home: Path,
    *args: str,
    fault: str | None = None,
    timeout: float = 300,
    cwd: Path | None = None,
    **env: str,
) -> Run:
    """The real command in a subprocess; `fault` arms `HEATERS_FAULT_AT` for this one call."""
    full = {**os.environ, "HEATERS_HOME": str(home), **env}
    full.pop("HEATERS_FAULT_AT", None)
    if fault:
        full["HEATERS_FAULT_AT"] = fault
    proc = subprocess.run(
        [sys.executable, "-m", "heaters", *args],
        capture_output=True,
        text=True,
        env=full,
        timeout=timeout,
        cwd=cwd,
        check=False,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def output_of(proc: subprocess.Popen[str], timeout: float = 30) -> tuple[str, str]:
    """A started command's (stdout, stderr) for a failure message: killed first if it still runs.

    Not a bare `proc.communicate()`: a deadline assertion fails exactly when the command hangs,
    and waiting for the hung command's output then hangs the test (and the whole session, which
    pytest-timeout ends) instead of failing it.
    """
    if proc.poll() is None:
        proc.kill()
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:  # a child of its still holds the pipes
        return "", f"(no output: pipes still open {timeout:g} s after the kill)"


def make_home(home: Path, lease_s: float = 0.6) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(CONFIG.format(lease=lease_s))
    return home


class _PgConn:
    """A psycopg connection that reads like the sqlean one: `?` marks, `row_factory = Row` for
    rows by name, JSON columns as their text (as SQLite gives them)."""

    def __init__(self, url: str) -> None:
        import psycopg
        from psycopg.types.string import TextLoader

        self.conn = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))
        self.conn.autocommit = True
        self.conn.adapters.register_loader("json", TextLoader)
        self.row_factory: Any = None

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        from psycopg.rows import dict_row, tuple_row

        cur = self.conn.cursor(row_factory=dict_row if self.row_factory else tuple_row)
        cur.execute(sql.replace("?", "%s"), params)  # type: ignore[arg-type]
        return cur

    def close(self) -> None:
        self.conn.close()


@contextmanager
def db(home: Path) -> Iterator[Any]:
    """A plain connection for reading a home's store (sqlite-vec loaded, like heaters' own); the
    PostgreSQL database of `$HEATERS_DATABASE_URL` when that is set (tests/conftest.py backend)."""
    import sqlite_vec

    url = os.environ.get("HEATERS_DATABASE_URL")
    if url:
        pg = _PgConn(url)
        with closing(pg):
            yield pg
        return

    conn = sqlean.connect(str(home / "heaters.db"), timeout=60)
    conn.enable_load_extension(True)
    sqlite_vec.load(conn)
    with closing(conn):
        yield conn


def file_of(home: Path, rel: str) -> Path:
    """Where a stored path points: under `$HEATERS_MEDIA_ROOT` for `media/...` when that is set
    (a shared media folder), else under the home."""
    media = os.environ.get("HEATERS_MEDIA_ROOT")
    if media and rel.startswith("media/"):
        return Path(media) / rel[len("media/") :]
    return home / rel


def wait_for_claims(home: Path, slack_s: float = 0.05) -> float:
    """Sleep until every claim of a killed run has expired; returns how long that took."""
    with db(home) as conn:
        row = conn.execute(
            "SELECT MAX(claimed_until) FROM (SELECT claimed_until FROM source_videos"
            " UNION ALL SELECT claimed_until FROM clips) AS claims"
        ).fetchone()
    until = row[0] or 0.0
    wait = max(0.0, until - time.time() + slack_s)
    time.sleep(wait)
    return wait


def copy_home(src: Path, dst: Path) -> Path:
    """A home is its folder: copy it whole (no process may have it open). With
    `$HEATERS_DATABASE_URL` set (the postgres backend), its library then moves into that
    database with `heaters db copy`'s own code, and heaters.db out of the way."""
    shutil.copytree(src, dst)
    url = os.environ.get("HEATERS_DATABASE_URL")
    if url:
        from heaters.store.copy import copy_sqlite_to_postgres

        copy_sqlite_to_postgres(dst / "heaters.db", url)
        for name in ("heaters.db", "heaters.db-wal", "heaters.db-shm"):
            if (dst / name).exists():
                (dst / name).rename(dst / f"{name}.copied")
    return dst


def crash_and_resume(base: Path, work: Path, fault: str) -> tuple[Run, Run]:
    """Copy `base`, run with `fault` armed (it must kill the run), let the claims expire, rerun."""
    copy_home(base, work)
    crashed = heaters(work, "run", "--quiet", fault=fault)
    wait_for_claims(work)
    resumed = heaters(work, "run", "--quiet")
    return crashed, resumed


# ------------------------------------------------------------------ snapshot


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def snapshot(home: Path) -> dict[str, Any]:
    """Everything a user could observe in the store, with clip ids replaced by stable keys
    (video, start, end, origin): two homes that went different ways to the same result compare
    equal, and ids are free to differ."""
    with db(home) as conn:
        conn.row_factory = sqlean.Row
        videos = {
            r["id"]: {k: r[k] for k in VIDEO_FIELDS}
            for r in conn.execute("SELECT * FROM source_videos ORDER BY id")
        }
        clip_rows = list(conn.execute("SELECT * FROM clips ORDER BY id"))
        key = {
            r["id"]: f"v{r['source_video_id']}:{r['start_frame']}-{r['end_frame']}:{r['origin']}"
            for r in clip_rows
        }

        video_of = {r["id"]: r["source_video_id"] for r in clip_rows}

        def keys(value: str | None) -> list[str] | None:
            return None if value is None else [key.get(i, f"?{i}") for i in json.loads(value)]

        clips = {}
        for r in clip_rows:
            k = key[r["id"]]
            assert k not in clips, f"duplicate clip {k}"
            clips[k] = {
                "state": r["state"],
                "times": (round(r["start_time_s"], 6), round(r["end_time_s"], 6)),
                "superseded_by": keys(r["superseded_by"]),
                "grouped_with": key.get(r["grouped_with_clip_id"]),
                "attempts": r["attempts"],
                "last_error": r["last_error"],
                "claimed_by": r["claimed_by"],
            }
        artifacts = {}
        for r in conn.execute("SELECT * FROM clip_artifacts ORDER BY id"):
            k = f"{key[r['clip_id']]}/{r['kind']}/{r['strategy']}/{r['tag']}"
            assert k not in artifacts, f"duplicate artifact {k}"
            path = file_of(home, r["path"])
            artifacts[k] = {
                "file": path.name,
                # the file sits in its owner's folder: the clip's, or for a view of the tile
                # store, its video's (ids themselves differ between runs, owners must not)
                "in_owner_dir": path.parent.name
                == str(
                    r["clip_id"] if path.parent.parent.name == "clips" else video_of[r["clip_id"]]
                ),
                "owner": path.parent.parent.name,
                "metadata": json.loads(r["metadata"] or "null"),
                "sha": _sha(path) if path.is_file() else None,
            }
        embeddings = {}
        for r in conn.execute("SELECT * FROM embeddings ORDER BY id"):
            k = f"{key[r['clip_id']]}/{r['model']}/{r['strategy']}"
            assert k not in embeddings, f"duplicate embedding {k}"
            vec = np.frombuffer(r["vector"], dtype=np.float32)
            embeddings[k] = {
                "dim": r["dim"],
                "vector": [round(float(x), 3) for x in vec[:16]] + [round(float(vec.sum()), 3)],
                "tags": [t[0] for t in json.loads(r["tags"] or "[]")],
            }
        events = [
            (r["id"], key.get(r["clip_id"], f"?{r['clip_id']}"), r["action"], r["payload"],
             r["committed_at"] is not None)
            for r in conn.execute("SELECT * FROM clip_events ORDER BY id")
        ]  # fmt: skip
        effects = {
            r["event_id"]: (sorted(keys(r["new_clip_ids"]) or []), r["undone_by"])
            for r in conn.execute("SELECT * FROM event_effects")
        }
    return {
        "videos": videos,
        "clips": clips,
        "artifacts": artifacts,
        "embeddings": embeddings,
        "events": events,
        "effects": effects,
    }


def diff(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Readable differences between two snapshots (empty when equal)."""
    out = []
    for section in a.keys() | b.keys():
        x, y = a.get(section), b.get(section)
        if x == y:
            continue
        if isinstance(x, dict) and isinstance(y, dict):
            for k in sorted(x.keys() | y.keys(), key=str):
                if x.get(k) != y.get(k):
                    out.append(f"{section}[{k}]: {x.get(k)} != {y.get(k)}")
        else:
            out.append(f"{section}: {x} != {y}")
    return out


# ------------------------------------------------------------------ integrity


def integrity(home: Path) -> list[str]:
    """What is wrong with a home at rest: temp files, files without a row, rows without a file,
    claims still held, duplicate rows, vector codes without an embedding, a log that does not
    replay. Empty when all is well."""
    problems: list[str] = []
    referenced: set[str] = set()
    resuming: set[str] = set()  # a download that goes on from its .part at the next attempt
    with db(home) as conn:
        for vid, path, state in conn.execute("SELECT id, filepath, state FROM source_videos"):
            if path:
                referenced.add(path)
            if state == "new":
                resuming.add(f"media/sources/{vid}/.tmp-resume")
            if state == "spliced":
                referenced.add(f"media/sources/{vid}/frames.npy")
                if file_of(home, f"media/sources/{vid}/scores.npy").exists():  # since 554aa3d
                    referenced.add(f"media/sources/{vid}/scores.npy")
                if file_of(home, f"media/sources/{vid}/tiles.bin").exists():  # the tile store
                    referenced.add(f"media/sources/{vid}/tiles.bin")
        for (path,) in conn.execute("SELECT path FROM clip_artifacts"):
            referenced.add(path)
        for table in ("source_videos", "clips"):
            n = conn.execute(
                f"SELECT COUNT(*) FROM {table} WHERE claimed_by IS NOT NULL"
            ).fetchone()
            if n[0]:
                problems.append(f"{table}: {n[0]} rows still claimed")
        dupes = conn.execute(
            "SELECT source_video_id, start_frame, end_frame, COUNT(*) FROM clips"
            " WHERE state NOT IN ('merged', 'split')"
            " GROUP BY source_video_id, start_frame, end_frame HAVING COUNT(*) > 1"
        ).fetchall()
        problems += [f"duplicate live clip {d}" for d in dupes]
        unlogged = conn.execute(
            "SELECT COUNT(*) FROM embeddings e WHERE NOT EXISTS"
            " (SELECT 1 FROM embedding_changes c WHERE c.embedding_id = e.id)"
        ).fetchone()[0]
        if unlogged:
            problems.append(f"{unlogged} embeddings missing from embedding_changes")
        orphans = conn.execute(
            "SELECT COUNT(*) FROM embeddings WHERE clip_id NOT IN (SELECT id FROM clips)"
        ).fetchone()[0]
        if orphans:
            problems.append(f"{orphans} embeddings of missing clips")
    for rel in sorted(referenced):
        path = file_of(home, rel)
        if not path.is_file() or path.stat().st_size == 0:
            problems.append(f"row points at a missing or empty file: {rel}")
    media = os.environ.get("HEATERS_MEDIA_ROOT")
    found = [(p, p.relative_to(home).as_posix()) for p in home.rglob("*")]
    if media:
        found += [(p, "media/" + p.relative_to(media).as_posix()) for p in Path(media).rglob("*")]
    for path, rel in sorted(found):
        if any(rel == r or rel.startswith(r + "/") for r in resuming):
            continue
        if path.name.startswith(".tmp-"):
            problems.append(f"temp file left behind: {rel}")
        elif path.is_file() and rel.startswith("media/") and rel not in referenced:
            problems.append(f"file without a row: {rel}")
    from heaters.store.review import check
    from heaters.store.store import Store

    store = Store.open(home)
    try:
        with store.tx(write=False) as session:
            diffs = check(session, 0.5)
    finally:
        store.close()
    problems += [f"events --check: {d}" for d in diffs]
    return problems


def trace_points(home: Path, args: tuple[str, ...] = ("run", "--quiet")) -> list[tuple[str, int]]:
    """Every (point, n) an uninterrupted run of a copy of `home` goes through, in order."""
    work = home.parent / f"{home.name}-trace"
    shutil.rmtree(work, ignore_errors=True)
    copy_home(home, work)
    trace = home.parent / f"{home.name}.trace"
    trace.unlink(missing_ok=True)
    res = heaters(work, *args, HEATERS_FAULT_TRACE=str(trace))
    assert res.code == 0, res.stderr
    points = []
    for line in trace.read_text().splitlines():
        _pid, point, n = line.split()
        points.append((point, int(n)))
    shutil.rmtree(work, ignore_errors=True)
    return points


@contextmanager
def serve(root: Path) -> Iterator[str]:
    """A static HTTP server over `root` on 127.0.0.1 for as long as the block runs; yields its
    base URL (a fixed port for the block, so a copied home's URLs stay valid)."""
    import functools
    import http.server
    import threading

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# ------------------------------------------------------------------ the crash scenario


@dataclass
class Scenario:
    """Two small videos (one local file, one URL) through every stage, in two phases.

    Phase A (`base_a`, just ingested) downloads, splices and draws sprites; phase B (`base_b` =
    phase A done + review actions with grace 0: approvals, an archive, a split) commits the
    actions, draws the split clips' sprites, keyframes and embeds. `ref_*` are the stores an
    uninterrupted run of each phase leaves behind.
    """

    base_a: Path
    base_b: Path
    ref_a: dict[str, Any]
    ref_b: dict[str, Any]
    actions: int


def make_media(www: Path) -> None:
    from heaters.synthetic import make_video

    www.mkdir(parents=True, exist_ok=True)
    make_video(www / "a.mp4", (1.0, 1.2, 0.8), width=160, height=90, seed=3)
    make_video(www / "b.mp4", (0.9, 1.1), width=160, height=90, seed=5)


def build_scenario(root: Path, url_base: str, www: Path) -> Scenario:
    """`www` holds the media (served at `url_base`); homes go under `root`."""
    if not (www / "a.mp4").exists():
        make_media(www)
    base_a = make_home(root / "base_a")
    res = heaters(base_a, "ingest", str(www / "a.mp4"), f"{url_base}/b.mp4", "--quiet")
    assert res.code == 0, res.stderr
    done_a = copy_home(base_a, root / "done_a")
    res = heaters(done_a, "run", "--quiet")
    assert res.code == 0 and not res.stderr, res.stderr
    ref_a = snapshot(done_a)
    base_b = copy_home(done_a, root / "base_b")
    clips = json.loads(heaters(base_b, "clips", "--json").stdout)
    v1 = [c["id"] for c in clips if c["source_video_id"] == 1]
    v2 = [c["id"] for c in clips if c["source_video_id"] == 2]
    assert len(v1) == 3 and len(v2) == 2, clips
    mid = next(c for c in clips if c["id"] == v1[1])
    frame = (mid["start_frame"] + mid["end_frame"]) // 2
    actions = [
        ("approve", str(v1[0])),
        ("split", str(v1[1]), "--frame", str(frame)),
        ("archive", str(v1[2])),
        ("approve", str(v2[0])),
        ("approve", str(v2[1])),
    ]
    for action in actions:
        res = heaters(base_b, "review", *action, "--quiet")
        assert res.code == 0, (action, res.stderr)
    done_b = copy_home(base_b, root / "done_b")
    res = heaters(done_b, "run", "--quiet")
    assert res.code == 0 and not res.stderr, res.stderr
    ref_b = snapshot(done_b)
    return Scenario(base_a, base_b, ref_a, ref_b, len(actions))
