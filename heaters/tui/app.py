"""`heaters review`: the Textual app where the operator decides, one key per clip.

Layout: the sprite player on the left, clip facts and the last actions on the right, a key bar
below. The app holds no review rules: decisions go to `ReviewDesk`, which uses the same store
functions as the `heaters review approve|...` commands. A refusal is a notification, never a crash.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, ClassVar, TypeVar

from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.reactive import var
from textual.widgets import Static

from heaters.domain.review import ReviewRefused, describe
from heaters.settings import Settings
from heaters.store import review as review_store
from heaters.store.db import DatabaseError
from heaters.tui.desk import ClipCard, ReviewDesk, Snapshot, UndoWritten, Written
from heaters.tui.find import FindScreen, finder_for
from heaters.tui.modal import Panel
from heaters.tui.mpv import play_card
from heaters.tui.panels import ClipInfo, History, KeyBar, help_rows, help_table
from heaters.tui.player import SpritePlayer
from heaters.tui.sprite import SpriteSheet

T = TypeVar("T")

EMPTY_MESSAGE = (
    "Nothing to review.\n\n"
    "Clips wait here once `heaters run` has spliced a video and made their sprites:\n"
    "heaters ingest URL_OR_FILE, then heaters run.\n\n"
    "Your actions are applied by `heaters run` after the grace period; u undoes, q quits."
)


def _db_message(exc: Exception) -> str:
    """A locked or unreadable database is worth one line and a retry, not a traceback."""
    orig = getattr(exc, "orig", None)
    detail = (str(orig if orig is not None else exc).splitlines() or [type(exc).__name__])[0]
    return f"database error: {detail} (nothing was written; try again)"


RECENT_SHEETS = 6  # decoded sheets of the clips shown last (undo goes back to them)
IDLE_COLLECT_S = 0.3  # a full garbage collection waits for this long a pause between keys
MAX_COLLECT_GAP_S = 60.0
BUSY_NOTICE_S = 0.5  # a write still waiting after this long says so (the screen stays live)

# Which actions act in which state of the screen (Textual asks `check_action`): the key bar, the
# help and the keys themselves all follow from BINDINGS and this table.
SPLIT_ONLY = frozenset({"split_here", "leave_split", "step"})
IN_SPLIT = SPLIT_ONLY | {"toggle_play", "undo", "help", "quit"}
WITHOUT_CLIP = frozenset({"undo", "find", "help", "quit"})


def action_enabled(action: str, mode: str) -> bool:
    """Whether `action` acts in `mode` ("review", "split" or "empty")."""
    if mode == "empty":
        return action in WITHOUT_CLIP
    if mode == "split":
        return action in IN_SPLIT
    return action not in SPLIT_ONLY


class HelpScreen(Panel):
    """Every key with what it does, read from the app's bindings."""

    TITLE = "heaters review — keys"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "close", "close"),
    ]

    def __init__(self, rows: list[tuple[str, str]]) -> None:
        super().__init__()
        self.rows = rows

    def body(self) -> ComposeResult:
        yield Static(help_table(self.rows), id="help-body")


