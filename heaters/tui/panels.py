"""Text panels of the review screen: the clip's facts, the last actions, the key bar and help.

The key bar and the help are read from the app's one `BINDINGS` list (description: the bar's
label; tooltip: the help's sentence), so a new key is one binding and shows up in both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.widgets import Static

from heaters.tui.desk import ClipCard, RecentAction


def clip_facts(card: ClipCard, position: tuple[int, int]) -> Table:
    """Clip id, queue position, source title, frame and time range, duration."""
    n, total = position
    table = Table.grid(padding=(0, 1), expand=True)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="ellipsis", no_wrap=True, ratio=1)
    left = total - n
    table.add_row("queue", Text.assemble((f"{n} of {total}", "bold"), f"  ({left} after this)"))
    table.add_row("clip", Text(str(card.clip_id), style="bold"))
    table.add_row("video", Text(f"{card.video_id} · {card.title}"))
    table.add_row("frames", f"[{card.start_frame}, {card.end_frame})")
    table.add_row("time", f"{card.start_s:.2f}–{card.end_s:.2f} s")
    table.add_row("length", f"{card.duration_s:.2f} s ({card.end_frame - card.start_frame} frames)")
    return table


class ClipInfo(Static):
    """Facts about the current clip."""

    _shown: tuple[ClipCard | None, tuple[int, int]] | None = None  # last drawn (skip repeats)

    def show(self, card: ClipCard | None, position: tuple[int, int]) -> None:
        if (card, position) == self._shown:
            return
        # Always six rows: the height only changes when a clip appears or goes.
        resize = (card is None) != (self._shown is None or self._shown[0] is None)
        self._shown = (card, position)
        self.update(clip_facts(card, position) if card else "", layout=resize)


_MARKS = {
    "pending": "bold yellow",
    "applied": "green",
    "replaced": "dim",
    "cancelled": "dim",
    "undone": "dim",
    "refused": "bold red",
}


def history_lines(actions: Sequence[RecentAction]) -> Text:
    """Newest first: each action whole, with its outcome as `heaters events` states it (and why,
    where it did not apply)."""
    text = Text()
    if not actions:
        text.append("no actions yet", style="italic")
        return text
    for i, a in enumerate(actions):
        if i:
            text.append("\n")
        mark = "undo" if a.action == "undo" else a.status
        text.append(f"#{a.event_id} ", style="dim")
        text.append(mark, style="dim" if a.action == "undo" else _MARKS[a.status])
        gone = a.status in ("replaced", "cancelled", "undone")
        text.append("\n  ")
        text.append(a.describe(), style="dim strike" if gone else "")
        if a.action != "undo" and a.why and a.status in ("replaced", "refused", "undone"):
            text.append(f"\n  {a.why}", style="dim italic")
    return text


class History(Static):
    """The reviewer's last actions with pending/committed marks."""

    _shown: list[RecentAction] | None = None

    def show(self, actions: Sequence[RecentAction]) -> None:
        if list(actions) == self._shown:
            return
        self._shown = list(actions)
        self.update(history_lines(actions), layout=False)  # it fills its fixed box


@dataclass(frozen=True)
class Key:
    """One entry of the key bar: what to press, what it does."""

    keys: str
    label: str
    keep: bool = False  # shown before the others on a narrow bar (screens with their own list)


def action_name(action: str) -> str:
    """`decide('approve')` → `decide`: the name `check_action` is asked about."""
    return action.split("(", 1)[0]


def bar_keys(bindings: Iterable[Binding], display: Callable[[Binding], str]) -> list[Key]:
    """The key bar's entries for bindings that act now (already passed through the app's
    `check_action`), in their declared order: shown ones only, one entry per action and label
    (`u,ctrl+z` shows as `u`)."""
    keys: list[Key] = []
    seen: set[tuple[str, str]] = set()
    for b in bindings:
        ident = (b.action, b.description)
        if b.show and not b.system and ident not in seen:
            seen.add(ident)
            keys.append(Key(display(b), b.description))
    return keys


