"""Start the review TUI: pick the image mode while we still own the terminal, then run the app."""

from __future__ import annotations

from heaters.console import err
from heaters.settings import Settings
from heaters.store.review import ReviewConfig
from heaters.store.store import Store
from heaters.tui.app import ReviewApp
from heaters.tui.desk import ReviewDesk
from heaters.tui.images import resolve_mode


def make_app(
    store: Store,
    settings: Settings,
    *,
    video_id: int | None = None,
    images: str = "halfcell",
    autoplay: bool = True,
    refresh_s: float = 2.0,
    tune_gc: bool = False,
) -> ReviewApp:
    """The app on a store, with the same review config as the `heaters review` subcommands."""
    cfg = ReviewConfig.of(store.home, settings)
    desk = ReviewDesk(store, cfg, video_id=video_id)
    return ReviewApp(
        desk,
        images=images,
        autoplay=autoplay,
        refresh_s=refresh_s,
        settings=settings,
        tune_gc=tune_gc,
    )


def launch(
    store: Store, settings: Settings, *, video_id: int | None = None, images: str = "auto"
) -> None:
    """`heaters review`: terminal detection (textual-image) must happen before `App.run()`."""
    mode = resolve_mode(images)
    app = make_app(store, settings, video_id=video_id, images=mode, tune_gc=True)
    app.run()
    summary = session_summary(app, settings)
    if summary:
        err.print(summary)


def session_summary(app: ReviewApp, settings: Settings) -> str:
    """What the reviewer leaves behind: pending actions only take effect once `heaters run` runs."""
    decided = len(app.desk.decided)
    try:
        pending = sum(1 for a in app.desk.recent(limit=1000) if a.pending)
    except Exception:  # noqa: BLE001 - a summary must never turn a clean exit into a traceback
        return ""
    if not decided and not pending:
        return ""
    text = f"review: {decided} clip(s) decided this session"
    if pending:
        text += (
            f"; {pending} action(s) pending: `heaters run` applies them"
            f" {settings.grace_s:g} s after they were made"
        )
    return text
