"""Similarity and text search over embedded clips, and what a result shows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text as sql
from sqlmodel import Session, col, select

from heaters.domain.states import SUPERSEDED
from heaters.store import reads, vectors
from heaters.store.db import sql_list
from heaters.store.home import Home
from heaters.store.tables import Clip, ClipArtifact


class SearchRefused(ValueError):
    """Unknown clip, or a clip with no embedding for this model."""


def similar(
    session: Session, clip_id: int, model: str, k: int, video_id: int | None = None
) -> list[tuple[int, float]]:
    clip = session.get(Clip, clip_id)
    if clip is None:
        raise SearchRefused(f"no clip {clip_id}")
    query = vectors.vector_of(session, clip_id, model)
    if query is None:
        raise SearchRefused(
            f"clip {clip_id} has no {model} embedding yet ({clip.state}); "
            "approve it and let heaters run embed it"
        )
    hits = vectors.nearest(session, query, model, k, exclude_clip=clip_id, video_id=video_id)
    return [(h.clip_id, h.score) for h in hits]


def text(
    session: Session, weights: Mapping[str, float], model: str, k: int, min_score: float = 0.0
) -> list[tuple[int, float]]:
    """Clips by the probability their tags give the labels a query named (`weights`: label ->
    weight in (0, 1], from `heaters.domain.label_query`), best first; a clip none of whose tags
    is named scores nothing, however confident it is; below `min_score` a hit is noise (the
    classifier's leftovers), not an answer. Reads only the matched labels' rows of
    `embedding_tags` (an index on model, label), not every clip."""
    if not weights:
        return []
    # One group per embedding, the clip's state looked up once per group (not per tag row);
    # a clip with embeddings of two strategies could come twice: keep its best.
    # the weights as a VALUES list of bound parameters (SQL both SQLite and PostgreSQL speak)
    pairs = list(weights.items())
    values = ", ".join(f"(:l{i}, CAST(:w{i} AS DOUBLE PRECISION))" for i in range(len(pairs)))
    params: dict[str, Any] = {"m": model, "min": min_score, "limit": 2 * k}
    for i, (label, weight) in enumerate(pairs):
        params[f"l{i}"], params[f"w{i}"] = label, float(weight)
    rows = session.execute(
        sql(
            f"WITH w(label, weight) AS (VALUES {values})"
            " SELECT t.clip_id, SUM(t.prob * w.weight) AS score"
            " FROM w JOIN embedding_tags t ON t.model = :m AND t.label = w.label"
            " GROUP BY t.embedding_id, t.clip_id"
            " HAVING SUM(t.prob * w.weight) > 0 AND SUM(t.prob * w.weight) >= :min"
            f"  AND (SELECT c.state FROM clips c WHERE c.id = t.clip_id) NOT IN ({sql_list(SUPERSEDED)})"
            " ORDER BY score DESC, t.clip_id LIMIT :limit"
        ),
        params,
    ).all()
    best: dict[int, float] = {}
    for clip_id, score in rows:
        best.setdefault(int(clip_id), float(score))
    return list(best.items())[:k]


def tags_by_clip(session: Session, clip_ids: list[int]) -> dict[int, list[list[Any]]]:
    return reads.tags_by_clip(session, clip_ids)


def describe(session: Session, hits: list[tuple[int, float]]) -> list[dict[str, Any]]:
    """Result objects shared by `similar` and `search`: score in %, where, and tags."""
    tags = tags_by_clip(session, [c for c, _ in hits])
    out = []
    for clip_id, score in hits:
        clip = session.get(Clip, clip_id)
        if clip is None or clip.state in SUPERSEDED:
            continue
        out.append(
            {
                "clip_id": clip_id,
                "score": round(100.0 * score, 1),
                "source_video_id": clip.source_video_id,
                "start_time_s": round(clip.start_time_s, 3),
                "end_time_s": round(clip.end_time_s, 3),
                "state": clip.state,
                "tags": tags.get(clip_id, []),
            }
        )
    return out


@dataclass(frozen=True)
class Thumb:
    """The picture that stands for a clip in a grid: its middle keyframe, else its sprite's
    middle tile (`box`: the tile's pixels in the sheet, for a crop)."""

    clip_id: int
    path: Path
    kind: str  # "keyframe" | "sprite"
    box: tuple[int, int, int, int] | None = None
    frame: int | None = None  # a view into the video's tile store: the tile (source frame) shown


def _middle_keyframe(arts: Sequence[ClipArtifact]) -> ClipArtifact:
    by_frame = sorted(arts, key=lambda a: (int((a.meta or {}).get("frame", 0)), a.tag))
    return by_frame[(len(by_frame) - 1) // 2]


def sprite_box(meta: Mapping[str, Any], index: int) -> tuple[int, int, int, int]:
    """Pixel box of tile `index` in a sprite sheet, from the sheet's geometry."""
    w, h = int(meta["tile_width"]), int(meta["tile_height"])
    cols = max(1, int(meta.get("columns") or 1))
    col, row = index % cols, index // cols
    return (col * w, row * h, (col + 1) * w, (row + 1) * h)


def thumbs(session: Session, home: Home, clip_ids: Sequence[int]) -> dict[int, Thumb]:
    """A thumbnail per clip that has one: keyframes (approved clips) before sprites (any clip
    past splicing). One query for all the clips' artifacts, not one per clip."""
    ids = [int(i) for i in clip_ids]
    if not ids:
        return {}
    rows = session.exec(select(ClipArtifact).where(col(ClipArtifact.clip_id).in_(ids))).all()
    keyframes: dict[int, list[ClipArtifact]] = {}
    sprites: dict[int, ClipArtifact] = {}
    for a in rows:
        if a.kind == "keyframe":
            keyframes.setdefault(a.clip_id, []).append(a)
        elif a.kind == "sprite" and a.clip_id not in sprites:
            sprites[a.clip_id] = a
    out: dict[int, Thumb] = {}
    for clip_id in ids:
        if clip_id in keyframes:
            art = _middle_keyframe(keyframes[clip_id])
            out[clip_id] = Thumb(clip_id, home.abs(art.path), "keyframe")
            continue
        sprite = sprites.get(clip_id)
        meta = dict(sprite.meta or {}) if sprite is not None else {}
        count = int(meta.get("tile_count") or len(meta.get("frames") or []))
        if sprite is None or not count or "tile_width" not in meta or "tile_height" not in meta:
            continue
        if meta.get("layout") == "tiles" and meta.get("frames"):
            frame = int(meta["frames"][count // 2])
            out[clip_id] = Thumb(clip_id, home.abs(sprite.path), "sprite", frame=frame)
            continue
        box = sprite_box(meta, count // 2)
        out[clip_id] = Thumb(clip_id, home.abs(sprite.path), "sprite", box)
    return out


def sprites(
    session: Session, home: Home, clip_ids: Sequence[int]
) -> dict[int, tuple[Path, dict[str, Any]]]:
    """Each clip's sprite sheet (absolute path, geometry): what a clip without keyframes can be
    compared by."""
    ids = [int(i) for i in clip_ids]
    if not ids:
        return {}
    rows = session.exec(
        select(ClipArtifact)
        .where(col(ClipArtifact.clip_id).in_(ids), ClipArtifact.kind == "sprite")
        .order_by(col(ClipArtifact.id))
    ).all()
    out: dict[int, tuple[Path, dict[str, Any]]] = {}
    for a in rows:
        out.setdefault(a.clip_id, (home.abs(a.path), dict(a.meta or {})))
    return out
