"""`heaters doctor`: is everything heaters needs here, and if not, what to do about it."""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str  # the version / path when ok, what to do when not


def _ffmpeg() -> Check:
    try:
        from heaters.stages.tools import ffmpeg_exe

        exe = ffmpeg_exe()
        proc = subprocess.run(
            [exe, "-version"], capture_output=True, text=True, timeout=20, check=False
        )
        first = proc.stdout.splitlines()[0] if proc.stdout else "no output"
        return Check("ffmpeg", proc.returncode == 0, f"{first} ({exe})")
    except Exception as exc:
        return Check(
            "ffmpeg", False, f"{exc}; reinstall: pip install --force-reinstall imageio-ffmpeg"
        )


def _pyav() -> Check:
    try:
        import av

        libs = getattr(av, "ffmpeg_version_info", "?")
        return Check("PyAV", True, f"av {av.__version__} (FFmpeg libraries {libs})")
    except Exception as exc:
        return Check("PyAV", False, f"{exc}; reinstall: pip install --force-reinstall av")


def _onnxruntime() -> Check:
    try:
        import onnxruntime as ort

        return Check(
            "onnxruntime", True, f"{ort.__version__} ({', '.join(ort.get_available_providers())})"
        )
    except Exception as exc:
        return Check("onnxruntime", False, f"{exc}; reinstall: pip install onnxruntime")


def _sqlite() -> Check:
    try:
        import sqlean
        import sqlite_vec

        conn = sqlean.connect(":memory:")
        conn.enable_load_extension(True)
        sqlite_vec.load(conn)
        sqlite_v, vec_v = conn.execute("SELECT sqlite_version(), vec_version()").fetchone()
        return Check(
            "SQLite + sqlite-vec", True, f"SQLite {sqlite_v} (sqlean.py), sqlite-vec {vec_v}"
        )
    except Exception as exc:
        return Check(
            "SQLite + sqlite-vec", False, f"{exc}; reinstall: pip install sqlean.py sqlite-vec"
        )


def _ytdlp() -> Check:
    """yt-dlp with its default extras (`pip install "yt-dlp[default]"`): yt-dlp-ejs carries the
    JavaScript YouTube's signatures need; the others are its networking and merging helpers."""
    import importlib

    try:
        import yt_dlp.version

        version = yt_dlp.version.__version__
    except Exception as exc:  # noqa: BLE001
        return Check("yt-dlp", False, f"{exc}; install: pip install 'yt-dlp[default]'")
    from heaters.stages.ytdlp import DEFAULT_EXTRAS

    missing = []
    for module, package in DEFAULT_EXTRAS.items():
        try:
            importlib.import_module(module)
        except Exception:  # noqa: BLE001 - missing or broken: either way not usable
            missing.append(package)
    if missing:
        return Check(
            "yt-dlp",
            False,
            f"yt-dlp {version} lacks its default extras ({', '.join(missing)});"
            " install: pip install 'yt-dlp[default]'",
        )
    return Check("yt-dlp", True, f"yt-dlp {version} with its default extras (yt-dlp-ejs …)")


def _js_runtime() -> Check:
    """The JavaScript runtime yt-dlp is given for YouTube: the `deno` package's binary, as
    yt-dlp itself sees it (its version check)."""
    from heaters.stages.ytdlp import js_runtime_info

    info = js_runtime_info()
    if info.path is None:
        return Check(
            "JavaScript runtime",
            False,
            "no Deno binary; install: pip install deno (YouTube needs it)",
        )
    if not info.supported:
        seen = f"version {info.version}" if info.version else "it does not run"
        return Check(
            "JavaScript runtime",
            False,
            f"yt-dlp cannot use {info.path} ({seen}); reinstall: pip install --upgrade deno",
        )
    return Check("JavaScript runtime", True, f"deno {info.version} ({info.path}), given to yt-dlp")