class ReviewApp(App[None]):
    """The review queue, one clip at a time."""

    TITLE = "heaters review"
    ENABLE_COMMAND_PALETTE = False
    CSS = """
    Screen { layout: vertical; }
    #main { height: 1fr; }
    #left { width: 1fr; min-width: 30; }
    #side { width: 36; }
    #info { height: auto; border: round $primary; border-title-color: $text; padding: 0 1; }
    #history { height: 1fr; border: round $panel-lighten-2; padding: 0 1; overflow-y: hidden; }
    #prompt { height: auto; background: $warning 30%; color: $text; text-style: bold;
              display: none; }
    #prompt.on { display: block; }
    #empty { height: 1fr; content-align: center middle; text-align: center; display: none;
             padding: 1 4; }
    #keys { height: 1; background: $panel; }
    Screen.empty #empty { display: block; }
    Screen.empty #main { display: none; }
    """
    # The one list of keys: the key bar shows the enabled ones in this order (essential first,
    # help and quit last: they stay on the narrowest bar), the help lists them all (tooltip).
    BINDINGS: ClassVar[list[BindingType]] = [
        # split mode
        Binding("enter", "split_here", "split here", key_display="enter",
                tooltip="split mode; again: split at the shown tile (it starts part two)"),
        Binding("escape", "leave_split", "cancel", tooltip="leave split mode"),
        Binding("right", "step(1)", "±1 tile", key_display="←→",
                tooltip="one tile back / on (pauses, starts split mode)"),
        Binding("left", "step(-1)", "±1 tile", key_display="←→", show=False,
                tooltip="one tile back / on (pauses, starts split mode)"),
        Binding("shift+right", "step(10)", "±10 tiles", key_display="shift+←→",
                tooltip="ten tiles back / on"),
        Binding("shift+left", "step(-10)", "±10 tiles", key_display="shift+←→", show=False,
                tooltip="ten tiles back / on"),
        # review mode
        Binding("a", "decide('approve')", "approve", tooltip="approve: keep the clip"),
        Binding("s", "decide('skip')", "skip", tooltip="skip: decide later"),
        Binding("d", "decide('archive')", "archive", tooltip="archive: drop it"),
        Binding("m", "decide('merge')", "merge",
                tooltip="merge with the previous clip (one clip spanning both)"),
        Binding("g", "decide('group')", "group",
                tooltip="group with the previous clip (both approved, kept together)"),
        Binding("right", "start_split(1)", "split", key_display="←→",
                tooltip="one tile back / on (pauses, starts split mode)"),
        Binding("left", "start_split(-1)", "split", key_display="←→", show=False,
                tooltip="one tile back / on (pauses, starts split mode)"),
        Binding("shift+right", "start_split(10)", "split", key_display="shift+←→", show=False,
                tooltip="ten tiles back / on"),
        Binding("shift+left", "start_split(-10)", "split", key_display="shift+←→", show=False,
                tooltip="ten tiles back / on"),
        Binding("enter", "start_split(0)", "split", key_display="enter", show=False,
                tooltip="split mode; again: split at the shown tile (it starts part two)"),
        Binding("u,ctrl+z", "undo", "undo",
                tooltip="undo your newest action (again for older); its clip returns"),
        Binding("space", "toggle_play", "play/pause", tooltip="play / pause"),
        Binding("x", "speed", "speed", tooltip="playback speed: 1x, 1.5x, 2x"),
        Binding("p", "mpv", "mpv", tooltip="play the clip in mpv"),
        Binding("f", "similar", "similar",
                tooltip="similar clips, as thumbnails (embedded ones and those still waiting"
                " for review)"),
        Binding("slash", "find", "find",
                tooltip="find by words (objects, animals); on a hit: enter opens, a approves,"
                " e exports"),
        Binding("question_mark", "help", "help", tooltip="this help"),
        Binding("q", "quit", "quit", tooltip="quit"),
    ]  # fmt: skip

    # State the keys depend on: a change refreshes the bindings (key bar, check_action) and, as
    # `var`s, nothing else (a repainting reactive on the App repaints the whole screen).
    split_mode: var[bool] = var(False, bindings=True)
    card: var[ClipCard | None] = var(None, bindings=True)

    def __init__(
        self,
        desk: ReviewDesk,
        *,
        images: str = "halfcell",
        autoplay: bool = True,
        refresh_s: float = 2.0,
        settings: Settings | None = None,
        tune_gc: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.desk = desk
        self.settings = settings or Settings()
        self.images = images
        self.autoplay = autoplay
        self.refresh_s = refresh_s
        self._min_frames = 1
        self._prompt_lines = 0
        self.tune_gc = tune_gc
        self._gc_threshold: tuple[int, int, int] | None = None
        self._last_key = self._last_collect = time.monotonic()  # last key, write or load
        self._next: tuple[ClipCard, SpriteSheet | None] | None = None  # prefetched next clip
        # Database writes run here, one at a time in key order, never on the UI thread.
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="review-writer")
        self.pending_writes = 0
        self.awaiting_view = 0  # writes whose result is what their key shows (undo)
        self.pending_loads = 0
        self._recent_sheets: OrderedDict[int, SpriteSheet] = OrderedDict()
        self.help_rows = help_rows(self.BINDINGS, self.get_key_display)

    # ------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield Static(id="prompt")
                yield SpritePlayer(self.images, autoplay=self.autoplay, id="player")
            with Vertical(id="side"):
                yield ClipInfo(id="info")
                yield History(id="history")
        only = self.desk.video_id
        note = f"\n\n(only video {only} is shown: drop --video to see every video)" if only else ""
        yield Static(EMPTY_MESSAGE + note, id="empty")
        yield KeyBar(id="keys")

    def on_mount(self) -> None:
        self.query_one("#info").border_title = "clip"
        self.query_one("#history").border_title = "last actions"
        self.desk.reload()
        self.show_current(wait=True)  # the first picture is part of starting up
        self.install_screen(HelpScreen(self.help_rows), "help")
        if self.refresh_s > 0:
            self.set_interval(self.refresh_s, self.poll)
        self.run_worker(self._warm_up, thread=True, group="warm-up", exit_on_error=False)
        if self.tune_gc:
            self.call_after_refresh(self._freeze_startup_heap)

    def _freeze_startup_heap(self) -> None:
        """Keep Python's full garbage collections out of the keys (`heaters review` owns its
        process; tests sharing one interpreter leave the collector alone).

        A full collection walks every object the process holds: Textual, SQLAlchemy and the
        models at start (~105,000), then the shared half-block segments and cached tile rows
        (~100,000 more). It took 40-60 ms of CPU and ran whenever allocation tipped it over,
        which is while a key is being handled. So: what exists after start-up is frozen out of
        those walks (`gc.freeze`), automatic full collections are off, and the app runs one
        itself once the operator has pressed nothing for IDLE_COLLECT_S (or at the latest every
        MAX_COLLECT_GAP_S). The young generations stay automatic.
        """
        gc.collect()
        gc.freeze()
        self._gc_threshold = gc.get_threshold()
        gc.set_threshold(self._gc_threshold[0], self._gc_threshold[1], 1 << 30)
        self._last_collect = time.monotonic()
        self.set_interval(0.1, self._collect_when_idle)

    def _collect_when_idle(self) -> None:
        now = time.monotonic()
        busy = self.pending_writes or self.pending_loads
        idle = now - self._last_key >= IDLE_COLLECT_S and not busy
        due = gc.get_count()[2] >= self._gc_threshold[2] if self._gc_threshold else False
        if (idle and due) or now - self._last_collect >= MAX_COLLECT_GAP_S:
            gc.collect()  # as often as Python would (threshold2), but between keys
            self._last_collect = time.monotonic()

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):
            self._last_key = time.monotonic()
        await super().on_event(event)

    def _warm_up(self) -> None:
        """The first use of a query compiles it (SQLAlchemy caches the result): do that for the
        writer's statements now, off the UI thread, not on the operator's first decision."""
        with self.desk.store.tx(write=False) as session:
            review_store.busy_clips(session)
        self.desk.read()

    def on_unmount(self) -> None:
        self._writer.shutdown(wait=True, cancel_futures=False)
        if self._gc_threshold is not None:
            gc.set_threshold(*self._gc_threshold)

    @property
    def player(self) -> SpritePlayer:
        return self.query_one(SpritePlayer)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Keys act by the screen's state: split mode has its own keys; without a clip only
        undo, help and quit do anything. The key bar shows exactly the keys that act."""
        mode = "empty" if self.card is None else "split" if self.split_mode else "review"
        return action_enabled(action, mode)

    def watch_split_mode(self, on: bool) -> None:
        self.query_one("#prompt").set_class(on, "on")
        if on:
            self._update_prompt()

    def show_current(self, wait: bool = False, card: ClipCard | None = None) -> None:
        """Put the desk's current clip on screen (or the empty message). Its sheet comes from
        the prefetch or the clips shown lately (undo goes back to one); otherwise it is decoded
        on a thread while the facts are already shown (`pending_loads`), unless `wait`. `card`:
        the current clip's, if already read (on the writer thread)."""
        self.split_mode = False
        clip_id = self.desk.current
        ready = self._next
        if ready is not None and ready[0].clip_id == clip_id:
            card, sheet = ready
        else:
            if card is None or card.clip_id != clip_id:
                card = self.desk.card(clip_id) if clip_id is not None else None
            sheet = self._sheet_for(card)
        self._next = None
        self.card = card
        self.screen.set_class(card is None, "empty")
        if sheet is not None and card is not None:
            self._recent_sheets[card.clip_id] = sheet
            self._recent_sheets.move_to_end(card.clip_id)
            while len(self._recent_sheets) > RECENT_SHEETS:
                self._recent_sheets.popitem(last=False)
        if card is None or sheet is None or sheet.prepared or wait:
            self.player.load(sheet)
        else:
            self.player.wait_for_sheet()
            self.pending_loads += 1
            self.run_worker(
                partial(self._load_sheet, card, sheet, self.player.warmer()),
                thread=True,
                group="load",
                exit_on_error=False,
            )
        self._show_facts()
        self._prefetch()

    def _sheet_for(self, card: ClipCard | None) -> SpriteSheet | None:
        if card is None:
            return None
        kept = self._recent_sheets.get(card.clip_id)
        if kept is not None and kept.path == card.sprite_path:
            return kept
        return card.sheet(self._min_width)

    def _load_sheet(
        self, card: ClipCard, sheet: SpriteSheet, warm: Callable[[SpriteSheet], Callable[[], None]]
    ) -> None:
        """(worker thread) Decode a sheet that was not prefetched, then show it."""
        try:
            keep = warm(sheet.prepare())
        except Exception:  # noqa: BLE001 - a damaged sheet (any decoder's error) shows no picture;
            keep = None  # otherwise the clip would wait for its picture for ever
        self.call_from_thread(self._sheet_loaded, card, sheet, keep)

    def _sheet_loaded(
        self, card: ClipCard, sheet: SpriteSheet, keep: Callable[[], None] | None
    ) -> None:
        self.pending_loads -= 1
        self._last_key = time.monotonic()
        if self.card is not None and self.card.clip_id == card.clip_id:
            if keep is not None:
                keep()
            self.player.load(sheet if keep is not None else None)

    @property
    def _min_width(self) -> int | None:
        return None if self.images in ("tgp", "sixel") else 160

    def _prefetch(self) -> None:
        """While the operator looks, read the clip that comes next, decode its sheet and draw
        its first tile in a thread: a decision then only has to swap what is on screen."""
        upcoming = self.desk.upcoming()
        if upcoming is None or (self._next is not None and self._next[0].clip_id == upcoming):
            return
        self.run_worker(
            partial(self._fetch, upcoming, self.player.warmer()),
            thread=True,
            group="prefetch",
            exclusive=True,
            exit_on_error=False,
        )

    def _fetch(self, clip_id: int, warm: Callable[[SpriteSheet], Callable[[], None]]) -> None:
        """(worker thread) The card, the decoded sheet with its palette, the first tile."""
        card = self.desk.card(clip_id)
        if card is None:
            return
        sheet = card.sheet(self._min_width)
        keep = warm(sheet.prepare()) if sheet is not None else None
        self.call_from_thread(self._fetched, card, sheet, keep)

    def _fetched(
        self, card: ClipCard, sheet: SpriteSheet | None, keep: Callable[[], None] | None
    ) -> None:
        if self.desk.upcoming() == card.clip_id:
            self._next = (card, sheet)
            if keep is not None:
                keep()

    def _show_facts(self) -> None:
        arrived = self.desk.take_arrived()
        if arrived:
            listed = ", ".join(str(i) for i in arrived)
            self.notify(f"clip {listed} (made by a merge or split) joined the queue")
        self.query_one(ClipInfo).show(self.card, self.desk.position)
        self.query_one(History).show(self.desk.last_recent)

    def poll(self) -> None:
        """Pick up what others did: commits by `heaters run`, new clips, CLI decisions (read
        behind any pending writes, on the writer thread)."""
        if self.pending_writes:
            return  # the write's own read-back will show it
        self.submit_write(self.desk.read, self._polled, quiet=True)

    def _polled(self, snapshot: Snapshot) -> None:
        before = self.desk.current
        self.desk.apply(snapshot)
        if self.desk.current != before:
            self.show_current()
        else:
            self._show_facts()

    # ------------------------------------------------------------ the writer thread

    def submit_write(
        self,
        work: Callable[[], T],
        done: Callable[[T], None],
        failed: Callable[[Exception], None] | None = None,
        what: str = "",
        quiet: bool = False,
        shows: bool = False,
    ) -> None:
        """Run `work` on the writer thread (after every earlier write), then `done` with its
        result on the UI thread; `failed` gets a ReviewRefused or database error. A write that
        waits for a busy database says so after BUSY_NOTICE_S; the screen never waits.
        `shows`: what the key shows comes from the write (undo), counted in `awaiting_view`."""
        self.pending_writes += 1
        self.awaiting_view += shows
        future = asyncio.wrap_future(self._writer.submit(work))
        busy = None if quiet else self.set_timer(BUSY_NOTICE_S, partial(self._busy, future, what))

        async def finish() -> None:
            try:
                result = await future
            except Exception as exc:  # noqa: BLE001 - the transaction rolled back: say so
                if failed is not None:
                    failed(exc)
                elif not isinstance(exc, DatabaseError):
                    self.notify(_db_message(exc), title="cannot read", severity="error")
            else:
                done(result)
            finally:
                self.pending_writes -= 1
                self.awaiting_view -= shows
                self._last_key = time.monotonic()  # what it shows is drawn next: not idle yet
                if busy is not None:
                    busy.stop()

        self.run_worker(finish(), group="writes", exit_on_error=False)

    async def writes_done(self) -> None:
        """Wait until every write submitted so far is saved and shown, with the sheet of the
        clip it shows (tests)."""
        while self.pending_writes or self.pending_loads:
            await asyncio.sleep(0.005)

    def _busy(self, future: asyncio.Future[Any], what: str) -> None:
        if not future.done():
            self.notify(
                f"the database is busy: {what} will be saved when it is free (keep reviewing)",
                title="saving…",
                severity="warning",
            )

    # ------------------------------------------------------------ decisions

    def action_decide(self, action: str, payload: dict[str, Any] | None = None) -> None:
        clip_id = self.desk.current
        if clip_id is None:
            self.notify("nothing to review", severity="warning")
            return
        self.desk.advance(clip_id)
        self.show_current()  # the next clip now; the write follows on the writer thread
        self.submit_write(
            partial(self.desk.write, clip_id, action, payload),
            partial(self._decided, clip_id),
            partial(self._not_decided, clip_id, action),
            what=f"{action} of clip {clip_id}",
        )

    def _decided(self, clip_id: int, written: Written) -> None:
        noted = written.noted
        before = self.desk.current
        self.desk.written(clip_id)
        self.desk.apply(written.snapshot)
        for old in noted.replaced:
            self.notify(
                f"replaces event {old.id} ({describe(old.action, old.clip_id, old.payload)}):"
                " it will not apply",
                title=f"event {noted.event.id}",
            )
        for note in noted.notes:
            self.notify(note, title=f"event {noted.event.id}")
        if self.desk.current != before:
            self.show_current()
        else:
            self._show_facts()

    def _not_decided(self, clip_id: int, action: str, exc: Exception) -> None:
        if isinstance(exc, ReviewRefused):
            self.notify(str(exc), title=f"cannot {action}", severity="warning")
        else:
            self.notify(_db_message(exc), title=f"{action} not saved", severity="error")
        self.desk.take_back(clip_id)
        self.show_current()

    def action_split_here(self) -> None:
        """Enter in split mode: split the clip at the shown tile."""
        frame = self.player.frame
        if frame is None:
            self.notify("this clip has no tile frames to split at", severity="warning")
            return
        self.action_decide("split", {"frame": int(frame)})

    def action_undo(self) -> None:
        self.submit_write(self._write_undo, self._undone, self._not_undone, "undo", shows=True)

    def _write_undo(self) -> tuple[UndoWritten, ClipCard | None]:
        """(writer thread) The undo, and the card of the clip it brings back."""
        written = self.desk.write_undo()
        waiting = {c.id for c in written.snapshot.queue}
        back = next((i for i in written.back if i in waiting), None)
        return written, self.desk.card(back) if back is not None else None

    def _undone(self, result: tuple[UndoWritten, ClipCard | None]) -> None:
        written, card = result
        undone = written.undone
        self.desk.apply(written.snapshot)
        self.desk.bring_back(written.back)
        self.notify(f"undid {undone.action} of clip {undone.clip_id} (event {undone.event_id})")
        self.show_current(card=card)

    def _not_undone(self, exc: Exception) -> None:
        if isinstance(exc, ReviewRefused):
            self.notify(str(exc), title="cannot undo", severity="warning")
        else:
            self.notify(_db_message(exc), title="undo not saved", severity="error")

    # ------------------------------------------------------------ playback and split mode

    def action_toggle_play(self) -> None:
        self.split_mode = False
        self.player.toggle()

    def action_speed(self) -> None:
        self.player.cycle_speed()

    def action_start_split(self, delta: int) -> None:
        """An arrow (a tile on or back) or enter: pause there and pick a tile to split at."""
        if self.card is None:
            return
        self._min_frames = self.desk.min_frames(self.card.video_id)
        self.player.step(delta)
        self.split_mode = True

    def action_step(self, delta: int) -> None:
        self.player.step(delta)

    def action_leave_split(self) -> None:
        self.split_mode = False
        self.player.play()

    def on_sprite_player_moved(self, message: SpritePlayer.Moved) -> None:
        if self.split_mode:
            self._update_prompt()

    def _update_prompt(self) -> None:
        frame, card = self.player.frame, self.card
        if frame is None or card is None:
            self._prompt(" no tile to split at · esc to cancel")
            return
        shortest = self._min_frames
        first, last = card.start_frame + shortest, card.end_frame - shortest
        if first > last:
            self._prompt(
                f" ✂ clip {card.clip_id} is too short to split (parts need {shortest} frames)"
                " · esc to cancel"
            )
        elif not first <= frame <= last:
            self._prompt(
                f" ✂ frame {frame}: a part would be under {shortest} frames;"
                f" pick a tile in frames [{first}, {last + 1}) · esc to cancel"
            )
        else:
            self._prompt(
                f" ✂ split at frame {frame}? enter to split, esc to cancel\n"
                f"   parts [{card.start_frame}, {frame}) and [{frame}, {card.end_frame})"
            )

    def _prompt(self, text: str) -> None:
        """The split prompt is one or two lines: a layout pass only when that changes."""
        prompt = self.query_one("#prompt", Static)
        lines = text.count("\n") + 1
        prompt.update(text, layout=lines != self._prompt_lines)
        self._prompt_lines = lines

    # ------------------------------------------------------------ similar, mpv, help, quit

    def action_similar(self) -> None:
        """The find screen with the clips most like the current one."""
        card = self.card
        if card is None:
            self.notify("no clip to compare", severity="warning")
            return
        self.action_find((card.clip_id, card.sheet))

    def action_find(self, like: tuple[int, Any] | None = None) -> None:
        """`/`: the find screen, typing a query (heaters.tui.find)."""
        finder = finder_for(self.desk.store, self.settings)
        screen = FindScreen(self.desk, finder, images=self.images, like=like)
        self.player.pause()  # out of sight; coming back shows the (maybe new) current clip
        self.push_screen(screen, lambda _: self.show_current())

    def action_mpv(self) -> None:
        if self.card is not None:
            play_card(self, self.card, self.player)

    def action_help(self) -> None:
        self.push_screen("help")
