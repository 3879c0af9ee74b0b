"""What the find screen looks up: clips like a clip, or clips a query names, with thumbnails.

No widgets here, and no SQL: the library answers (`heaters.library.Library`: stored vectors,
nearest neighbours, label scores, the review queue) and the model runs here, in the screen's
worker thread.

Embedded clips are found as `heaters similar` / `heaters search` find them: by their stored vector,
or by the probability their keyframes give the classes a query names. Clips still waiting for
review have neither (keyframes and embeddings follow approval), so they are scored from their
sprite: three tiles at 25/50/75 %, embedded and classified with the same model (the
`keyframe_multi_avg` strategy, on 320-px tiles instead of keyframes). That is what lets the
operator approve from the find screen: the waiting clips among the hits are the ones a decision
applies to. Their features are computed once per sprite and kept for the session (at most
`PENDING_LIMIT` waiting clips are scored, in queue order).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image

from heaters.domain.label_query import MIN_SCORE
from heaters.domain.label_query import score as label_score
from heaters.domain.text import error_line
from heaters.library import Library
from heaters.settings import Settings, resolve_model
from heaters.store.store import Store
from heaters.tui.grid import caption_of, load_thumb
from heaters.tui.sprite import SpriteSheet

NEIGHBOURS = 24
PENDING_LIMIT = 200
TILE_POINTS = (0.25, 0.5, 0.75)
NOTHING_TO_COMPARE = (
    "no embedded clips yet and no other clip waiting for review: approve clips and let"
    " heaters run embed them"
)
SOURCES = {"embedding": "from its embedding", "sprite": "from its sprite (not embedded yet)"}

Progress = Callable[[int, int], None]  # (pending clips scored, of how many)


@dataclass(frozen=True)
class Hit:
    """One result: the row `heaters search --json` would print, and its picture."""

    row: dict[str, Any]
    pending: bool  # waiting for review: scored from its sprite, and a decision applies to it
    image: Image.Image | None = None

    @property
    def clip_id(self) -> int:
        return int(self.row["clip_id"])

    @property
    def score(self) -> float:
        return float(self.row["score"])


@dataclass(frozen=True)
class Found:
    """What the screen shows: a heading, the hits best first, or why there are none."""

    kind: Literal["similar", "text"]
    title: str
    hits: list[Hit] = field(default_factory=list)
    message: str | None = None
    clip_id: int | None = None  # the clip a `similar` lookup compared with
    source: str | None = None  # "embedding" | "sprite": where that clip's vector came from
    classes: list[str] = field(default_factory=list)  # what a text query was taken to mean


def tile_indices(count: int) -> list[int]:
    """The tiles at 25/50/75 % of a sheet, without repeats (a short sheet gives fewer)."""
    return list(dict.fromkeys(min(count - 1, int(count * p)) for p in TILE_POINTS))


@dataclass(frozen=True)
class Features:
    vector: np.ndarray  # L2-normalised mean of the tiles' L2-normalised embeddings
    tags: tuple[tuple[str, float], ...]  # top classes of the tiles' mean probabilities


def sprite_features(sheet: SpriteSheet, model: Any) -> Features:
    """Embed and classify three tiles of a sprite, as the embed stage does with keyframes."""
    from heaters.stages.embed import TOP_TAGS, infer, preprocess, top_tags
    from heaters.stages.models import load_labels

    tiles = [sheet.tile(i) for i in tile_indices(sheet.tile_count)]
    emb, probs = infer(np.stack([preprocess(t, model) for t in tiles]), model)
    emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    mean = emb.mean(axis=0)
    vector = (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)
    labels = load_labels(model)
    tags = top_tags(probs.mean(axis=0), labels, TOP_TAGS) if probs is not None and labels else ()
    return Features(vector, tuple(tags))


class Finder:
    """Lookups for one store; remembers the waiting clips' sprite features between lookups."""

    def __init__(self, store: Store, settings: Settings, k: int = NEIGHBOURS) -> None:
        self.store, self.settings, self.k = store, settings, k
        self.lib = Library.over(store)
        self._features: dict[tuple[int, str, str], Features] = {}

    # ------------------------------------------------------------ lookups (worker thread)

    def similar(
        self,
        clip_id: int,
        sheet: Callable[[], SpriteSheet | None],
        progress: Progress | None = None,
    ) -> Found:
        """Clips nearest to `clip_id` (never itself): its embedding, else its sprite's vector."""
        title = f"clips like clip {clip_id}"
        try:
            model = resolve_model(self.settings)
            query = self.lib.vector_of(clip_id, model.name)
            source = "embedding"
            if query is None:
                tiles = sheet()
                if tiles is None or tiles.tile_count == 0:
                    return Found(
                        "similar",
                        title,
                        message=f"clip {clip_id} has neither an embedding nor a sprite",
                        clip_id=clip_id,
                    )
                query, source = sprite_features(tiles, model).vector, "sprite"
            scored = self.lib.nearest(query, model.name, self.k, clip_id)
            pending = self._pending(model, progress, exclude=clip_id)
            scored += [(c, float(f.vector @ query)) for c, f in pending.items()]
            hits = self._hits(scored, pending, exclude=clip_id)
        except Exception as exc:  # noqa: BLE001 - a model or database problem is one line
            return Found("similar", title, message=f"cannot search: {error_line(exc)}")
        title = f"{title}, {SOURCES[source]}"
        if not hits:
            return Found("similar", title, message=NOTHING_TO_COMPARE, clip_id=clip_id)
        return Found("similar", title, hits, clip_id=clip_id, source=source)

    def text(self, query: str, progress: Progress | None = None) -> Found:
        """Clips by the probability they give the classes `query` names (as `heaters search`)."""
        from heaters.stages.text_encoder import query_labels

        title = f"search “{query}”"
        if not query.strip():
            return Found("text", title, message="type what to look for, e.g. a dog")
        try:
            model = resolve_model(self.settings)
            _match, weights = query_labels(query)
            if not weights:
                return Found(
                    "text",
                    title,
                    message=f"no ImageNet class matches {query!r}: search knows objects and animals",
                )
            scored = self.lib.label_hits(weights, model.name, self.k)
            pending = self._pending(model, progress)
            for clip_id, f in pending.items():
                s = label_score(f.tags, weights)
                if s > 0 and s >= MIN_SCORE:
                    scored.append((clip_id, s))
            hits = self._hits(scored, pending)
        except Exception as exc:  # noqa: BLE001 - a model or database problem is one line
            return Found("text", title, message=f"cannot search: {error_line(exc)}")
        classes = sorted(weights, key=lambda label: (-weights[label], label))
        if not hits:
            return Found("text", title, message="no clip shows these classes", classes=classes)
        return Found("text", title, hits, classes=classes)

    # ------------------------------------------------------------ helpers

    def _pending(
        self, model: Any, progress: Progress | None, exclude: int | None = None
    ) -> dict[int, Features]:
        """Sprite features of the clips waiting for review (cached per sprite file)."""
        waiting, sheets = self.lib.waiting_sprites(PENDING_LIMIT, exclude)
        out: dict[int, Features] = {}
        todo = [c for c in waiting if c in sheets]
        for done, clip_id in enumerate(todo):
            path, meta = sheets[clip_id]
            key = (clip_id, str(path), model.name)
            features = self._features.get(key)
            if features is None:
                features = self._sheet_features(path, meta, model)
                if features is None:
                    continue
                self._features[key] = features
            out[clip_id] = features
            if progress is not None:
                progress(done + 1, len(todo))
        return out

    @staticmethod
    def _sheet_features(path: Path, meta: dict[str, Any], model: Any) -> Features | None:
        try:
            sheet = SpriteSheet.from_meta(path, meta)
            if sheet.tile_count == 0:
                return None
            return sprite_features(sheet, model)
        except (OSError, ValueError, KeyError):  # a sprite that vanished or is unreadable
            return None

    def _hits(
        self,
        scored: Sequence[tuple[int, float]],
        pending: dict[int, Features],
        exclude: int | None = None,
    ) -> list[Hit]:
        best: dict[int, float] = {}
        for clip_id, s in scored:
            if clip_id != exclude and s > best.get(clip_id, -2.0):
                best[clip_id] = s
        ranked = sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))[: self.k]
        rows, thumbs = self.lib.describe_hits(ranked)
        hits = []
        for row in rows:
            clip_id = int(row["clip_id"])
            if clip_id in pending and not row["tags"]:
                row["tags"] = [[label, p] for label, p in pending[clip_id].tags]
            thumb = thumbs.get(clip_id)
            image = load_thumb(thumb) if thumb is not None else None
            hits.append(Hit(row, row["state"] == "pending_review", image))
        return hits


def label_of(hit: Hit) -> str:
    return caption_of(hit.row).label
