"""Clip rows: listing and filtering."""

from __future__ import annotations

from sqlmodel import Session, col, select

from heaters.store.tables import Clip, ClipArtifact


def get(session: Session, clip_id: int) -> Clip | None:
    return session.get(Clip, clip_id)


def list_clips(
    session: Session, video_id: int | None = None, states: list[str] | None = None
) -> list[Clip]:
    query = select(Clip)
    if video_id is not None:
        query = query.where(Clip.source_video_id == video_id)
    if states:
        query = query.where(col(Clip.state).in_(states))
    return list(
        session.exec(
            query.order_by(col(Clip.source_video_id), col(Clip.start_frame), col(Clip.id))
        ).all()
    )


def artifacts(session: Session, clip_id: int, kind: str | None = None) -> list[ClipArtifact]:
    query = select(ClipArtifact).where(ClipArtifact.clip_id == clip_id)
    if kind:
        query = query.where(ClipArtifact.kind == kind)
    return list(session.exec(query.order_by(col(ClipArtifact.kind), col(ClipArtifact.tag))).all())
