"""One base for the review screen's pop-up panels (help, similar clips, and any new one).

A panel is a centred box with a title and `esc closes` under it; the screen below stays where it
was and its keys do nothing until the panel closes. Adding a panel to the review app is a
subclass with a `body()`, one binding and one `push_screen`.

The backdrop is opaque on purpose: a see-through modal makes Textual blend every cell of the
screen below on each redraw (~4,000 half-block segments at 160x48), which cost more than the
50 ms a key may take.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget


class Panel(ModalScreen[None]):
    """A titled box over the review screen; `escape` and `q` close it (subclasses add keys)."""

    TITLE: ClassVar[str] = ""
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "close"),
    ]
    DEFAULT_CSS = """
    Panel { align: center middle; background: $background; }
    Panel > VerticalScroll {
        width: 100%; max-width: 80; height: auto; max-height: 100%;
        border: round $accent; border-title-color: $text; padding: 0 1;
        background: $surface;
    }
    """

    def title_text(self) -> str:
        return self.TITLE

    def body(self) -> ComposeResult:
        """The panel's widgets."""
        yield from ()

    def compose(self) -> ComposeResult:
        with VerticalScroll() as box:
            box.border_title = self.title_text()
            box.border_subtitle = "esc closes"
            yield from self.body()

    def action_close(self) -> None:
        self.dismiss(None)

    @property
    def box(self) -> Widget:
        return self.query_one(VerticalScroll)
