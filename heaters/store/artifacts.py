"""Artifact rows (sprites, keyframes): one per (clip, kind, strategy, tag)."""

from __future__ import annotations

from sqlmodel import Session, select

from heaters.domain.results import ArtifactOut
from heaters.store.tables import ClipArtifact, now


def upsert(session: Session, art: ArtifactOut, rel_path: str) -> ClipArtifact:
    """Record a file the stage already renamed into place (so the row never points at nothing)."""
    existing = session.exec(
        select(ClipArtifact).where(
            ClipArtifact.clip_id == art.clip_id,
            ClipArtifact.kind == art.kind,
            ClipArtifact.strategy == art.strategy,
            ClipArtifact.tag == art.tag,
        )
    ).first()
    row = existing or ClipArtifact(
        clip_id=art.clip_id, kind=art.kind, strategy=art.strategy, tag=art.tag, path=rel_path
    )
    row.path = rel_path
    row.meta = dict(art.metadata)
    row.created_at = now()
    session.add(row)
    session.flush()
    return row
