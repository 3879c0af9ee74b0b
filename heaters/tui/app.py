"""`heaters review`: the Textual app where the operator decides, one key per clip.

Layout: the sprite player on the left, clip facts and the last actions on the right, a key bar
below. The app holds no review rules: decisions go to `ReviewDesk`, which uses the same store
functions as the `heaters review approve|...` commands. A refusal is a notification, never a crash.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy.exc import OperationalError
from textual.app import App, ComposeResult, SuspendNotSupported
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from heaters.domain.review import ReviewRefused, describe
from heaters.settings import Settings
from heaters.tui.desk import ClipCard, ReviewDesk
from heaters.tui.find import FindScreen, finder_for
from heaters.tui.mpv import MPV_MISSING, PlayRequest, find_mpv, run_mpv
from heaters.tui.panels import (
    EMPTY_KEYS,
    REVIEW_KEYS,
    SPLIT_KEYS,
    ClipInfo,
    History,
    KeyBar,
    help_table,
)
from heaters.tui.player import SpritePlayer
from heaters.tui.sprite import SpriteSheet

EMPTY_MESSAGE = (
    "Nothing to review.\n\n"
    "Clips wait here once `heaters run` has spliced a video and made their sprites:\n"
    "heaters ingest URL_OR_FILE, then heaters run.\n\n"
    "Your actions are applied by `heaters run` after the grace period; u undoes, q quits."
)


def _db_message(exc: OperationalError) -> str:
    """A locked or unreadable database is worth one line and a retry, not a traceback."""
    detail = str(exc.orig) if exc.orig is not None else str(exc)
    return f"database error: {detail.splitlines()[0]} (nothing was written; try again)"


class HelpScreen(ModalScreen[None]):
    """Every key with what it does."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "close", "close"),
    ]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 100%; max-width: 80; height: auto; max-height: 100%;
        border: round $accent; border-title-color: $text; padding: 0 1;
        background: $surface;
    }
    """

    def compose(self) -> ComposeResult:
        with VerticalScroll() as box:
            box.border_title = "heaters review — keys"
            box.border_subtitle = "esc closes"
            yield Static(help_table(), id="help-body")

    def action_close(self) -> None:
        self.dismiss(None)


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
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "decide('approve')", "approve"),
        Binding("s", "decide('skip')", "skip"),
        Binding("d", "decide('archive')", "archive"),
        Binding("m", "decide('merge')", "merge"),
        Binding("g", "decide('group')", "group"),
        Binding("enter", "split", "split"),
        Binding("escape", "leave_split", "cancel split", show=False),
        Binding("space", "toggle_play", "play/pause"),
        Binding("x", "speed", "speed"),
        Binding("left", "step(-1)", "tile back", show=False),
        Binding("right", "step(1)", "tile on", show=False),
        Binding("shift+left", "step(-10)", "10 tiles back", show=False),
        Binding("shift+right", "step(10)", "10 tiles on", show=False),
        Binding("u,ctrl+z", "undo", "undo"),
        Binding("p", "mpv", "mpv"),
        Binding("f", "similar", "similar"),
        Binding("slash", "find", "find"),
        Binding("question_mark", "help", "help"),
        Binding("q", "quit", "quit"),
    ]

    def __init__(
        self,
        desk: ReviewDesk,
        *,
        images: str = "halfcell",
        autoplay: bool = True,
        refresh_s: float = 2.0,
        settings: Settings | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.desk = desk
        self.settings = settings or Settings()
        self.images = images
        self.autoplay = autoplay
        self.refresh_s = refresh_s
        self.split_mode = False
        self._min_frames = 1
        self.card: ClipCard | None = None
        self._next: tuple[ClipCard, SpriteSheet | None] | None = None  # prefetched next clip

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
        self.show_current()
        if self.refresh_s > 0:
            self.set_interval(self.refresh_s, self.poll)

    @property
    def player(self) -> SpritePlayer:
        return self.query_one(SpritePlayer)

    def show_current(self) -> None:
        """Put the desk's current clip on screen (or the empty message)."""
        self._leave_split()
        clip_id = self.desk.current
        ready = self._next
        if ready is not None and ready[0].clip_id == clip_id:
            self.card, sheet = ready
        else:
            self.card = self.desk.card(clip_id) if clip_id is not None else None
            sheet = self.card.sheet(self._min_width) if self.card else None
        self._next = None
        self.screen.set_class(self.card is None, "empty")
        self.player.load(sheet)
        self._show_facts()
        self.call_after_refresh(self._prefetch)

    @property
    def _min_width(self) -> int | None:
        return None if self.images in ("tgp", "sixel") else 160

    def _prefetch(self) -> None:
        """While the operator looks, read the clip that comes next and draw its first tile:
        a decision then only has to write the event and swap what is on screen."""
        upcoming = self.desk.upcoming()
        if upcoming is None or (self._next is not None and self._next[0].clip_id == upcoming):
            return
        try:
            card = self.desk.card(upcoming)
        except OperationalError:
            return
        if card is None:
            return
        sheet = card.sheet(self._min_width)
        self._next = (card, sheet)
        self.player.warm(sheet)

    def _show_facts(self) -> None:
        arrived = self.desk.take_arrived()
        if arrived:
            listed = ", ".join(str(i) for i in arrived)
            self.notify(f"clip {listed} (made by a merge or split) joined the queue")
        self.query_one(ClipInfo).show(self.card, self.desk.position)
        self.query_one(History).show(self.desk.recent())
        self.query_one(KeyBar).set_keys(
            SPLIT_KEYS if self.split_mode else REVIEW_KEYS if self.card else EMPTY_KEYS
        )

    def poll(self) -> None:
        """Pick up what others did: commits by `heaters run`, new clips, CLI decisions."""
        before = self.desk.current
        try:
            self.desk.reload()
        except OperationalError:
            return  # busy with a long write elsewhere: the next poll catches up
        if self.desk.current != before:
            self.show_current()
        else:
            self._show_facts()

    # ------------------------------------------------------------ decisions

    def action_decide(self, action: str, payload: dict[str, Any] | None = None) -> None:
        if self.desk.current is None:
            self.notify("nothing to review", severity="warning")
            return
        try:
            noted = self.desk.act_noted(action, payload)
        except ReviewRefused as exc:
            self.notify(str(exc), title=f"cannot {action}", severity="warning")
            return
        except OperationalError as exc:
            self.notify(_db_message(exc), title=f"{action} not saved", severity="error")
            return
        for old in noted.replaced:
            self.notify(
                f"replaces event {old.id} ({describe(old.action, old.clip_id, old.payload)}):"
                " it will not apply",
                title=f"event {noted.event.id}",
            )
        for note in noted.notes:
            self.notify(note, title=f"event {noted.event.id}")
        self.show_current()

    def action_split(self) -> None:
        """First enter (or arrow) picks a tile; enter in split mode splits there."""
        if self.card is None:
            return
        if not self.split_mode:
            self.player.pause()
            self._enter_split()
            return
        frame = self.player.frame
        if frame is None:
            self.notify("this clip has no tile frames to split at", severity="warning")
            return
        self.action_decide("split", {"frame": int(frame)})

    def action_undo(self) -> None:
        try:
            undone = self.desk.undo()
        except ReviewRefused as exc:
            self.notify(str(exc), title="cannot undo", severity="warning")
            return
        except OperationalError as exc:
            self.notify(_db_message(exc), title="undo not saved", severity="error")
            return
        self.notify(f"undid {undone.action} of clip {undone.clip_id} (event {undone.event_id})")
        self.show_current()

    # ------------------------------------------------------------ playback and split mode

    def action_toggle_play(self) -> None:
        self._leave_split()
        self.player.toggle()

    def action_speed(self) -> None:
        self.player.cycle_speed()

    def action_step(self, delta: int) -> None:
        if self.card is None:
            return
        self.player.step(delta)
        self._enter_split()

    def action_leave_split(self) -> None:
        if self.split_mode:
            self._leave_split()
            self.player.play()

    def _enter_split(self) -> None:
        if not self.split_mode and self.card is not None:
            self._min_frames = self.desk.min_frames(self.card.video_id)
        self.split_mode = True
        self.query_one("#prompt").add_class("on")
        self._update_prompt()
        self.query_one(KeyBar).set_keys(SPLIT_KEYS)

    def _leave_split(self) -> None:
        if not self.split_mode:
            return
        self.split_mode = False
        self.query_one("#prompt").remove_class("on")
        self.query_one(KeyBar).set_keys(REVIEW_KEYS if self.card else EMPTY_KEYS)

    def on_sprite_player_moved(self, message: SpritePlayer.Moved) -> None:
        if self.split_mode:
            self._update_prompt()

    def _update_prompt(self) -> None:
        frame, card = self.player.frame, self.card
        prompt = self.query_one("#prompt", Static)
        if frame is None or card is None:
            prompt.update(" no tile to split at · esc to cancel")
            return
        shortest = self._min_frames
        first, last = card.start_frame + shortest, card.end_frame - shortest
        if first > last:
            prompt.update(
                f" ✂ clip {card.clip_id} is too short to split (parts need {shortest} frames)"
                " · esc to cancel"
            )
        elif not first <= frame <= last:
            prompt.update(
                f" ✂ frame {frame}: a part would be under {shortest} frames;"
                f" pick a tile in frames [{first}, {last + 1}) · esc to cancel"
            )
        else:
            prompt.update(
                f" ✂ split at frame {frame}? enter to split, esc to cancel\n"
                f"   parts [{card.start_frame}, {frame}) and [{frame}, {card.end_frame})"
            )

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
        card = self.card
        if card is None:
            return
        mpv = find_mpv()
        if mpv is None:
            self.notify(MPV_MISSING, title="cannot play", severity="warning")
            return
        if card.source is None or not card.source.exists():
            self.notify(f"source file of video {card.video_id} is missing", severity="warning")
            return
        command = PlayRequest(card.source, card.start_s, card.end_s).command(mpv)
        was_playing = self.player.playing
        self.player.pause()
        try:
            try:
                with self.suspend():
                    code = run_mpv(command)
            except SuspendNotSupported:  # headless or web: run it without handing over the tty
                code = run_mpv(command, capture=True)
        except OSError as exc:
            self.notify(f"mpv failed to start: {exc}", severity="error")
            return
        if code != 0:
            self.notify(f"mpv exited with code {code}", severity="warning")
        if was_playing:
            self.player.play()

    def action_help(self) -> None:
        if not self.is_screen_installed("help"):
            self.install_screen(HelpScreen(), "help")
        self.push_screen("help")
