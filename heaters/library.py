"""The library: one object for everything heaters does to a home, under the CLI and the review
screen alike, and what tests drive in-process.

`Library.open(home)` names a home; the store is opened on first use (the quick listings,
`status` and `clips`, read through `heaters.store.reads` and never open it). Each method is one
operation: it validates its input (`BadInput`, nothing written), does the work through the store,
the runner and the stages, and returns a typed result. Nothing here prints, parses arguments or
draws: the edges (`heaters/_cli/`, `heaters/tui/`) do that with what is returned.

Module level stays light (the stdlib, pure heaters modules, the quick read path): `heaters status`
imports this module and must not load SQLAlchemy, numpy or the media stack
(tests/test_quick.py). Each method imports what it needs.
"""

from __future__ import annotations

import datetime as dt
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from heaters.domain.review import Waiting
from heaters.domain.states import SUPERSEDED, ClipState
from heaters.domain.text import driver_line, iso, one_line
from heaters.errors import BadInput, OperationFailed
from heaters.settings import ConfigError, Settings, load
from heaters.store import reads
from heaters.store.home import ENV_HOME, Home, default_home

if TYPE_CHECKING:
    from heaters.runner.dispatch import RunReport
    from heaters.runner.progress import Reporter
    from heaters.store.review import Appended, ReviewConfig
    from heaters.store.store import Store
    from heaters.store.tables import Clip, ClipEvent, SourceVideo

# Which clip states `export --state` takes.
EXPORT_STATES: dict[str, tuple[str, ...] | None] = {
    "approved": ("review_approved", "keyframing", "keyframed", "embedding", "embedded",
                 "keyframe_failed", "embedding_failed"),
    "embedded": ("embedded",),
    "all": None,
}  # fmt: skip
IMAGE_MODES = ("auto", "tgp", "sixel", "halfcell", "none")
SCENE_FORMATS = ("csv", "edl", "json")


# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class Counts:
    """Clips and videos per state: the summary `status`, `run` and `demo` end with."""

    videos: dict[str, int]
    clips: dict[str, int]

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {"videos": self.videos, "clips": self.clips}


@dataclass(frozen=True)
class Status:
    home: Path
    counts: Counts
    failed_videos: list[dict[str, Any]]  # next_attempt_at in ISO 8601
    failed_clips: list[dict[str, Any]]
    waiting: Waiting  # review actions in their grace period
    time: list[dict[str, Any]]  # where the time goes, per step (store.step_runs.totals)


@dataclass(frozen=True)
class Acted:
    """A review decision appended: the event, what it replaces, and notes the rules made."""

    event_id: int
    clip_id: int
    action: str
    payload: dict[str, Any] | None
    description: str
    replaces: list[dict[str, Any]]  # {"event_id", "action"} of decisions that no longer apply
    notes: list[str]
    noted: Appended = field(repr=False, compare=False)


@dataclass(frozen=True)
class Undone:
    event_id: int  # the undo event
    undid: int  # the event undone
    action: str
    clip_id: int
    restored_clip_ids: list[int]
    removed_clip_ids: list[int]


@dataclass
class RunOutcome:
    report: RunReport
    counts: Counts
    waiting: Waiting
    steps: list[dict[str, Any]]  # this run's time per step

    @property
    def failed(self) -> bool:
        """An item reached a failed state in this run (exit 1; docs/robustness.md)."""
        return any(f.final for f in self.report.failures)


class Refused(BadInput):
    """A review decision or undo the rules refuse (nothing written); `reason` is the rules' own
    ReviewRefused, whose one line the review screen shows under its own title."""

    def __init__(self, message: str, reason: Exception) -> None:
        super().__init__(message)
        self.reason = reason


class WaitInterrupted(Exception):
    """Ctrl-C while `run` waited for review actions in their grace period: they stay pending."""


@dataclass(frozen=True)
class Ingested:
    """What `ingest` registered, and the order to tell it in: ("video", row), ("playlist",
    sources.Registered) and ("follow", {"url", "id", "every_h"}) items."""

    rows: list[dict[str, Any]]
    items: list[tuple[str, Any]]
    warnings: list[str]
    failed: bool  # a URL to follow could not be read


@dataclass(frozen=True)
class GcResult:
    dry_run: bool
    bytes: int
    files: int
    artifact_rows: int
    embedding_rows: int
    clips: int
    summary: dict[str, Any]  # the plan's summary (by reason), as `gc --json` prints it

    @property
    def nothing(self) -> bool:
        return not self.files and not self.artifact_rows and not self.embedding_rows


@dataclass(frozen=True)
class Searched:
    rows: list[dict[str, Any]]  # best first, as `search --json` prints them
    classes: list[str]  # what the query was taken to mean, best-weighted first


@dataclass(frozen=True)
class Exported:
    rows: list[dict[str, Any]]

    @property
    def failed(self) -> bool:
        return any(r["status"] == "failed" for r in self.rows)


