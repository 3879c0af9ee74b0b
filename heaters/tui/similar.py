"""`f` in the review TUI: the clips most like the current one.

The query is the clip's stored embedding when it has one. Clips under review usually have none
(embedding follows approval), so otherwise it is computed from the sprite the reviewer is looking
at: three tiles at 25/50/75 %, embedded, averaged and L2-normalised, the same strategy as stored
embeddings (`keyframe_multi_avg`), only from 320-px tiles instead of keyframes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from sqlalchemy import text as sql
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from heaters.settings import Settings, resolve_model
from heaters.store import search, vectors
from heaters.store.store import Store
from heaters.tui.sprite import SpriteSheet

NEIGHBOURS = 12
TILE_POINTS = (0.25, 0.5, 0.75)
NOTHING_EMBEDDED = "no embedded clips yet: approve clips and let heaters run embed them"
SOURCES = {
    "embedding": "from its embedding",
    "sprite": "from its sprite (not embedded yet)",
}


@dataclass(frozen=True)
class Similar:
    """What the screen shows: the query's source, the described hits, or why there are none."""

    clip_id: int
    source: str | None = None  # "embedding" | "sprite"
    rows: list[dict[str, Any]] = field(default_factory=list)
    message: str | None = None


def tile_indices(count: int) -> list[int]:
    """The tiles at 25/50/75 % of a sheet, without repeats (a short sheet gives fewer)."""
    return list(dict.fromkeys(min(count - 1, int(count * p)) for p in TILE_POINTS))


def sprite_vector(sheet: SpriteSheet, model: Any) -> np.ndarray:
    """Mean of the L2-normalised embeddings of three tiles, L2-normalised."""
    from heaters.stages.embed import embed_images

    tiles = [sheet.tile(i) for i in tile_indices(sheet.tile_count)]
    mean = embed_images(tiles, model).mean(axis=0)
    return (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)


def _any_embedded(store: Store, model: str) -> bool:
    with store.tx(write=False) as session:
        row = session.execute(
            sql("SELECT 1 FROM embeddings WHERE model = :m LIMIT 1"), {"m": model}
        ).first()
    return row is not None


def find_similar(
    store: Store,
    clip_id: int,
    sheet: Callable[[], SpriteSheet | None],
    settings: Settings,
    k: int = NEIGHBOURS,
) -> Similar:
    """The k embedded clips nearest to `clip_id` (never itself); `sheet` is read only if needed.

    Slow (model load and inference): call it from a worker thread.
    """
    try:
        model = resolve_model(settings)
        if not _any_embedded(store, model.name):
            return Similar(clip_id, message=NOTHING_EMBEDDED)
        with store.tx(write=False) as session:
            query = vectors.vector_of(session, clip_id, model.name)
        source = "embedding"
        if query is None:
            tiles = sheet()
            if tiles is None or tiles.tile_count == 0:
                return Similar(
                    clip_id, message=f"clip {clip_id} has neither an embedding nor a sprite"
                )
            query, source = sprite_vector(tiles, model), "sprite"
        with store.tx(write=False) as session:
            hits = vectors.nearest(session, query, model.name, k=k, exclude_clip=clip_id)
            rows = search.describe(session, [(h.clip_id, h.score) for h in hits])
    except Exception as exc:  # noqa: BLE001 - a model or database problem is one line on screen
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return Similar(clip_id, message=f"cannot search: {first}")
    rows = [r for r in rows if r["clip_id"] != clip_id]
    if not rows:
        return Similar(clip_id, source, message="no other embedded clips to compare with")
    return Similar(clip_id, source, rows)


def _tags(tags: Sequence[Sequence[Any]], n: int = 3) -> str:
    return ", ".join(str(t[0]) for t in tags[:n])


def similar_table(result: Similar) -> RenderableType:
    """The hits, best first: clip, score, where it comes from, tags, state."""
    head = Text(f"clips like clip {result.clip_id}", style="bold")
    if result.source:
        head.append(f", {SOURCES[result.source]}", style="italic")
    if not result.rows:
        return Group(head, Text(""), Text(result.message or "", style="italic"))
    table = Table(box=None, padding=(0, 1), expand=True, header_style="bold")
    table.add_column("clip", justify="right", no_wrap=True)
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("video · time", no_wrap=True)
    table.add_column("tags", overflow="ellipsis", no_wrap=True, ratio=1)
    table.add_column("state", no_wrap=True)
    for r in result.rows:
        table.add_row(
            str(r["clip_id"]),
            f"{r['score']:.1f} %",
            f"{r['source_video_id']} · {r['start_time_s']:.2f}–{r['end_time_s']:.2f} s",
            _tags(r["tags"]),
            str(r["state"]),
        )
    return Group(head, Text(""), table)


class SimilarScreen(ModalScreen[None]):
    """The nearest clips to one clip, found in a worker thread so the screen stays live."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,f,q", "close", "close"),
    ]
    DEFAULT_CSS = """
    SimilarScreen { align: center middle; }
    SimilarScreen > VerticalScroll {
        width: 100%; max-width: 100; height: auto; max-height: 100%;
        border: round $accent; border-title-color: $text; padding: 0 1;
        background: $surface;
    }
    """

    def __init__(self, clip_id: int, find: Callable[[], Similar]) -> None:
        super().__init__()
        self.clip_id = clip_id
        self._lookup = find
        self.result: Similar | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll() as box:
            box.border_title = f"similar to clip {self.clip_id}"
            box.border_subtitle = "esc closes"
            yield Static("finding similar clips…", id="similar-body")

    def on_mount(self) -> None:
        self.run_worker(self._lookup, name="similar", thread=True, exit_on_error=False)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        body = self.query_one("#similar-body", Static)
        if event.state == WorkerState.SUCCESS and isinstance(event.worker.result, Similar):
            self.result = event.worker.result
            body.update(similar_table(self.result))
        elif event.state == WorkerState.ERROR:
            body.update(Text(f"cannot search: {event.worker.error}", style="italic"))

    def action_close(self) -> None:
        self.dismiss(None)