def _ytdlp_options(home: Path) -> Check:
    """The operator's yt-dlp options in config.toml (cookies, proxy, rate limit, format)."""
    from heaters.settings import ConfigError, load, ytdlp_params

    try:
        settings = load(home)
        params = ytdlp_params(settings)
    except ConfigError as exc:
        return Check("yt-dlp options", False, f"{exc}; fix it with heaters config KEY VALUE")
    shown = []
    if "cookiefile" in params:
        shown.append(f"cookies from {params['cookiefile']}")
    if "cookiesfrombrowser" in params:
        shown.append(f"cookies from {settings.cookies_from_browser}")
    if "proxy" in params:
        shown.append(f"proxy {params['proxy'] or 'none (direct)'}")
    if "ratelimit" in params:
        shown.append(f"rate limit {settings.rate_limit}/s")
    shown.append(f"retries {settings.retries}")
    shown.append(f"format {settings.ytdlp_format}")
    return Check("yt-dlp options", True, "; ".join(shown))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _models() -> list[Check]:
    from heaters.stages.models import models_dir

    directory = models_dir()
    sums_file = directory / "SHA256SUMS"
    expected: dict[str, str] = {}
    if sums_file.exists():
        for line in sums_file.read_text().splitlines():
            parts = line.split()
            if len(parts) == 2:
                expected[parts[1].lstrip("*")] = parts[0]
    checks = []
    for name in ("efficientnet_lite0.onnx", "minilm_l6_v2_int8.onnx", "imagenet_labels.txt",
                 "minilm_vocab.txt", "imagenet_label_text.npy", "transnetv2.onnx"):  # fmt: skip
        path = directory / name
        if not path.exists():
            checks.append(
                Check(
                    f"model {name}",
                    False,
                    f"missing in {directory}; set $HEATERS_MODELS_DIR "
                    "to the repository's models/ folder",
                )  # fmt: skip
            )
            continue
        digest = _sha256(path)
        want = expected.get(name)
        if want and want != digest:
            checks.append(
                Check(f"model {name}", False, f"sha256 {digest[:16]}… differs from SHA256SUMS")
            )
        else:
            checks.append(
                Check(
                    f"model {name}",
                    True,
                    f"sha256 {digest[:16]}… ({path.stat().st_size // 1024} KiB)",
                )
            )
    return checks


def _home(home: Path) -> Check:
    try:
        home.mkdir(parents=True, exist_ok=True)
        probe = home / f".doctor-{uuid.uuid4().hex}"
        probe.write_bytes(b"ok")
        probe.unlink()
        free = os.statvfs(home)
        gib = free.f_bavail * free.f_frsize / 2**30
        return Check("home folder", True, f"{home} writable, {gib:.1f} GiB free")
    except OSError as exc:
        return Check(
            "home folder", False, f"{home}: {exc.strerror or exc}; choose another with --home"
        )


def _database(home: Path) -> Check:
    """SQLite's own integrity check over the home's database, read-only; or, with a
    `database_url`, whether the PostgreSQL server answers and at which schema."""
    from heaters.store import location

    url = location.database_url(home)
    if url:
        return _postgres(url)
    db = home / "heaters.db"
    if not db.exists():
        return Check("database", True, f"{db}: none yet (made on first use)")
    try:
        import sqlean

        conn = sqlean.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
        try:
            rows = [str(r[0]) for r in conn.execute("PRAGMA integrity_check(5)").fetchall()]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        finally:
            conn.close()
    except Exception as exc:  # noqa: BLE001 - not a database, unreadable, locked
        return Check("database", False, f"{db}: {exc}; restore it from a backup")
    if rows != ["ok"]:
        problems = "; ".join(r.replace("\n", " ") for r in rows)[:300]
        return Check("database", False, f"{db} is damaged ({problems}); restore it from a backup")
    return Check("database", True, f"{db}: integrity ok (schema {version})")


# Beyond this, a lease (120 s by default) of one machine could be taken back early by another.
MAX_CLOCK_SKEW_S = 5.0