@dataclass(frozen=True)
class Removal:
    video_id: int
    title: str | None
    clips: int
    artifacts: int
    embeddings: int
    events_kept: int = 0

    def describe(self) -> str:
        return (
            f"video {self.video_id} ({self.title or 'untitled'}): {self.clips} clips,"
            f" {self.artifacts} sprites/keyframes, {self.embeddings} embeddings and its media"
            " files"
        )


@dataclass(frozen=True)
class Demo:
    home: Path
    video_id: int
    true_cuts: list[int]
    merged_cuts: int
    min_clip_s: float | None
    clips: list[dict[str, Any]]
    run: RunOutcome


# ---------------------------------------------------------------- JSON shapes


def video_dict(v: SourceVideo) -> dict[str, Any]:
    return {
        "id": v.id,
        "url": v.url,
        "local_path": v.local_path,
        "title": v.title,
        "state": v.state,
        "attempts": v.attempts,
        "last_error": v.last_error,
        "next_attempt_at": iso(v.next_attempt_at),
        "filepath": v.filepath,
        "duration_s": v.duration_s,
        "fps": v.fps,
        "frame_count": v.frame_count,
        "width": v.width,
        "height": v.height,
        "codec": v.codec,
        "detector": v.detector,
        "detector_params": v.detector_params,
        "metadata": v.source_meta,
        "created_at": iso(v.created_at),
        "key": v.source_key,
        "uploader": v.uploader,
        "upload_date": v.upload_date,
        "description": v.description,
        "chapters": v.chapters,
        "follow_id": v.follow_id,
    }


def clip_dict(c: Clip | reads.ClipRow) -> dict[str, Any]:
    return {
        "id": c.id,
        "source_video_id": c.source_video_id,
        "state": c.state,
        "start_frame": c.start_frame,
        "end_frame": c.end_frame,
        "start_time_s": round(c.start_time_s, 4),
        "end_time_s": round(c.end_time_s, 4),
        "duration_s": round(c.end_time_s - c.start_time_s, 4),
        "origin": c.origin,
        "grouped_with_clip_id": c.grouped_with_clip_id,
        "superseded_by": c.superseded_by,
        "attempts": c.attempts,
        "last_error": c.last_error,
    }


def follow_dict(f: Any, count: int) -> dict[str, Any]:
    return {
        "id": f.id,
        "url": f.url,
        "title": f.title,
        "state": f.state,
        "since": f.since,
        "videos": count,
        "last_checked_at": iso(f.last_checked_at),
        "last_new": f.last_new,
        "next_check_at": iso(f.next_attempt_at),
        "attempts": f.attempts,
        "last_error": f.last_error,
    }


def check_detector(detector: str | None, threshold: float | None, where: str = "") -> None:
    """Refuse a detector or threshold no splice could use, before any work (exit 2); `where`
    ends the line (where the threshold came from)."""
    from heaters.domain.scenes import check_detector as check

    try:
        check(detector, threshold)
    except ValueError as exc:
        raise BadInput(f"{exc}{where}") from exc


def _sha256(path: Path, task: Any) -> str:
    import hashlib

    digest = hashlib.sha256()
    done = 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            done += len(block)
            task.update(done)
    return digest.hexdigest()


# ---------------------------------------------------------------- the library

# Libraries whose store is open (opened on first use, by them): `close_all` closes them when a
# command ends, so that the database is closed (SQLite's WAL merged) before the process exits.
_OPEN: weakref.WeakSet[Library] = weakref.WeakSet()


def close_all() -> None:
    """Close every library that opened its store (a command's end; idempotent)."""
    for lib in list(_OPEN):
        lib.close()


