"""The find screen of `heaters review`: `/` searches by words, `f` finds clips like a clip.

Hits are a grid of thumbnails (half blocks, which work in every terminal). Arrows move, enter
opens the selected hit beside the grid (its sprite plays, its facts and tags show), and from
there — or straight from the grid — `p` plays it in mpv, `a` approves it, `e` exports it, `f`
finds clips like it and `u` undoes the newest action.

Approve goes through the review desk (the same store call as the review screen and `heaters
review approve`), so the event log, the grace period and undo work as everywhere. It applies to
hits waiting for review, which the finder scores from their sprites; a hit that is approved
already (every embedded clip is) says so on its card and in the key bar instead of offering a key
that would only refuse. Export is `heaters export --clip ID --state all` (the same planning and
stage), in a worker thread. Lookups run in a worker thread too: the screen stays live.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, ClassVar

from rich.console import Group
from rich.table import Table
from rich.text import Text
from sqlalchemy.exc import OperationalError
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Input, Static
from textual.worker import Worker, WorkerState

from heaters.console import printable
from heaters.domain.review import ReviewRefused, describe
from heaters.domain.text import counted
from heaters.settings import Settings
from heaters.store.store import Store
from heaters.tui.desk import ClipCard, ReviewDesk, UndoWritten, Written
from heaters.tui.finder import Finder, Found, Hit
from heaters.tui.grid import CELL_ROWS, CELL_WIDTH, Caption, HalfBlocks
from heaters.tui.mpv import play_card
from heaters.tui.panels import Key, KeyBar
from heaters.tui.player import SpritePlayer
from heaters.tui.sprite import SpriteSheet

CELL_OUTER = CELL_WIDTH + 2  # a border round each thumbnail
GUTTER = 1
PROMPT = "type what to look for (objects, animals), enter searches · esc back to the hits"
NOT_APPROVABLE = (
    "approve applies to clips waiting for review; this one is {state} already"
    " (to change that: undo its decision, `heaters review undo`)"
)
NOT_APPROVABLE_SHORT = "n/a: {state} already (approve is for clips waiting for review)"

DONE = {"approve": "approved", "skip": "skipped", "archive": "archived", "merge": "merged",
        "group": "grouped", "split": "split"}  # fmt: skip

_FINDERS: dict[int, tuple[Store, Finder]] = {}  # by id(store); holding the store keeps ids unique


def finder_for(store: Store, settings: Settings) -> Finder:
    """One finder per store, so the waiting clips' sprite features are computed once a session."""
    held = _FINDERS.get(id(store))
    if held is None or held[0] is not store:
        held = _FINDERS[id(store)] = (store, Finder(store, settings))
    return held[1]


def export_clip(store: Store, clip_id: int) -> tuple[str, str]:
    """`heaters export --clip ID --state all` into the home's exports folder: (status, line)."""
    from heaters.domain.naming import DEFAULT_TEMPLATE
    from heaters.stages import export as export_stage
    from heaters.stages.tools import ffmpeg_exe
    from heaters.store.exports import plan_exports

    target = store.home.exports
    target.mkdir(parents=True, exist_ok=True)
    with store.tx(write=False) as session:
        items, _members = plan_exports(
            session, store.home, None, None, False, target, DEFAULT_TEMPLATE, [clip_id]
        )
    if not items:
        return "failed", f"clip {clip_id} cannot be exported (archived, superseded or no source)"
    with export_stage.out_folder(target):
        result = export_stage.run(items, export_stage.ExportParams(), ffmpeg_exe())
    o = result.outcomes[0]
    if o.status == "failed":
        return "failed", f"export of clip {clip_id} failed: {o.error}"
    done = "exported" if o.status == "ok" else "already exported (unchanged)"
    return o.status, f"{done}: {o.path}"


