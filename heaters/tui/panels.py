"""Text panels of the review screen: the clip's facts, the last actions, and the key bar."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
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

    def show(self, card: ClipCard | None, position: tuple[int, int]) -> None:
        self.update(clip_facts(card, position) if card else "")


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

    def show(self, actions: Sequence[RecentAction]) -> None:
        self.update(history_lines(actions))


@dataclass(frozen=True)
class Key:
    keys: str
    label: str
    keep: bool = False  # shown even when the terminal is narrow


REVIEW_KEYS = (
    Key("a", "approve", True),
    Key("s", "skip", True),
    Key("d", "archive", True),
    Key("m", "merge", True),
    Key("g", "group", True),
    Key("←→", "split", True),
    Key("u", "undo", True),
    Key("space", "play/pause"),
    Key("x", "speed"),
    Key("p", "mpv"),
    Key("f", "similar"),
    Key("?", "help", True),
    Key("q", "quit", True),
)
SPLIT_KEYS = (
    Key("enter", "split here", True),
    Key("esc", "cancel", True),
    Key("←→", "±1 tile", True),
    Key("shift+←→", "±10 tiles", True),
    Key("?", "help", True),
)
EMPTY_KEYS = (Key("u", "undo", True), Key("?", "help", True), Key("q", "quit", True))


def fit_keys(keys: Sequence[Key], width: int) -> tuple[list[Key], str]:
    """The keys that fit in `width` cells, in order; the `keep` ones first claim their room."""

    def cells(k: Key, gap: str) -> int:
        return len(k.keys) + 1 + len(k.label) + len(gap)

    gap = "  "
    if sum(cells(k, gap) for k in keys if k.keep) > width - 1:
        gap = " "  # narrow terminal: tighter, but every essential key stays
    budget = width - 1 - sum(cells(k, gap) for k in keys if k.keep)
    if budget < 0:  # very narrow: `? help` and `q quit` stay, the others as far as room allows
        last = [k for k in keys if k.keys in ("?", "q")]
        room = width - 1 - sum(cells(k, gap) for k in last)
        first = []
        for k in keys:
            if k.keep and k not in last and cells(k, gap) <= room:
                first.append(k)
                room -= cells(k, gap)
            elif k not in last:
                break
        return first + last, gap
    shown = []
    for k in keys:
        if k.keep:
            shown.append(k)
        elif cells(k, gap) <= budget:
            shown.append(k)
            budget -= cells(k, gap)
    return shown, gap


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
    """The keys that act now, fitted to the terminal width."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._keys: Sequence[Key] = REVIEW_KEYS

    def set_keys(self, keys: Sequence[Key]) -> None:
        self._keys = keys
        self.update(key_markup(keys, self.size.width or 80))

    def on_resize(self) -> None:
        self.update(key_markup(self._keys, self.size.width or 80))


def help_table() -> Group:
    """Every key, for the `?` screen."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    rows = [
        ("a", "approve: keep the clip"),
        ("s", "skip: decide later"),
        ("d", "archive: drop it"),
        ("m", "merge with the previous clip (one clip spanning both)"),
        ("g", "group with the previous clip (both approved, kept together)"),
        ("← →", "one tile back / on (pauses, starts split mode)"),
        ("shift+← →", "ten tiles back / on"),
        ("enter", "split mode; again: split at the shown tile (it starts part two)"),
        ("esc", "leave split mode"),
        ("space", "play / pause"),
        ("x", "playback speed: 1x, 1.5x, 2x"),
        ("u, ctrl+z", "undo your newest action (again for older); its clip returns"),
        ("p", "play the clip in mpv"),
        ("f", "similar clips, as thumbnails (embedded ones and those still waiting for review)"),
        ("/", "find by words (objects, animals); on a hit: enter opens, a approves, e exports"),
        ("?", "this help"),
        ("q", "quit"),
    ]
    for k, v in rows:
        table.add_row(k, v)
    note = Text(
        "\nActions are saved at once and stay pending until `heaters run` applies them "
        "after the grace period. Undo works before and after.",
        style="italic",
    )
    return Group(table, note)