class Library:
    """One home: its store (opened on first use), its settings, its review rules."""

    def __init__(
        self,
        root: Path,
        *,
        store: Store | None = None,
        review: ReviewConfig | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.root = root
        self._store = store
        self._review = review
        self.clock = clock

    @classmethod
    def open(cls, home: Path | None = None) -> Library:
        """The library at `home` (default: $HEATERS_HOME's or the platform's)."""
        return cls(Path(home) if home is not None else default_home())

    @classmethod
    def over(
        cls,
        store: Store,
        *,
        review: ReviewConfig | None = None,
        clock: Callable[[], float] = time.time,
    ) -> Library:
        """A library on a store already open (the review screen's, a test's)."""
        return cls(store.home.root, store=store, review=review, clock=clock)

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        _OPEN.discard(self)
        if self._store is not None:
            self._store.close()
            self._store = None

    @property
    def store(self) -> Store:
        if self._store is None:
            from heaters.store.store import NotAFolder, Store, StoreError

            try:
                self._store = Store.open(self.root)
            except NotAFolder as exc:
                raise BadInput(str(exc)) from exc
            except StoreError as exc:
                raise OperationFailed(str(exc)) from exc
            _OPEN.add(self)
        return self._store

    @property
    def home(self) -> Home:
        return self.store.home

    def settings(self, **overrides: Any) -> Settings:
        """The home's config.toml with command-line overrides (a bad value: BadInput)."""
        root = self._store.home.root if self._store else self.root.expanduser().absolute()
        try:
            return load(root).with_overrides(**overrides)
        except ConfigError as exc:
            raise BadInput(str(exc)) from exc

    def review_config(self) -> ReviewConfig:
        if self._review is not None:
            return self._review
        from heaters.store.review import ReviewConfig

        return ReviewConfig.of(self.home, self.settings())

    @contextmanager
    def _reading(self) -> Iterator[tuple[Path, Any]]:
        """One read transaction for a listing: the quick read path (plain SQL, read-only) when
        the home is ready for it, else the full store, which migrates or refuses as usual."""
        if self._store is None:
            with reads.open_reader(self.root) as reader:
                if reader is not None:
                    yield reader.home.root, reader
                    return
        with self.store.tx(write=False) as session:
            yield self.home.root, session

    # ------------------------------------------------------------ listings

    def counts(self) -> Counts:
        with self._reading() as (_root, db):
            return Counts(reads.counts(db, "source_videos"), reads.counts(db, "clips"))

    def status(self) -> Status:
        from heaters.store import step_runs

        grace_s = self.settings().grace_s
        with self._reading() as (root, db):
            counts = Counts(reads.counts(db, "source_videos"), reads.counts(db, "clips"))
            failed = {t: reads.failures(db, t) for t in ("source_videos", "clips")}
            young = reads.waiting(db, grace_s)
            spent = step_runs.totals(db)
        for rows in failed.values():  # times are ISO 8601 everywhere
            for row in rows:
                row["next_attempt_at"] = iso(row["next_attempt_at"])  # type: ignore[arg-type]
        return Status(root, counts, failed["source_videos"], failed["clips"], young, spent)

    def clips(self, video: int | None = None, state: str | None = None) -> list[dict[str, Any]]:
        """Clips in (video, start) order, as `clips --json` prints them, with their tags."""
        if state is not None and state not in {s.value for s in ClipState}:
            raise BadInput(f"unknown clip state {state!r}")
        with self._reading() as (_root, db):
            rows = [clip_dict(c) for c in reads.clip_rows(db, video, [state] if state else None)]
            tags = reads.tags_by_clip(db, [r["id"] for r in rows])
        for r in rows:
            r["tags"] = tags.get(r["id"], [])
        return rows

    def videos(self) -> list[dict[str, Any]]:
        from heaters.store import videos

        with self.store.tx(write=False) as session:
            return [video_dict(v) for v in videos.all_videos(session)]

    def video(self, video_id: int) -> dict[str, Any]:
        """Everything known about one source video, and how many live clips it has."""
        from heaters.store import clips, videos

        with self.store.tx(write=False) as session:
            v = videos.get(session, video_id)
            if v is None:
                raise BadInput(f"no video {video_id}")
            data = video_dict(v)
            data["clips"] = sum(
                1 for c in clips.list_clips(session, video_id) if c.state not in SUPERSEDED
            )
        return data

    def clip_report(self, clip_id: int) -> dict[str, Any]:
        """`show`: one clip's history, artifacts, tags and similar clips."""
        from heaters.clipinfo import clip_report

        model = self.settings().model
        with self.store.tx(write=False) as session:
            report = clip_report(session, clip_id, model)
        if report is None:
            raise BadInput(f"no clip {clip_id}")
        return report

    def events(self, clip: int | None = None) -> list[dict[str, Any]]:
        """The review log with each event's outcome (oldest first)."""
        from heaters.store import review

        self.settings()  # a config.toml broken by hand is refused here too, in one line
        with self.store.tx(write=False) as session:
            return review.history(session, clip)

    def check_events(self) -> list[dict[str, Any]]:
        """Clips whose review state the event log does not explain (none: the log is whole)."""
        from heaters.store import review

        min_clip_s = self.settings().min_clip_s
        with self.store.tx(write=False) as session:
            return review.check(session, min_clip_s)

    def scenes(self, video_id: int, fmt: str = "csv") -> str:
        """A video's live clips as CSV (PySceneDetect's columns), EDL (CMX3600) or JSON."""
        from heaters.domain import scenelist
        from heaters.store import clips, videos

        if fmt not in SCENE_FORMATS:
            raise BadInput(f"unknown --format {fmt!r} (csv, edl or json)")
        with self.store.tx(write=False) as session:
            video = videos.get(session, video_id)
            if video is None:
                raise BadInput(f"no video {video_id}")
            live = [c for c in clips.list_clips(session, video_id) if c.state not in SUPERSEDED]
            fps = video.fps or 0.0
            title = video.title or f"video {video_id}"
        if not live or fps <= 0:
            raise BadInput(
                f"video {video_id} has no clips yet ({video.state}); run heaters run first"
            )
        if fmt == "csv":
            text = scenelist.to_csv(live, fps)
        elif fmt == "edl":
            names = [f"clip {c.id}" for c in live]
            text = scenelist.to_edl(live, fps, title=title, clip_names=names)
        else:
            text = scenelist.to_json(live, fps, clip_ids=[c.id or 0 for c in live])
        return text if text.endswith("\n") else text + "\n"

    def follows(self) -> list[dict[str, Any]]:
        from heaters.store import follows

        with self.store.tx(write=False) as session:
            return [follow_dict(r["follow"], r["videos"]) for r in follows.listing(session)]

    # ------------------------------------------------------------ review

    def check_review(self, video: int | None = None) -> None:
        """Before the review screen opens: a damaged database or an unknown video, in one line."""
        from sqlalchemy import text

        from heaters.store import videos

        with self.store.tx(write=False) as session:
            check = (
                "ok"
                if self.store.is_postgres
                else session.execute(text("PRAGMA quick_check(1)")).scalar()
            )
            if check != "ok":
                raise OperationFailed(
                    f"the database is damaged ({one_line(str(check), 200)}); restore heaters.db"
                    " from a backup"
                )
            if video is not None and videos.get(session, video) is None:
                raise BadInput(f"no video {video}")

    def act(self, clip_id: int, action: str, payload: dict[str, Any] | None = None) -> Acted:
        """Append a review decision (refused by the rules: BadInput, nothing written)."""
        from heaters.domain.review import ReviewRefused, describe
        from heaters.store import review

        cfg = self.review_config()
        try:
            with self.store.tx() as session:
                noted = review.append_noted(session, clip_id, action, payload, cfg, self.clock())
        except ReviewRefused as exc:
            raise Refused(str(exc), exc) from exc
        event = noted.event
        replaces = [
            {"event_id": e.id, "action": describe(e.action, e.clip_id, e.payload)}
            for e in noted.replaced
        ]
        return Acted(
            event_id=event.id or 0, clip_id=clip_id, action=action,
            payload=dict(event.payload) if event.payload is not None else None, description=describe(action, clip_id, event.payload),
            replaces=replaces, notes=list(noted.notes), noted=noted,
        )  # fmt: skip

    def undo(self, event_id: int | None = None) -> Undone:
        """Undo a review action (default: the reviewer's newest), committed or not, and delete
        the files it made; where that is no longer possible, BadInput says why."""
        from heaters.domain.review import ReviewRefused
        from heaters.store import review

        cfg = self.review_config()
        try:
            with self.store.tx() as session:
                outcome = review.undo(session, cfg, self.clock(), event_id)
        except ReviewRefused as exc:
            raise Refused(f"cannot undo: {exc}", exc) from exc
        for path in outcome.files_to_delete:  # after the commit: no row points at them
            path.unlink(missing_ok=True)
        target: ClipEvent = outcome.target
        return Undone(
            event_id=outcome.event.id or 0, undid=target.id or 0, action=target.action,
            clip_id=target.clip_id, restored_clip_ids=list(outcome.restored_clip_ids),
            removed_clip_ids=list(outcome.removed_clip_ids),
        )  # fmt: skip

    def review_queue(self, video_id: int | None = None) -> list[Clip]:
        """Clips waiting for review, in (video, start) order."""
        from heaters.store import review

        with self.store.tx(write=False) as session:
            return review.queue(session, video_id)

    def recent(self, limit: int = 8) -> list[tuple[ClipEvent, Any]]:
        """The reviewer's newest actions, each with its outcome (the store's one answer)."""
        from heaters.store import review

        reviewer = self.review_config().reviewer
        with self.store.tx(write=False) as session:
            rows = review.recent(session, reviewer, limit=limit)
            status = review.outcomes(session)
        return [(e, status[e.id or 0]) for e in rows]

    def min_frames(self, video_id: int) -> int:
        """The shortest clip a split may leave, in frames (the store's own rule)."""
        from heaters.store import review

        with self.store.tx(write=False) as session:
            return review.min_len(session, video_id, self.review_config().min_clip_s)

    # ------------------------------------------------------------ pipeline

    def ingest(
        self,
        sources: list[str],
        *,
        limit: int | None = None,
        since: str | None = None,
        follow: bool = False,
        reporter: Reporter | None = None,
    ) -> Ingested:
        """Register videos: files by content hash; URLs through a flat yt-dlp extraction (one
        child process for all), playlists into their entries; `follow` remembers the URLs."""
        from heaters.domain.entries import BadDate, parse_since
        from heaters.domain.sources import InvalidSource, parse_source
        from heaters.runner.progress import NullReporter
        from heaters.settings import ytdlp_params

        rep = reporter if reporter is not None else NullReporter()
        parsed = []
        for text in sources:
            try:
                parsed.append(parse_source(text))
            except InvalidSource as exc:
                raise BadInput(f"{exc} (give an http(s) URL or an existing video file)") from exc
        try:
            since_date = parse_since(since, dt.date.today()) if since is not None else None
        except BadDate as exc:
            raise BadInput(str(exc)) from exc
        if follow and any(s.kind == "file" for s in parsed):
            raise BadInput("--follow takes URLs (a channel, playlist, feed or page), not files")
        store = self.store
        settings = self.settings()
        urls = [s.value for s in parsed if s.kind == "url"]
        if urls:
            try:
                ytdlp_params(settings)  # a bad option is refused before any request
            except ConfigError as exc:
                raise BadInput(str(exc)) from exc
        from heaters.runner.context import RunContext
        from heaters.runner.sources import download_limits, probe, register_result
        from heaters.stages.ytdlp import file_key, url_key
        from heaters.store import follows, videos

        limits = download_limits(RunContext(store=store, settings=settings))
        keys: dict[str, str] = {}
        results: dict[str, dict[str, Any]] = {}
        for s in parsed:
            if s.kind == "file":
                task = rep.task(f"hashing {Path(s.value).name}", Path(s.value).stat().st_size,
                                "bytes")  # fmt: skip
                keys[s.value] = file_key(_sha256(Path(s.value), task))
                task.close()
        if urls:
            task = rep.task(f"looking at {len(urls)} URL(s)", None, "urls")
            try:
                # a followed URL is listed whole: what is not taken now is marked seen
                got = probe(settings, list(dict.fromkeys(urls)), limits,
                            limit=None if follow else limit, since=since_date)  # fmt: skip
            except Exception as exc:  # the child could not run at all (a stall, no room)
                raise OperationFailed(
                    f"cannot look at the URLs: {one_line(str(exc), 300)}"
                ) from exc
            finally:
                task.close()
            results = {r["url"]: r for r in got}
        rows: list[dict[str, Any]] = []
        items: list[tuple[str, Any]] = []
        warnings: list[str] = []
        failed = False
        now = self.clock()
        every_s = settings.follow_every_h * 3600
        with store.tx() as session:
            for s in parsed:
                if s.kind == "file":
                    row, created = videos.register(session, s, key=keys[s.value])
                    rows.append({"id": row.id, "source": s.value, "created": created,
                                 "state": row.state, "key": row.source_key, "title": row.title,
                                 "playlist": None, "follow_id": None})  # fmt: skip
                    items.append(("video", rows[-1]))
                    continue
                result = results[s.value]
                if result["kind"] == "error":
                    if follow:
                        warnings.append(
                            f"cannot follow {s.value}: {one_line(result['error'], 300)}"
                        )
                        failed = True
                        continue
                    # what yt-dlp cannot read now is registered as one video: the download says why
                    warnings.append(
                        f"could not look inside {s.value} ({one_line(result['error'], 200)});"
                        " registered as one video"
                    )
                    result = {"url": s.value, "kind": "video",
                              "video": {"key": url_key(s.value), "url": s.value}}  # fmt: skip
                follow_id = None
                if follow:
                    f, _made = follows.add(session, s.value, None, since_date, now + every_s)
                    follow_id = f.id
                got_one = register_result(
                    session, result, since=since_date, limit=limit, follow_id=follow_id
                )
                rows += got_one.rows
                if follow_id is not None:  # this was a check: the next one is follow_every_h away
                    new = sum(1 for r in got_one.rows if r["created"])
                    follows.checked(session, follow_id, now, now + every_s, new, got_one.title)
                if got_one.kind == "playlist":
                    items.append(("playlist", got_one))
                items += [("video", r) for r in got_one.rows]
                if follow:
                    items.append(
                        (
                            "follow",
                            {"url": s.value, "id": follow_id, "every_h": settings.follow_every_h},
                        )  # fmt: skip
                    )
        return Ingested(rows, items, warnings, failed)

    def run_settings(self, **flags: Any) -> Settings:
        """The settings `run` would work with; anything it could not use is refused (BadInput)
        before any work: bad flags before the home is even opened."""
        from heaters.settings import resolve_model, ytdlp_params

        try:
            Settings().with_overrides(**flags)
        except ConfigError as exc:
            raise BadInput(str(exc)) from exc
        self.store  # noqa: B018 - opens (creates, migrates) the home, or refuses in one line
        settings = self.settings(**flags)
        where = " (the threshold is config.toml's)" if flags.get("threshold") is None else ""
        check_detector(settings.detector, settings.threshold, where)
        try:
            ytdlp_params(settings)  # a cookies file gone since: refused before any work
            resolve_model(settings)  # a model that cannot load would fail every clip it reaches
        except ConfigError as exc:
            raise BadInput(str(exc)) from exc
        return settings

    def take_run_lock(self) -> bool:
        """Held until the process exits: overlapping crons skip instead of piling up (a file lock
        in the home on SQLite, an advisory lock per host on PostgreSQL). False when another run
        holds it."""
        from heaters import owner
        from heaters.store import runlock

        return runlock.take(self.store, owner.host_name())

    def run(
        self,
        settings: Settings | None = None,
        *,
        once: bool = False,
        reporter: Callable[[], Any] | None = None,
        on_wait: Callable[[Waiting, float], None] | None = None,
        on_wait_end: Callable[[], None] | None = None,
    ) -> RunOutcome:
        """Run every due step (`once`: one pass). Without `once`, review actions still in their
        grace period are waited for (`on_wait(waiting, seconds_left)` about once a second), then
        committed and carried on; Ctrl-C in that wait raises WaitInterrupted."""
        from heaters.runner.context import RunContext
        from heaters.runner.dispatch import run as dispatch_run
        from heaters.runner.progress import NullReporter
        from heaters.runner.review_commit import wait_for_young
        from heaters.store import review, status, step_runs

        settings = settings if settings is not None else self.run_settings()
        make = reporter if reporter is not None else NullReporter
        rep: Any = make()  # a context manager: bars shown while it is entered
        ctx = RunContext(store=self.store, settings=settings, reporter=rep)
        with rep:
            report = dispatch_run(ctx, once=once, workers=settings.workers)
        while not once:  # wait for actions in their grace period, then commit and go on
            try:
                again = wait_for_young(ctx, on_wait or (lambda w, left: None))
            except KeyboardInterrupt:
                raise WaitInterrupted() from None
            finally:
                if on_wait_end is not None:
                    on_wait_end()
            if not again:
                break
            ctx.reporter = rep = make()
            with rep:
                more = dispatch_run(ctx, once=False, workers=settings.workers)
            report.merge(more)
            report.failures, report.notes = more.failures, more.notes
        with self.store.tx(write=False) as session:
            counts = Counts(
                status.counts(session, "source_videos"), status.counts(session, "clips")
            )
            young = review.waiting(session, settings.grace_s)
            steps = step_runs.totals(session, ctx.run_id)
        return RunOutcome(report, counts, young, steps)

    def resplice(
        self,
        video_id: int,
        *,
        detector: str | None = None,
        threshold: float | None = None,
        min_clip_s: float | None = None,
    ) -> Any:
        """Cut a video again from its stored per-frame scores, if nobody reviewed its clips."""
        from heaters.runner.resplice import RespliceRefused
        from heaters.runner.resplice import resplice as do_resplice

        try:  # the ranges `run` and `config` hold them to, checked as run's flags are
            Settings().with_overrides(threshold=threshold, min_clip_s=min_clip_s)
        except ConfigError as exc:
            raise BadInput(str(exc)) from exc
        check_detector(detector, threshold)
        try:
            return do_resplice(
                self.store, video_id, detector=detector, threshold=threshold,
                min_clip_s=min_clip_s,
            )  # fmt: skip
        except RespliceRefused as exc:
            raise BadInput(str(exc)) from exc

    def retry(self, ids: list[int] | None = None, clip: bool = False) -> list[tuple[str, int]]:
        """Re-open failed videos (or clips): all of them, or the ids given."""
        from heaters.store import claims

        with self.store.tx() as session:
            if not ids:
                reopened = claims.retry_failed(session, self.clock())
            elif clip:
                reopened = claims.retry_failed(session, self.clock(), clip_ids=list(ids))
            else:
                reopened = claims.retry_failed(session, self.clock(), video_ids=list(ids))
        if ids and not reopened:
            what = "clip" if clip else "video"
            raise BadInput(f"no failed {what} among {', '.join(map(str, ids))}")
        return list(reopened)

    def demo(self, on_make: Callable[[], None] | None = None) -> Demo:
        """A short synthetic video with known cuts, registered and run through the pipeline."""
        from heaters.domain.sources import parse_source
        from heaters.store import clips, videos
        from heaters.synthetic import make_video

        video_path = self.home.root / "demo-input" / "demo.mp4"
        cuts: list[int] = []
        if not video_path.exists():
            if on_make is not None:
                on_make()
            cuts = list(make_video(video_path, audio=True).cuts)
        with self.store.tx() as session:
            row, _ = videos.register(session, parse_source(str(video_path)), title="heaters demo")
            video_id = row.id or 0
        outcome = self.run(once=False)
        with self.store.tx(write=False) as session:
            got = [clip_dict(c) for c in clips.list_clips(session, video_id)]
            spliced = videos.get(session, video_id)
            params = dict((spliced.detector_params if spliced else None) or {})
        return Demo(
            self.home.root, video_id, cuts, params.get("merged_cuts", 0),
            params.get("min_clip_s"), got, outcome,
        )  # fmt: skip

    # ------------------------------------------------------------ find

    def similar(
        self, clip_id: int, k: int = 12, video: int | None = None, model: str | None = None
    ) -> list[dict[str, Any]]:
        """Clips nearest to a clip by the cosine of their embeddings (never itself)."""
        from heaters.settings import resolve_model
        from heaters.store import search

        settings = self.settings(model=model)
        try:
            spec_name = resolve_model(settings).name
        except ConfigError as exc:
            raise BadInput(str(exc)) from exc
        with self.store.tx(write=False) as session:
            try:
                hits = search.similar(session, clip_id, spec_name, k, video)
            except search.SearchRefused as exc:
                raise BadInput(str(exc)) from exc
            return search.describe(session, hits)

    def search(self, query: str, k: int = 12) -> Searched:
        """Clips by the probability their keyframes give the ImageNet classes `query` names."""
        from heaters.domain.label_query import MIN_SCORE
        from heaters.stages.text_encoder import query_labels
        from heaters.store import search

        if not query.strip():
            raise BadInput('empty query: say what to look for, e.g. heaters search "a dog"')
        settings = self.settings()
        self.store  # noqa: B018 - a home that cannot open is refused before the model loads
        _match, weights = query_labels(query)
        classes = sorted(weights, key=lambda label: (-weights[label], label))
        with self.store.tx(write=False) as session:
            hits = search.text(session, weights, settings.model, k, MIN_SCORE)
            return Searched(search.describe(session, hits), classes)

    def vector_of(self, clip_id: int, model: str) -> Any:
        """A clip's stored embedding under `model` (a float32 vector), or None."""
        from heaters.store import vectors

        with self.store.tx(write=False) as session:
            return vectors.vector_of(session, clip_id, model)

    def nearest(
        self, query: Any, model: str, k: int, exclude: int | None = None
    ) -> list[tuple[int, float]]:
        """(clip id, cosine) of the embedded clips nearest to a vector, best first."""
        from heaters.store import vectors

        with self.store.tx(write=False) as session:
            return [
                (h.clip_id, h.score) for h in vectors.nearest(session, query, model, k, exclude)
            ]

    def label_hits(self, weights: dict[str, float], model: str, k: int) -> list[tuple[int, float]]:
        """(clip id, score) of embedded clips by the classes a query names (as `search`)."""
        from heaters.domain.label_query import MIN_SCORE
        from heaters.store import search

        with self.store.tx(write=False) as session:
            return search.text(session, weights, model, k, MIN_SCORE)

    def waiting_sprites(
        self, limit: int, exclude: int | None = None
    ) -> tuple[list[int], dict[int, tuple[Path, dict[str, Any]]]]:
        """The clips waiting for review (queue order) and the sprites of the first `limit`."""
        from heaters.store import review, search

        with self.store.tx(write=False) as session:
            waiting = [c.id for c in review.queue(session) if c.id not in (None, exclude)]
            ids = [i for i in waiting if i is not None]
            return ids, search.sprites(session, self.home, ids[:limit])

    def describe_hits(
        self, ranked: list[tuple[int, float]]
    ) -> tuple[list[dict[str, Any]], dict[int, Any]]:
        """Rows (as `similar --json` prints them) and thumbnails of scored clips."""
        from heaters.store import search

        with self.store.tx(write=False) as session:
            rows = search.describe(session, ranked)
            return rows, search.thumbs(session, self.home, [r["clip_id"] for r in rows])

    def thumbs(self, clip_ids: list[int]) -> dict[int, Any]:
        """Each clip's thumbnail (a keyframe, else a sprite tile), for grids."""
        from heaters.store import search

        with self.store.tx(write=False) as session:
            return search.thumbs(session, self.home, clip_ids)

    def export(
        self,
        *,
        state: str = "approved",
        video: int | None = None,
        group: bool = False,
        clips: list[int] | None = None,
        out_dir: Path | None = None,
        copy: bool = False,
        template: str = "{title}_clip{clip_id}_{start}-{end}.mp4",
        reporter: Reporter | None = None,
    ) -> Exported:
        """Write clips as mp4 files, frame-accurate; unchanged ones are skipped."""
        from heaters.domain.naming import BadTemplate, check_template

        if state not in EXPORT_STATES:
            raise BadInput(f"unknown --state {state!r} (approved, embedded or all)")
        try:
            check_template(template)
        except BadTemplate as exc:
            raise BadInput(f"bad --template: {exc}") from exc
        from heaters.runner.progress import NullReporter
        from heaters.stages import export as export_stage
        from heaters.stages.tools import ffmpeg_exe
        from heaters.store.exports import plan_exports

        rep = reporter if reporter is not None else NullReporter()
        target = (out_dir if out_dir is not None else self.home.exports).expanduser()
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OperationFailed(f"cannot write to {target}: {exc.strerror or exc}") from exc
        with self.store.tx(write=False) as session:
            items, clip_ids = plan_exports(
                session, self.home, EXPORT_STATES[state], video, group, target, template,
                clips or None,
            )  # fmt: skip
        params = export_stage.ExportParams(copy=copy)
        with export_stage.out_folder(target):  # a killed export's temp files go first
            task = rep.task("export", len(items), "files")
            result = export_stage.run(items, params, ffmpeg_exe(), task.update)
        rows = [
            {
                "clip_id": clip_ids[o.key][0] if len(clip_ids[o.key]) == 1 else None,
                "clip_ids": clip_ids[o.key],
                "path": str(o.path),
                "status": o.status,
                "error": o.error,
                "note": o.note,
            }
            for o in result.outcomes
        ]
        return Exported(rows)

    # ------------------------------------------------------------ admin

    def gc(self, dry_run: bool = False) -> GcResult:
        """Free disk space: unreferenced media files, stray temp files, and what archived or
        superseded clips no longer need. Folders of rows a run holds are left alone."""
        from heaters.store import gc as gc_store

        home = self.home
        listing = gc_store.walk(home)  # before the transaction: files made later are never seen
        with self.store.tx() as session:
            plan, facts = gc_store.collect(session, listing, self.clock(), dry_run)
        freed = plan.bytes if dry_run else gc_store.delete_files(home, plan, facts.claimed)
        return GcResult(
            dry_run, freed, len(plan.files), len(plan.artifact_ids), len(plan.embedding_ids),
            len(plan.clips), plan.summary(),
        )  # fmt: skip

    def unfollow(self, ref: str) -> dict[str, Any]:
        """Stop re-checking a followed URL (by id or URL); the videos it brought stay."""
        from heaters.domain.sources import normalise_url
        from heaters.store import follows

        with self.store.tx() as session:
            row = None
            if ref.strip().isdigit() and len(ref.strip()) < 19:
                row = follows.get(session, int(ref.strip()))
            if row is None:
                try:
                    row = follows.by_url(session, normalise_url(ref))
                except ValueError:
                    row = None
            if row is None:
                raise BadInput(f"no follow {ref!r} (heaters follows lists them)")
            data: dict[str, Any] = {"id": row.id, "url": row.url}
            data["videos_kept"] = follows.remove(session, row)
        return data

    def removal(self, video_id: int) -> Removal:
        """What `remove(video_id)` would remove (nothing is changed)."""
        from heaters.store import remove

        with self.store.tx(write=False) as session:
            try:
                p = remove.plan(session, self.home, video_id, self.clock())
            except remove.RemoveRefused as exc:
                raise BadInput(str(exc)) from exc
        return Removal(video_id, p.title, len(p.clips), p.artifacts, p.embeddings)

    def remove(self, video_id: int) -> Removal:
        """Remove a video with its clips, files and vectors (the review log keeps its history)."""
        import shutil

        from heaters.store import remove

        with self.store.tx() as session:
            try:
                done = remove.remove(session, self.home, video_id, self.clock())
            except remove.RemoveRefused as exc:
                raise BadInput(str(exc)) from exc
        for folder in done.folders:  # after the commit: no row points at a removed file
            shutil.rmtree(folder, ignore_errors=True)
        return Removal(
            video_id, done.title, len(done.clips), done.artifacts, done.embeddings, done.events
        )

    def config(self, key: str | None = None, value: str | None = None) -> dict[str, Any]:
        """Show (or set, with `value`) defaults in <home>/config.toml."""
        from heaters.settings import KEYS, set_value

        try:
            if key is not None and value is not None:
                set_value(self.root, key, value)
            current = load(self.root)
        except ConfigError as exc:
            raise BadInput(str(exc)) from exc
        if key is not None and key not in KEYS:
            raise BadInput(f"unknown config key {key!r}; known: {', '.join(KEYS)}")
        data = {k: getattr(current, k) for k in ([key] if key else KEYS)}
        if data.get("database_url"):  # its password stays in config.toml, not on screens and logs
            from heaters.store.store import redact

            data["database_url"] = redact(str(data["database_url"]))
        return data

    def copy_database(self, to: str) -> tuple[str, dict[str, int]]:
        """`heaters db copy`: this home's SQLite library into an empty PostgreSQL database,
        verified row for row. Returns the URL without its password and the rows per table."""
        from heaters.store.copy import CopyError, copy_sqlite_to_postgres
        from heaters.store.db import is_postgres_url
        from heaters.store.store import redact

        if not is_postgres_url(to):
            raise BadInput("--to wants a postgresql:// URL")
        db_path = Home(self.root.expanduser().absolute()).db_path
        if not db_path.is_file():
            raise BadInput(f"no library to copy: {db_path} does not exist")
        try:
            report = copy_sqlite_to_postgres(db_path, to)
        except CopyError as exc:
            raise OperationFailed(str(exc)) from exc
        except Exception as exc:  # the server: unreachable, refused, not ours to write
            raise OperationFailed(f"cannot copy into {redact(to)}: {driver_line(exc)}") from exc
        return redact(to), dict(report.rows)

    def doctor(self) -> list[Any]:
        """Checks of ffmpeg, PyAV, onnxruntime, SQLite + sqlite-vec, the models and the home."""
        from heaters.doctor import run_checks

        return run_checks(self.root)


__all__ = [
    "ENV_HOME", "Acted", "Counts", "Demo", "Exported", "GcResult", "Ingested", "Library", "Refused", "Removal",
    "RunOutcome", "Searched", "Status", "Undone", "WaitInterrupted", "clip_dict", "video_dict",
]  # fmt: skip
