"""`heaters show`: one clip's facts gathered from the store, and its sprite drawn in the terminal."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.segment import Segment, Segments
from sqlmodel import Session

from heaters.store import clips, review, search
from heaters.store.home import Home
from heaters.store.tables import Clip, SourceVideo


def clip_report(session: Session, clip_id: int, model: str) -> dict[str, Any] | None:
    clip = session.get(Clip, clip_id)
    if clip is None:
        return None
    video = session.get(SourceVideo, clip.source_video_id)
    history = review.history(session, clip_id)
    arts = [
        {"kind": a.kind, "strategy": a.strategy, "tag": a.tag, "path": a.path, "metadata": a.meta}
        for a in clips.artifacts(session, clip_id)
    ]
    tags = search.tags_by_clip(session, [clip_id]).get(clip_id, [])
    try:
        similar = search.describe(session, search.similar(session, clip_id, model, 5))
    except search.SearchRefused:
        similar = []
    return {
        "clip": {
            "id": clip.id,
            "source_video_id": clip.source_video_id,
            "state": clip.state,
            "start_frame": clip.start_frame,
            "end_frame": clip.end_frame,
            "start_time_s": clip.start_time_s,
            "end_time_s": clip.end_time_s,
            "duration_s": clip.end_time_s - clip.start_time_s,
            "origin": clip.origin,
            "grouped_with_clip_id": clip.grouped_with_clip_id,
            "superseded_by": clip.superseded_by,
            "last_error": clip.last_error,
        },
        "video_title": video.title if video else None,
        "video": video_facts(video, clip.start_time_s),
        "history": history,
        "artifacts": arts,
        "tags": tags,
        "similar": similar,
    }


def video_facts(video: SourceVideo | None, at_s: float) -> dict[str, Any] | None:
    """Where the clip comes from: uploader, upload date, URL, and the chapter it starts in."""
    if video is None:
        return None
    chapter = None
    for c in video.chapters or []:
        if isinstance(c, dict) and float(c.get("start_time") or 0) <= at_s + 1e-3:
            chapter = c.get("title")
    return {
        "uploader": video.uploader,
        "upload_date": video.upload_date,
        "url": video.url,
        "local_path": video.local_path,
        "chapter": chapter,
    }


def draw_sprite(console: Console, home: Home, report: dict[str, Any], columns: int = 4) -> None:
    """The first tiles of the sprite (or the keyframes) in half-block characters."""
    from heaters.tui.images import fit, half_block_lines
    from heaters.tui.sprite import SpriteSheet

    sprite = next((a for a in report["artifacts"] if a["kind"] == "sprite"), None)
    if sprite is None or not console.is_terminal:
        return
    meta = sprite["metadata"] or {}
    path = home.abs(sprite["path"])
    if not path.exists():
        console.print(f"(sprite file missing: {path})")
        return
    sheet = SpriteSheet.from_meta(path, meta)  # a view into the tile store, or a sheet
    count = sheet.tile_count
    picks = sorted({0, count // 3, (2 * count) // 3, count - 1})[:columns]
    width = max(16, min(40, (console.width - 2) // max(1, len(picks))))
    box = fit(sheet.tile_width, sheet.tile_height, width, width)
    tiles = [half_block_lines(sheet.tile(i), box) for i in picks]
    for row in range(max(len(t) for t in tiles)):
        segments = []
        for t in tiles:
            if row < len(t):
                segments.extend(list(t[row]))
        console.print(Segments([*segments, Segment.line()]), end="")
