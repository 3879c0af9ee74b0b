"""Source video rows: registering sources and recording download/splice results."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlmodel import Session, col, select

from heaters.domain.results import ClipSpan
from heaters.domain.sources import Source, clean_title
from heaters.store.tables import Clip, SourceVideo, now


def find_by_source(session: Session, source: Source) -> SourceVideo | None:
    column = SourceVideo.url if source.kind == "url" else SourceVideo.local_path
    return session.exec(select(SourceVideo).where(column == source.value)).first()


def find_by_key(session: Session, key: str) -> SourceVideo | None:
    return session.exec(select(SourceVideo).where(SourceVideo.source_key == key)).first()


def register(
    session: Session,
    source: Source,
    title: str | None = None,
    key: str | None = None,
    meta: dict[str, Any] | None = None,
    follow_id: int | None = None,
) -> tuple[SourceVideo, bool]:
    """The video for `source`, created in `new` unless it exists; returns (row, created).

    One video, one row: by `key` (`extractor:id`, `url:…`, `sha256:…`) when given, else (and for
    rows from before keys) by the exact URL or path. `meta` is what a listing told (title,
    uploader, upload_date, duration, description, chapters)."""
    existing = find_by_key(session, key) if key else None
    if existing is None:
        existing = find_by_source(session, source)
        if existing is not None and key and existing.source_key is None:
            existing.source_key = key  # a row from before keys gets its identity
            session.add(existing)
    if existing is not None:
        return existing, False
    row = SourceVideo(
        url=source.value if source.kind == "url" else None,
        local_path=source.value if source.kind == "file" else None,
        title=title,
        source_key=key,
        follow_id=follow_id,
    )
    apply_meta(row, meta or {})
    session.add(row)
    session.flush()
    return row, True


def apply_meta(row: SourceVideo, meta: dict[str, Any]) -> None:
    """Keep what a listing or a download told about the video; outside text made one line."""
    title = clean_title(meta.get("title"))
    if title and not row.title:
        row.title = title
    if meta.get("uploader") or meta.get("channel"):
        row.uploader = clean_title(meta.get("uploader") or meta.get("channel"), 200)
    date = meta.get("upload_date")
    if isinstance(date, str) and len(date) == 8 and date.isdigit():
        row.upload_date = date
    duration = meta.get("duration")
    if isinstance(duration, int | float) and duration > 0 and not row.duration_s:
        row.duration_s = float(duration)
    desc = meta.get("description")
    if isinstance(desc, str) and desc.strip():
        row.description = desc[:20000]
    chapters = meta.get("chapters")
    if isinstance(chapters, list) and chapters:
        row.chapters = [
            {"start_time": float(c["start_time"]), "title": clean_title(c.get("title"), 200)}
            for c in chapters
            if isinstance(c, dict) and isinstance(c.get("start_time"), int | float)
        ]


def get(session: Session, video_id: int) -> SourceVideo | None:
    return session.get(SourceVideo, video_id)


def all_videos(session: Session) -> list[SourceVideo]:
    return list(session.exec(select(SourceVideo).order_by(col(SourceVideo.id))).all())


def insert_spans(session: Session, video_id: int, spans: tuple[ClipSpan, ...]) -> list[int]:
    """Write the spliced clips of a video; a re-splice after a crash replaces stale `spliced` rows."""
    session.execute(
        text(
            "DELETE FROM clips WHERE source_video_id = :v AND state = 'spliced' AND origin = 'splice'"
            " AND id NOT IN (SELECT clip_id FROM clip_events)"
            " AND id NOT IN (SELECT clip_id FROM clip_artifacts)"
        ),
        {"v": video_id},
    )
    return add_spans(session, video_id, spans)


def add_spans(session: Session, video_id: int, spans: tuple[ClipSpan, ...]) -> list[int]:
    """New `spliced` clips for these spans of a video; their ids."""
    stamp = now()
    ids: list[int] = []
    for span in spans:
        clip = Clip(
            source_video_id=video_id,
            start_frame=span.start_frame,
            end_frame=span.end_frame,
            start_time_s=span.start_time_s,
            end_time_s=span.end_time_s,
            origin="splice",
            created_at=stamp,
            updated_at=stamp,
        )
        session.add(clip)
        session.flush()
        assert clip.id is not None
        ids.append(clip.id)
    return ids