class ThumbCell(Static):
    """One hit: its picture and caption; a highlighted border when selected."""

    DEFAULT_CSS = f"""
    ThumbCell {{
        width: {CELL_OUTER}; height: {CELL_ROWS + 4};
        border: round $panel-lighten-1; padding: 0;
    }}
    ThumbCell.-selected {{ border: heavy $accent; background: $accent 15%; }}
    """

    def __init__(self, hit: Hit, index: int, mark: str) -> None:
        super().__init__()
        self.hit, self.index = hit, index
        self.show(mark)

    def show(self, mark: str) -> None:
        caption = Caption(self.hit.clip_id, self.hit.score, _label(self.hit), mark)
        if self.hit.image is None:
            picture: Any = Text("\n" * (CELL_ROWS // 2) + "(no picture)", style="dim italic")
            picture = Group(picture, Text("\n" * (CELL_ROWS - CELL_ROWS // 2 - 1)))
        else:
            picture = HalfBlocks(self.hit.image, CELL_WIDTH, CELL_ROWS)
        self.update(Group(picture, caption.text(CELL_WIDTH)))


class ThumbGrid(VerticalScroll, can_focus=True, inherit_bindings=False):
    """The hits, as many per row as fit; the screen moves the selection (the arrow keys are the
    screen's, not a scroll container's: the view follows the selection)."""

    DEFAULT_CSS = f"""
    ThumbGrid {{
        layout: grid; grid-size: 4; grid-gutter: 0 {GUTTER};
        grid-columns: {CELL_OUTER}; grid-rows: {CELL_ROWS + 4};
        height: 1fr; width: 1fr; min-width: {CELL_OUTER + 4}; padding: 0 1;
        background: $background;
    }}
    """

    @property
    def columns(self) -> int:
        width = self.size.width - 2  # padding
        return max(1, (width + GUTTER) // (CELL_OUTER + GUTTER))

    def on_resize(self) -> None:
        self.styles.grid_size_columns = self.columns
        # a new width moves the cells once the grid is laid out again: then follow the selection
        self.call_after_refresh(self.call_after_refresh, self.reveal)

    def reveal(self) -> None:
        for cell in self.query(".-selected"):
            self.scroll_to_widget(cell, animate=False)


def _label(hit: Hit) -> str:
    tags = hit.row.get("tags") or []
    return str(tags[0][0]) if tags else ""


FIND_KEYS = (
    Key("←→↑↓", "move", True),
    Key("enter", "open", True),
    Key("space", "play"),
    Key("p", "mpv"),
    Key("a", "approve", True),
    Key("e", "export", True),
    Key("u", "undo", True),
    Key("f", "like this", True),
    Key("/", "search", True),
    Key("esc", "back", True),
)
TYPING_KEYS = (Key("enter", "search", True), Key("esc", "back to the hits", True))


class FindScreen(Screen[None]):
    """Search or similar-clip results as thumbnails, with review actions on each hit."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "back"),
        Binding("q", "leave", "leave find", show=False),
        Binding("slash", "query", "search"),
        Binding("f", "similar", "like this"),
        Binding("left", "move(-1, 0)", "left", show=False),
        Binding("right", "move(1, 0)", "right", show=False),
        Binding("up", "move(0, -1)", "up", show=False),
        Binding("down", "move(0, 1)", "down", show=False),
        Binding("enter", "open", "open"),
        Binding("space", "toggle_play", "play/pause"),
        Binding("p", "mpv", "mpv"),
        Binding("a", "approve", "approve"),
        Binding("e", "export", "export"),
        Binding("u,ctrl+z", "undo", "undo"),
    ]
    DEFAULT_CSS = """
    FindScreen { layout: vertical; }
    FindScreen #find-query { height: 3; margin: 0 1; }
    FindScreen #find-status { height: auto; max-height: 3; padding: 0 2; color: $text-muted; }
    FindScreen #find-main { height: 1fr; }
    FindScreen #find-open { width: 1fr; min-width: 30; display: none;
                            border: round $primary; border-title-color: $text; }
    FindScreen.opened #find-open { display: block; }
    FindScreen #find-player { height: 1fr; }
    FindScreen #find-facts { height: auto; padding: 0 1; }
    FindScreen #find-keys { height: 1; background: $panel; }
    """

    def __init__(
        self,
        desk: ReviewDesk,
        finder: Finder,
        *,
        images: str = "halfcell",
        like: tuple[int, Callable[[], SpriteSheet | None]] | None = None,
    ) -> None:
        """`like`: open on the clips like that clip (its id, and how to read its sprite);
        without it the screen opens on the query box."""
        super().__init__()
        self.desk, self.finder, self.images = desk, finder, images
        self._start_like = like
        self.found: Found | None = None
        self.selected = 0
        self.opened: ClipCard | None = None
        self._lookup: Worker[Found] | None = None
        self._marks: dict[int, str] = {}

    # ------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Input(placeholder=PROMPT, id="find-query")
        yield Static(id="find-status")
        with Horizontal(id="find-main"):
            yield ThumbGrid(id="find-grid")
            with Vertical(id="find-open"):
                yield SpritePlayer(self.images, autoplay=True, id="find-player")
                yield Static(id="find-facts")
        yield KeyBar(id="find-keys")

    def on_mount(self) -> None:
        self._keys()
        if self._start_like is not None:
            clip_id, sheet = self._start_like
            self._find_like(clip_id, sheet)
        else:
            self.query_one(Input).focus()
            self._status(Text(PROMPT, style="italic"))

    @property
    def grid(self) -> ThumbGrid:
        return self.query_one(ThumbGrid)

    @property
    def hits(self) -> list[Hit]:
        return self.found.hits if self.found is not None else []

    @property
    def hit(self) -> Hit | None:
        hits = self.hits
        return hits[self.selected] if 0 <= self.selected < len(hits) else None

    def _status(self, text: Text | str) -> None:
        self.query_one("#find-status", Static).update(text)

    def _keys(self) -> None:
        bar = self.query_one(KeyBar)
        if self.query_one(Input).has_focus:
            bar.set_keys(TYPING_KEYS)
            return
        hit = self.hit
        keys = [k for k in FIND_KEYS if k.keys != "a" or (hit is not None and hit.pending)]
        bar.set_keys(keys)

    def on_descendant_focus(self) -> None:
        self._keys()

    # ------------------------------------------------------------ lookups

    def _find_like(self, clip_id: int, sheet: Callable[[], SpriteSheet | None]) -> None:
        self._status(Text(f"finding clips like clip {clip_id}…", style="italic"))
        self.query_one(Input).value = ""
        progress = self._progress_for(f"finding clips like clip {clip_id}")
        self._run_lookup(lambda: self.finder.similar(clip_id, sheet, progress))

    def _search(self, query: str) -> None:
        self._status(Text(f"searching “{printable(query)}”…", style="italic"))
        progress = self._progress_for(f"searching “{printable(query)}”")
        self._run_lookup(lambda: self.finder.text(query, progress))

    def _progress_for(self, what: str) -> Callable[[int, int], None]:
        def progress(done: int, total: int) -> None:
            line = Text(f"{what}: scoring clips waiting for review from their sprites, "
                        f"{done}/{total}…", style="italic")  # fmt: skip
            self.app.call_from_thread(self._status, line)

        return progress

    def _run_lookup(self, lookup: Callable[[], Found]) -> None:
        self._lookup = self.run_worker(
            lookup, name="find", group="find", thread=True, exit_on_error=False
        )

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._search(event.value)
        self.grid.focus()

    async def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker is not self._lookup:
            return  # an older lookup the operator already replaced
        if event.state == WorkerState.SUCCESS and isinstance(worker.result, Found):
            await self._show(worker.result)
        elif event.state == WorkerState.ERROR:
            self._status(Text(f"cannot search: {worker.error}", style="italic"))

    async def _show(self, found: Found) -> None:
        self.found = found
        self.selected = 0
        self._close()
        self._refresh_marks()
        grid = self.grid
        await grid.remove_children()
        await grid.mount_all(
            [ThumbCell(h, i, self._marks.get(h.clip_id, "")) for i, h in enumerate(found.hits)]
        )
        head = Text(printable(found.title), style="bold")
        if found.classes:
            more = f" and {len(found.classes) - 6} more" if len(found.classes) > 6 else ""
            head.append(f" · classes: {', '.join(found.classes[:6])}{more}")
        if found.hits:
            waiting = sum(1 for h in found.hits if h.pending)
            n = len(found.hits)
            head.append(f" · {counted(n, 'hit')}")
            if waiting:
                head.append(f", {waiting} waiting for review (scored from their sprites)")
        if found.message:
            head.append("\n")
            head.append(printable(found.message), style="italic")
        self._status(head)
        if found.hits:
            grid.focus()
            self.call_after_refresh(self._select, 0)
        self._keys()

    # ------------------------------------------------------------ selection and the open hit

    def _cells(self) -> list[ThumbCell]:
        return list(self.grid.query(ThumbCell))

    def _select(self, index: int) -> None:
        cells = self._cells()
        if not cells:
            return
        self.selected = max(0, min(len(cells) - 1, index))
        for cell in cells:
            cell.set_class(cell.index == self.selected, "-selected")
        self.grid.reveal()
        if self.opened is not None:
            self._open()
        self._keys()

    def action_move(self, dx: int, dy: int) -> None:
        if self.hits:
            self._select(self.selected + dx + dy * self.grid.columns)

    def action_open(self) -> None:
        if self.hit is None:
            self.notify("no hit to open", severity="warning")
            return
        self._open()

    def _narrow(self, name: str, on: bool) -> None:
        """Open or close the pane beside the grid. The grid's columns follow its width on the
        next refresh too: Textual sends no Resize when a scroll refresh lays the screen out
        first (the view following the selection), so `on_resize` alone can miss the change."""
        self.set_class(on, name)
        self.grid.call_after_refresh(self.grid.on_resize)

    def _open(self) -> None:
        hit = self.hit
        if hit is None:
            return
        try:
            card = self.desk.card(hit.clip_id)
        except OperationalError as exc:
            self.notify(f"database error: {exc.orig}", severity="error")
            return
        if card is None:
            self.notify(f"clip {hit.clip_id} is gone", severity="warning")
            return
        self.opened = card
        self._narrow("opened", True)
        pane = self.query_one("#find-open")
        pane.border_title = f"clip {card.clip_id}"
        pane.border_subtitle = "esc closes"
        min_width = None if self.images in ("tgp", "sixel") else 160
        self.query_one(SpritePlayer).load(card.sheet(min_width))
        self._facts()

    def _facts(self) -> None:
        hit, card = self.hit, self.opened
        if hit is None or card is None:
            return
        table = Table.grid(padding=(0, 1), expand=True)
        table.add_column(style="bold", no_wrap=True)
        table.add_column(overflow="fold", ratio=1)
        table.add_row("score", f"{hit.score:.1f} %")
        table.add_row("video", Text(f"{card.video_id} · {printable(card.title)}"))
        table.add_row("time", f"{card.start_s:.2f}–{card.end_s:.2f} s ({card.duration_s:.2f} s)")
        table.add_row("frames", f"[{card.start_frame}, {card.end_frame})")
        state = str(hit.row["state"])
        mark = self._marks.get(hit.clip_id)
        if mark and mark != "waiting":
            mark += " (pending: `heaters run` applies it after the grace period; u undoes)"
        table.add_row("state", f"{state}" + (f" · {mark}" if mark else ""))
        tags = ", ".join(f"{printable(t[0])} {100 * float(t[1]):.0f}%" for t in hit.row["tags"][:5])
        table.add_row("tags", Text(tags or "-"))
        if not hit.pending:
            table.add_row("approve", Text(NOT_APPROVABLE_SHORT.format(state=state), style="italic"))
        elif not hit.row["tags"]:
            table.add_row("", Text("waiting for review", style="italic"))
        self.query_one("#find-facts", Static).update(table)

    def _close(self) -> None:
        if self.opened is None:
            return
        self.opened = None
        self._narrow("opened", False)
        self.query_one(SpritePlayer).load(None)

    # ------------------------------------------------------------ keys

    def action_back(self) -> None:
        """esc: from typing back to the hits, from an open hit back to the grid, else leave."""
        box = self.query_one(Input)
        if box.has_focus and self.hits:
            self.grid.focus()
        elif self.opened is not None:
            self._close()
        else:
            self.dismiss(None)

    def action_leave(self) -> None:
        self.dismiss(None)

    def action_query(self) -> None:
        box = self.query_one(Input)
        box.focus()
        box.select_all()

    def action_similar(self) -> None:
        hit = self.hit
        if hit is None:
            self.notify("no hit selected: f finds clips like the selected one", severity="warning")
            return
        card = self.desk.card(hit.clip_id)

        def sheet() -> SpriteSheet | None:
            return card.sheet() if card is not None else None

        self._find_like(hit.clip_id, sheet)

    def action_toggle_play(self) -> None:
        if self.opened is None:
            self.action_open()
            return
        self.query_one(SpritePlayer).toggle()

    def action_mpv(self) -> None:
        hit = self.hit
        card = self.desk.card(hit.clip_id) if hit is not None else None
        if card is not None:
            play_card(self.app, card, self.query_one(SpritePlayer))

    def action_approve(self) -> None:
        hit = self.hit
        if hit is None:
            return
        if not hit.pending:
            self.notify(
                NOT_APPROVABLE.format(state=hit.row["state"]),
                title=f"clip {hit.clip_id} is not waiting for review",
                severity="warning",
            )
            return
        clip_id = hit.clip_id

        def done(written: Written) -> None:
            noted = written.noted
            self.desk.decided.add(clip_id)
            self.desk.apply(written.snapshot)
            for old in noted.replaced:
                what = describe(old.action, old.clip_id, old.payload)
                self.notify(f"replaces event {old.id} ({what}): it will not apply")
            for note in noted.notes:
                self.notify(note, title=f"event {noted.event.id}")
            self.notify(
                f"approved clip {clip_id} (event {noted.event.id}); `heaters run` applies it"
                " after the grace period, u undoes",
            )
            self._after_write()

        self._write(
            partial(self.desk.write, clip_id, "approve", None), done, "approve", f"clip {clip_id}"
        )

    def action_undo(self) -> None:
        def done(written: UndoWritten) -> None:
            self.desk.apply(written.snapshot)
            self.desk.bring_back(written.back)
            undone = written.undone
            self.notify(f"undid {undone.action} of clip {undone.clip_id} (event {undone.event_id})")
            self._after_write()

        self._write(self.desk.write_undo, done, "undo", "undo")

    def _write(
        self, work: Callable[[], Any], done: Callable[[Any], None], verb: str, what: str
    ) -> None:
        """On the review app's writer thread (key order; a busy database is a notice)."""

        def failed(exc: Exception) -> None:
            if isinstance(exc, ReviewRefused):
                self.notify(str(exc), title=f"cannot {verb}", severity="warning")
            else:
                detail = getattr(exc, "orig", None) or exc
                self.notify(f"database error: {detail} (nothing was written)", severity="error")

        submit = getattr(self.app, "submit_write", None)
        if submit is not None:
            submit(work, done, failed, what=what)
            return
        try:  # a host app without a writer thread
            result = work()
        except (ReviewRefused, OperationalError) as exc:
            failed(exc)
        else:
            done(result)

    def _after_write(self) -> None:
        self._refresh_marks()
        for cell in self._cells():
            cell.show(self._marks.get(cell.hit.clip_id, ""))
        self._facts()
        self._keys()

    def _refresh_marks(self) -> None:
        """Each hit's newest pending decision (from the review log: `approved`...), else `waiting`
        if it waits for review."""
        marks: dict[int, str] = {}
        try:
            for a in reversed(self.desk.recent(limit=50)):
                if a.action != "undo":
                    if a.pending:
                        marks[a.clip_id] = DONE.get(a.action, a.action)
                    else:
                        marks.pop(a.clip_id, None)
        except OperationalError:
            pass
        for h in self.hits:
            if h.pending and h.clip_id not in marks:
                marks[h.clip_id] = "waiting"
        self._marks = marks

    def action_export(self) -> None:
        """Export the selected hit in a thread of the app's (it finishes, and says so, even if
        the operator leaves the find screen meanwhile)."""
        hit = self.hit
        if hit is None:
            return
        clip_id, app, store = hit.clip_id, self.app, self.desk.store
        self.notify(f"exporting clip {clip_id}…")

        def export() -> None:
            try:
                status, line = export_clip(store, clip_id)
            except Exception as exc:  # noqa: BLE001 - a failed export is a notice, not a crash
                status, line = "failed", f"export of clip {clip_id} failed: {exc}"
            severity = "error" if status == "failed" else "information"
            app.call_from_thread(app.notify, line, title="export", severity=severity)

        app.run_worker(export, name="export", group="export", thread=True, exit_on_error=False)
