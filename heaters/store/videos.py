"""Source video rows: registering sources and recording download/splice results."""

from __future__ import annotations

from sqlalchemy import text
from sqlmodel import Session, col, select

from heaters.domain.results import ClipSpan
from heaters.domain.sources import Source
from heaters.store.tables import Clip, SourceVideo, now


def find_by_source(session: Session, source: Source) -> SourceVideo | None:
    column = SourceVideo.url if source.kind == "url" else SourceVideo.local_path
    return session.exec(select(SourceVideo).where(column == source.value)).first()


def register(
    session: Session, source: Source, title: str | None = None
) -> tuple[SourceVideo, bool]:
    """The video for `source`, created in `new` unless it exists; returns (row, created)."""
    existing = find_by_source(session, source)
    if existing is not None:
        return existing, False
    row = SourceVideo(
        url=source.value if source.kind == "url" else None,
        local_path=source.value if source.kind == "file" else None,
        title=title,
    )
    session.add(row)
    session.flush()
    return row, True


def get(session: Session, video_id: int) -> SourceVideo | None:
    return session.get(SourceVideo, video_id)


def all_videos(session: Session) -> list[SourceVideo]:
    return list(session.exec(select(SourceVideo).order_by(col(SourceVideo.id))).all())


def insert_spans(session: Session, video_id: int, spans: tuple[ClipSpan, ...]) -> list[int]:
    """Write the spliced clips of a video; a re-splice after a crash replaces stale `spliced` rows."""
    stamp = now()
    session.execute(
        text(
            "DELETE FROM clips WHERE source_video_id = :v AND state = 'spliced' AND origin = 'splice'"
            " AND id NOT IN (SELECT clip_id FROM clip_events)"
            " AND id NOT IN (SELECT clip_id FROM clip_artifacts)"
        ),
        {"v": video_id},
    )
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