def _postgres(url: str) -> Check:
    from heaters.domain.text import driver_line
    from heaters.store.store import redact

    where = redact(url)
    try:
        from sqlalchemy import text

        from heaters.store.db import is_postgres_url, make_pg_engine
        from heaters.store.migrations import pg_version

        if not is_postgres_url(url):
            return Check("database", False, f"database_url {where} is not a postgresql:// URL")
        engine = make_pg_engine(url)
        try:
            with engine.connect() as conn:
                server = str(conn.execute(text("SHOW server_version")).scalar())
                version = pg_version(conn)
                before = time.time()
                theirs = float(
                    conn.execute(text("SELECT extract(epoch FROM clock_timestamp())")).scalar()
                )
                skew = theirs - (before + time.time()) / 2
        finally:
            engine.dispose()
    except Exception as exc:  # noqa: BLE001 - unreachable, refused, no driver
        return Check("database", False, f"{where}: {driver_line(exc)}")
    schema = f"schema {version}" if version else "no schema yet (made on first use)"
    if abs(skew) > MAX_CLOCK_SKEW_S:  # leases are compared with each machine's own clock
        return Check(
            "database",
            False,
            f"PostgreSQL {server} at {where}: this machine's clock is {skew:+.0f} s off the"
            " server's; claims across machines assume synchronised clocks: enable NTP",
        )
    return Check("database", True, f"PostgreSQL {server} at {where}: {schema}")


# What `similar` / `search` do on PostgreSQL, whether or not the server has pgvector: the same
# exact in-process search as on SQLite (heaters.store.vectors; benchmarks/README.md "Vectors on
# PostgreSQL" says why pgvector's HNSW and exact scans were measured and not chosen).
_PG_VECTORS = (
    "similar/search score every vector exactly in the searching process"
    " (~5 KB of memory per embedded clip, read from the server on its first search)"
)


def _vector_extension(home: Path) -> list[Check]:
    """On PostgreSQL: whether the server has the `vector` extension, and what search does
    without it (one line; nothing when the server does not answer: `_database` says so)."""
    from heaters.store.db import is_postgres_url, make_pg_engine
    from heaters.store.location import database_url

    url = database_url(home)
    if not url or not is_postgres_url(url):
        return []
    name = "PostgreSQL vectors"
    try:
        engine = make_pg_engine(url)
        try:
            with engine.connect() as conn:
                version = str(conn.exec_driver_sql("SHOW server_version").scalar_one())
                installed = conn.exec_driver_sql(
                    "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
                ).scalar()
                available = conn.exec_driver_sql(
                    "SELECT default_version FROM pg_available_extensions WHERE name = 'vector'"
                ).scalar()
        finally:
            engine.dispose()
    except Exception:  # noqa: BLE001 - unreachable, refused: the "database" check says why
        return []
    server = f"PostgreSQL {version.split()[0]}"
    if installed or available:
        state = "installed" if installed else "available"
        what = f"{server}, vector extension {installed or available} {state} but not used"
    else:
        what = f"{server} has no vector extension (pgvector), and none is needed"
    return [Check(name, True, f"{what}: {_PG_VECTORS}")]


def _terminal() -> Check:
    from heaters.tui.images import multiplexed

    if multiplexed(os.environ):
        return Check("terminal images", True, "half-block characters (tmux/screen/ssh)")
    term = os.environ.get("TERM_PROGRAM") or os.environ.get("TERM") or "unknown"
    return Check(
        "terminal images",
        True,
        f"auto-detected at review start ({term}); --images halfcell always works",
    )


def run_checks(home: Path) -> list[Check]:
    return [
        *(_ffmpeg(), _pyav(), _onnxruntime(), _sqlite()),
        *(_ytdlp(), _js_runtime(), _ytdlp_options(home)),
        *_models(),
        *(_home(home), _database(home), *_vector_extension(home), _terminal()),
    ]