def fit_keys(keys: Sequence[Key], width: int, reserve: int = 2) -> tuple[list[Key], str]:
    """The keys that fit in `width` cells, in order. The last `reserve` (help, quit) always
    stay, `keep` ones next, the rest while there is room (a bindings list puts the essential
    ones first)."""

    def cells(k: Key, gap: str) -> int:
        return len(k.keys) + 1 + len(k.label) + len(gap)

    last = set(range(max(0, len(keys) - reserve), len(keys)))
    gap = "  "
    if sum(cells(k, gap) for k in keys) > width - 1:
        gap = " "  # narrow terminal: tighter, so that more keys stay
    room = width - 1 - sum(cells(keys[i], gap) for i in last)
    chosen = set(last)
    for want_keep in (True, False):
        for i, k in enumerate(keys):
            if i not in chosen and k.keep == want_keep and cells(k, gap) <= room:
                chosen.add(i)
                room -= cells(k, gap)
    return [k for i, k in enumerate(keys) if i in chosen], gap


def key_text(keys: Sequence[Key], width: int) -> Text:
    """The key bar as plain text (what fits)."""
    shown, gap = fit_keys(keys, width)
    return Text(" " + "".join(f"{k.keys} {k.label}{gap}" for k in shown))


def key_markup(keys: Sequence[Key], width: int) -> Content:
    """The key bar with the keys in the theme's accent colour."""
    shown, gap = fit_keys(keys, width)
    parts = [Content(" ")]
    for k in shown:
        parts.append(Content.styled(k.keys, "bold $accent"))
        parts.append(Content(f" {k.label}{gap}"))
    return Content("").join(parts)


class KeyBar(Static):
    """The keys that act now, fitted to the terminal width: a one-line footer read from the
    screen's active bindings (so the app's `check_action` decides, as for Textual's `Footer`),
    redrawn as one line when they change instead of remounting a widget per key."""

    _shown: list[Key] | None = None
    _fixed: list[Key] | None = None  # a screen that keeps its own list (`set_keys`)
    _order: dict[tuple[str, str], int] | None = None

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._changed)
        self.refresh_keys()

    def set_keys(self, keys: Sequence[Key]) -> None:
        """Show these keys instead of the screen's bindings (the find screen's own list)."""
        self._fixed = list(keys)
        self.refresh_keys()

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _changed(self, _screen: object = None) -> None:
        self.refresh_keys()

    def keys(self) -> list[Key]:
        if self._fixed is not None:
            return self._fixed
        if self._order is None:  # declared order (active_bindings is ordered by key)
            declared = Binding.make_bindings(type(self.app).BINDINGS)
            self._order = {(b.key, b.action): i for i, b in enumerate(declared)}
        order = self._order
        active = sorted(
            (a.binding for a in self.screen.active_bindings.values() if a.enabled),
            key=lambda b: order.get((b.key, b.action), len(order)),
        )
        return bar_keys(active, self.app.get_key_display)

    def refresh_keys(self) -> None:
        shown = self.keys()
        if shown != self._shown:
            self._shown = shown
            self.update(key_markup(shown, self.size.width or 80), layout=False)

    def on_resize(self) -> None:
        if self._shown is not None:
            self.update(key_markup(self._shown, self.size.width or 80))


def help_rows(
    bindings: Iterable[BindingType], display: Callable[[Binding], str]
) -> list[tuple[str, str]]:
    """(keys, what they do) for every binding with a description, in declared order; bindings
    with the same text share a row (`u, ctrl+z`)."""
    rows: dict[str, list[str]] = {}
    for b in Binding.make_bindings(bindings):
        text = b.tooltip or b.description
        if not text or b.system:
            continue
        shown = rows.setdefault(text, [])
        key = display(b)
        if key not in shown:
            shown.append(key)
    return [(", ".join(keys), text) for text, keys in rows.items()]


def help_table(rows: Sequence[tuple[str, str]]) -> Group:
    """Every key, for the `?` screen."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for k, v in rows:
        table.add_row(k, v)
    note = Text(
        "\nActions are saved at once and stay pending until `heaters run` applies them "
        "after the grace period. Undo works before and after.",
        style="italic",
    )
    return Group(table, note)
