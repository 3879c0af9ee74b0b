"""Which clips `heaters export` writes, as export items (one per clip, or per group)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sqlmodel import Session, col, select

from heaters.domain.exports import ExportItem
from heaters.domain.groups import connected
from heaters.domain.naming import export_name, export_path
from heaters.domain.states import SUPERSEDED, ClipState
from heaters.store.home import Home
from heaters.store.tables import Clip, SourceVideo

LIVE_EXCLUDED = (*sorted(SUPERSEDED), ClipState.REVIEW_ARCHIVED)


def plan_exports(
    session: Session,
    home: Home,
    states: tuple[str, ...] | None,
    video_id: int | None,
    group: bool,
    out_dir: Path,
    template: str,
    clip_ids: Sequence[int] | None = None,
) -> tuple[list[ExportItem], dict[str, list[int]]]:
    """Export items and, per item key, the clip ids it holds (timeline order); `clip_ids`
    limits them to those clips (`heaters export --clip`, the find screen's `e`)."""
    query = select(Clip).where(col(Clip.state).not_in(LIVE_EXCLUDED))
    if clip_ids is not None:
        query = query.where(col(Clip.id).in_([int(i) for i in clip_ids]))
    if states is not None:
        query = query.where(col(Clip.state).in_(states))
    if video_id is not None:
        query = query.where(Clip.source_video_id == video_id)
    rows = list(session.exec(query.order_by(col(Clip.source_video_id), col(Clip.start_frame))))
    by_id = {c.id: c for c in rows}
    if group:
        sets = connected((c.id or 0, c.grouped_with_clip_id) for c in rows)
    else:
        sets = [[c.id or 0] for c in rows]
    items: list[ExportItem] = []
    members: dict[str, list[int]] = {}
    for ids in sets:
        parts = sorted((by_id[i] for i in ids), key=lambda c: (c.source_video_id, c.start_frame))
        first, last = parts[0], parts[-1]
        video = session.get(SourceVideo, first.source_video_id)
        if video is None or not video.filepath:
            continue
        same_video = [c for c in parts if c.source_video_id == first.source_video_id]
        key = "+".join(str(c.id) for c in same_video)
        name = export_name(
            template,
            title=video.title or f"video{video.id}",
            clip_id=key,
            video_id=video.id or 0,
            start_time_s=first.start_time_s,
            end_time_s=same_video[-1].end_time_s if same_video else last.end_time_s,
            start_frame=first.start_frame,
            end_frame=same_video[-1].end_frame,
        )
        segments = tuple(
            (c.start_frame, c.end_frame, c.start_time_s, c.end_time_s) for c in same_video
        )
        items.append(
            ExportItem(
                key=key,
                source=home.abs(video.filepath),
                start_frame=first.start_frame,
                end_frame=same_video[-1].end_frame,
                start_time_s=first.start_time_s,
                end_time_s=same_video[-1].end_time_s,
                out_path=export_path(out_dir, name),
                segments=segments if len(segments) > 1 else (),
            )
        )
        members[key] = [c.id or 0 for c in same_video]
    return items, members
