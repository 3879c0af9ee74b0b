"""Pilot tests: the real review app on a real store (synthetic video → splice → sprites).

Every key is pressed as the operator would; what the store holds afterwards is checked with the
same functions the dispatcher uses (`commit_due`), so a split or merge is proven by the clips it
makes, not by what the screen says.
"""

from __future__ import annotations

import asyncio
import io
import os
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw
from rich.console import Console
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import Static
from tuihome import ReviewHome

from heaters.stages.tiles import TileStore, write_store
from heaters.store import clips, db, review
from heaters.store.db import DatabaseError, connect_raw
from heaters.store.review import ReviewConfig
from heaters.store.tables import Clip, ClipEvent
from heaters.tui.app import BUSY_NOTICE_S, HelpScreen, ReviewApp
from heaters.tui.launch import make_app, session_summary
from heaters.tui.player import HalfBlockView, SpritePlayer

SIZE = (120, 40)
FAR_FUTURE = 4_000_000_000.0


def app_for(home: ReviewHome, **kwargs: object) -> ReviewApp:
    options: dict[str, object] = {"images": "halfcell", "autoplay": False, "refresh_s": 0}
    options.update(kwargs)
    return make_app(home.store(), home.settings, **options)  # type: ignore[arg-type]


def drive(
    app: ReviewApp, script: Callable[[Pilot[None]], Awaitable[None]], size: tuple[int, int] = SIZE
) -> None:
    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            await script(pilot)

    asyncio.run(main())


async def press(pilot: Pilot[None], *keys: str) -> None:
    """Keys as the operator presses them, each one's database write saved and shown before the
    next (the app writes on a thread; a person is slower than the write)."""
    app = pilot.app
    assert isinstance(app, ReviewApp)
    for key in keys:
        await pilot.press(key)
        await app.writes_done()
        await pilot.pause()


def text_of(widget: Widget) -> str:
    assert isinstance(widget, Static)
    console = Console(width=max(widget.size.width, 40), record=True, file=io.StringIO())
    console.print(widget.content)
    return console.export_text()


def notes(app: ReviewApp) -> list[str]:
    return [n.message for n in app._notifications]


def events(home: ReviewHome) -> list[ClipEvent]:
    with home.store().tx(write=False) as session:
        return review.events(session)


def commit_all(home: ReviewHome) -> None:
    store = home.store()
    cfg = ReviewConfig(home=store.home, min_clip_s=home.settings.min_clip_s)
    with store.tx() as session:
        review.commit_due(session, now=FAR_FUTURE, grace_s=0, cfg=cfg)


def live(clips: list[Clip]) -> list[tuple[int, int, str]]:
    return [(c.start_frame, c.end_frame, c.state) for c in clips]


# ---------------------------------------------------------------- screen


def test_review_screen_shows_the_first_clip(review_home: ReviewHome) -> None:
    app = app_for(review_home)
    first = review_home.clips()[0]

    async def script(pilot: Pilot[None]) -> None:
        info = text_of(app.query_one("#info"))
        assert f"clip   {first.id}" in info and "queue  1 of 4  (3 after this)" in info
        assert "TUI test video" in info
        assert f"frames [{first.start_frame}, {first.end_frame})" in info
        assert "0.00–1.50 s" in info and "1.50 s (45 frames)" in info
        status = text_of(app.query_one("#tile-status"))
        assert "❚❚ tile 1/" in status and "frame 0" in status
        assert "no actions yet" in text_of(app.query_one("#history"))
        keys = text_of(app.query_one("#keys"))
        for word in ("approve", "skip", "archive", "merge", "group", "undo", "help", "quit"):
            assert word in keys

    drive(app, script)


def test_layout_fits_80x24(review_home: ReviewHome) -> None:
    app = app_for(review_home)

    async def script(pilot: Pilot[None]) -> None:
        view = app.query_one(HalfBlockView)
        side = app.query_one("#side")
        assert view.region.right <= side.region.x  # the image never runs under the panels
        assert view.region.bottom <= app.query_one("#keys").region.y
        assert view.region.height >= 8 and view.region.width >= 30
        keys = text_of(app.query_one("#keys"))
        assert "approve" in keys and "quit" in keys and "help" in keys
        assert "1 of 4" in text_of(app.query_one("#info"))

    drive(app, script, size=(80, 24))


# ---------------------------------------------------------------- decisions


def test_approve_skip_archive_advance_the_queue(review_home: ReviewHome) -> None:
    app = app_for(review_home)
    ids = [c.id for c in review_home.clips()]

    async def script(pilot: Pilot[None]) -> None:
        assert app.desk.current == ids[0]
        await press(pilot, "a")
        assert app.desk.current == ids[1]
        assert "2 of 4" in text_of(app.query_one("#info"))
        await press(pilot, "s")
        assert app.desk.current == ids[2]
        await press(pilot, "d")
        assert app.desk.current == ids[3]
        history = text_of(app.query_one("#history"))
        assert "pending" in history and f"archive clip {ids[2]}" in history

    drive(app, script)
    got = [(e.clip_id, e.action) for e in events(review_home)]
    assert got == [(ids[0], "approve"), (ids[1], "skip"), (ids[2], "archive")]
    commit_all(review_home)
    assert [c.state for c in review_home.clips()] == [
        "review_approved", "review_skipped", "review_archived", "pending_review",
    ]  # fmt: skip


def test_a_sheet_that_cannot_be_decoded_shows_no_picture_and_review_goes_on(
    review_home: ReviewHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A damaged sprite file whose decoder raises something other than OSError (a JPEG or index
    error): the clip is shown without a picture, not left waiting for one for ever."""
    from heaters.tui.sprite import SpriteSheet

    def broken(self: SpriteSheet) -> SpriteSheet:
        raise ValueError("not a JPEG")

    monkeypatch.setattr(SpriteSheet, "prepare", broken)
    app = app_for(review_home)
    ids = [c.id for c in review_home.clips()]

    async def script(pilot: Pilot[None]) -> None:
        await asyncio.wait_for(press(pilot, "a"), 60)  # (press waits for the load to end)
        assert app.desk.current == ids[1] and app.pending_loads == 0
        assert app.query_one(SpritePlayer).sheet is None
        await press(pilot, "a")
        assert app.desk.current == ids[2]

    drive(app, script)
    assert [e.clip_id for e in events(review_home)] == ids[:2]


def test_last_clip_decided_shows_nothing_to_review(review_home: ReviewHome) -> None:
    app = app_for(review_home)

    async def script(pilot: Pilot[None]) -> None:
        await press(pilot, "a", "a", "a", "a")
        assert app.desk.current is None
        assert app.screen.has_class("empty")
        message = text_of(app.query_one("#empty"))
        assert "Nothing to review" in message and "heaters run" in message
        keys = text_of(app.query_one("#keys"))
        assert "undo" in keys and "help" in keys and "approve" not in keys
        await press(pilot, "a", "space", "right")  # not keys here: nothing happens, no crash
        assert len(events(review_home)) == 4
        await press(pilot, "u")  # undo still works from the empty screen
        assert app.desk.current == review_home.clips()[-1].id
        assert not app.screen.has_class("empty")

    drive(app, script)


def test_empty_queue_at_start(review_home: ReviewHome) -> None:
    store = review_home.store()
    with store.tx() as session:
        for clip in session.exec(review.select(Clip)):
            clip.state = "review_approved"
            session.add(clip)

    app = app_for(review_home)

    async def script(pilot: Pilot[None]) -> None:
        assert app.screen.has_class("empty")
        assert "heaters run" in text_of(app.query_one("#empty"))
        await press(pilot, "space", "right", "enter", "m", "p")  # none of these may crash

    drive(app, script)


def test_undo_brings_the_previous_clip_back(review_home: ReviewHome) -> None:
    app = app_for(review_home)
    ids = [c.id for c in review_home.clips()]

    async def script(pilot: Pilot[None]) -> None:
        await press(pilot, "a", "s")
        assert app.desk.current == ids[2]
        await press(pilot, "u")
        assert app.desk.current == ids[1]  # the skipped clip is back, current again
        assert "undid skip" in notes(app)[-1]
        await press(pilot, "ctrl+z")
        assert app.desk.current == ids[0]
        assert "1 of 4" in text_of(app.query_one("#info"))
        history = text_of(app.query_one("#history"))
        assert "cancelled" in history and "undo event 1" in history
        await press(pilot, "u")  # nothing left to undo: refused, said, no crash
        assert "nothing to undo" in notes(app)[-1]

    drive(app, script)
    commit_all(review_home)
    assert {c.state for c in review_home.clips()} == {"pending_review"}
    with review_home.store().tx(write=False) as session:
        assert review.check(session, review_home.settings.min_clip_s) == []


def test_merge_with_previous_gives_one_clip_spanning_both(review_home: ReviewHome) -> None:
    app = app_for(review_home)
    first, second = review_home.clips()[:2]

    async def script(pilot: Pilot[None]) -> None:
        await press(pilot, "a", "m")
        assert app.desk.current == review_home.clips()[2].id

    drive(app, script)
    assert [(e.clip_id, e.action) for e in events(review_home)][-1] == (second.id, "merge")
    commit_all(review_home)
    clips = review_home.clips()
    merged = [c for c in clips if c.origin == "merge"]
    assert len(merged) == 1
    assert (merged[0].start_frame, merged[0].end_frame) == (first.start_frame, second.end_frame)
    assert {c.id: c.state for c in clips}[first.id] == "merged"
    assert {c.id: c.state for c in clips}[second.id] == "merged"


def test_clip_made_by_a_commit_joins_the_open_queue(review_home: ReviewHome) -> None:
    """`heaters run` commits a merge while the TUI is open: the new clip is announced and queued
    (here without a sprite yet: the screen says so instead of failing)."""
    app = app_for(review_home)

    async def script(pilot: Pilot[None]) -> None:
        await press(pilot, "a", "m")
        assert app.desk.position == (3, 4)
        commit_all(review_home)
        with review_home.store().tx() as session:
            made = session.exec(review.select(Clip).where(Clip.origin == "merge")).one()
            made.state = "pending_review"  # as if the sprite stage had run
            session.add(made)
        app.poll()
        await pilot.pause()
        assert f"clip {made.id} (made by a merge or split) joined the queue" in notes(app)
        assert app.desk.position == (4, 5)  # 2 decided, the new clip (earlier in time), 2 left
        await press(pilot, "a", "a")
        assert app.desk.current == made.id  # reached after the last clip of the timeline
        assert "no sprite for this clip" in text_of(app.query_one("#tile-status"))
        await press(pilot, "right", "p")  # nothing to step through; no crash

    drive(app, script)


def test_group_with_previous(review_home: ReviewHome) -> None:
    app = app_for(review_home)
    first, second = review_home.clips()[:2]

    async def script(pilot: Pilot[None]) -> None:
        await press(pilot, "s", "g")

    drive(app, script)
    commit_all(review_home)
    by_id = {c.id: c for c in review_home.clips()}
    assert by_id[second.id].state == "review_approved"
    assert by_id[first.id].state == "review_approved"
    assert by_id[second.id].grouped_with_clip_id == first.id


def test_refusals_are_notifications(review_home: ReviewHome) -> None:
    app = app_for(review_home)

    async def script(pilot: Pilot[None]) -> None:
        await press(pilot, "m")  # the first clip has no previous clip
        assert "no previous clip" in notes(app)[-1]
        await press(pilot, "g")
        assert "no previous clip" in notes(app)[-1]
        await press(pilot, "enter")  # split mode; 45 frames cannot make two 1 s parts
        assert app.split_mode
        assert "too short to split" in text_of(app.query_one("#prompt"))
        await press(pilot, "right", "enter")
        assert "shorter than the minimum" in notes(app)[-1]
        await press(pilot, "escape", "s")  # on to the 90-frame clip
        second = review_home.clips()[1].id
        assert app.desk.current == second
        await press(pilot, "enter")  # tile 0 is the clip's first frame
        assert "a part would be under 30 frames" in text_of(app.query_one("#prompt"))
        await press(pilot, "enter")
        assert "outside clip" in notes(app)[-1]
        assert app.desk.current == second

    drive(app, script)
    assert [e.action for e in events(review_home)] == ["skip"]  # refusals wrote nothing


def test_a_locked_database_is_a_notification(
    review_home: ReviewHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = app_for(review_home)

    def locked(*args: object, **kwargs: object) -> None:
        raise DatabaseError("database is locked")

    async def script(pilot: Pilot[None]) -> None:
        monkeypatch.setattr(app.desk, "write", locked)
        monkeypatch.setattr(app.desk, "write_undo", locked)
        await press(pilot, "a")
        assert "database is locked" in notes(app)[-1] and "nothing was written" in notes(app)[-1]
        await press(pilot, "u")
        assert "database is locked" in notes(app)[-1]
        assert app.is_running and app.desk.current == review_home.clips()[0].id

    drive(app, script)


def hold_write_lock(home: ReviewHome) -> Any:
    """Another process's writer, as `heaters run` would be: a real SQLite connection holding
    the write lock (BEGIN IMMEDIATE) until it is rolled back."""
    other = connect_raw(home.root / "heaters.db")
    other.execute("BEGIN IMMEDIATE")
    return other


def test_a_busy_database_is_a_notice_never_a_frozen_screen(review_home: ReviewHome) -> None:
    """While another connection holds the write lock, a decision moves the queue on at once,
    the screen keeps taking keys, a notice says the write waits; once the lock is gone the
    decision is saved, in the order it was made."""
    app = app_for(review_home)
    ids = [c.id for c in review_home.clips()]

    async def script(pilot: Pilot[None]) -> None:
        other = hold_write_lock(review_home)
        try:
            await pilot.press("a")
            assert app.desk.current == ids[1] and app.pending_writes == 1
            await pilot.press("s")  # a second decision queues behind the first
            assert app.desk.current == ids[2]
            await pilot.pause(BUSY_NOTICE_S + 0.3)
            assert any("database is busy" in n for n in notes(app))
            assert app.pending_writes == 2
            await pilot.press("space")  # the screen still answers
            assert app.query_one(SpritePlayer).playing
        finally:
            other.rollback()
            other.close()
        await app.writes_done()
        await pilot.pause()
        assert app.desk.current == ids[2]

    drive(app, script)
    assert [(e.clip_id, e.action) for e in events(review_home)] == [
        (ids[0], "approve"), (ids[1], "skip"),
    ]  # fmt: skip


def test_a_lock_held_past_the_busy_timeout_writes_nothing_and_says_so(
    review_home: ReviewHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "BUSY_TIMEOUT_MS", 300)  # connections the app opens wait 0.3 s
    app = app_for(review_home)
    first = review_home.clips()[0].id

    async def script(pilot: Pilot[None]) -> None:
        other = hold_write_lock(review_home)
        try:
            await pilot.press("a")
            await app.writes_done()
            await pilot.pause()  # the notice is posted as a message
        finally:
            other.rollback()
            other.close()
        assert "database is locked" in notes(app)[-1] and "nothing was written" in notes(app)[-1]
        assert app.desk.current == first  # the clip is back, to decide again
        assert str(first) in text_of(app.query_one("#info"))

    drive(app, script)
    assert events(review_home) == []


def test_video_filter(review_home: ReviewHome) -> None:
    app = app_for(review_home, video_id=99)

    async def script(pilot: Pilot[None]) -> None:
        assert app.screen.has_class("empty")
        assert "only video 99" in text_of(app.query_one("#empty"))

    drive(app, script)


# ---------------------------------------------------------------- player and split


def test_space_plays_and_pauses(review_home: ReviewHome) -> None:
    app = app_for(review_home)

    async def script(pilot: Pilot[None]) -> None:
        player = app.query_one(SpritePlayer)
        assert not player.playing and player.index == 0
        await press(pilot, "space")
        assert player.playing
        await pilot.pause(0.4)  # 24 fps: several tiles
        await press(pilot, "space")
        assert not player.playing
        shown = player.index
        assert shown > 0
        assert f"tile {shown + 1}/" in text_of(app.query_one("#tile-status"))
        await pilot.pause(0.2)
        assert player.index == shown

    drive(app, script)


def test_arrows_step_tiles_and_start_split_mode(review_home: ReviewHome) -> None:
    app = app_for(review_home, autoplay=True)

    async def script(pilot: Pilot[None]) -> None:
        player = app.query_one(SpritePlayer)
        assert player.playing
        await press(pilot, "right")  # pauses wherever playback was
        assert not player.playing and app.split_mode
        # Where playback stopped depends on how long the app took to start (a loaded machine
        # plays further, and playback loops): ten back at a time, once more than reaches the
        # first tile, clamps there.
        await press(pilot, *["shift+left"] * (player.index // 10 + 1))
        assert player.index == 0  # clamped at the first tile
        await press(pilot, "right")
        assert player.index == 1
        await press(pilot, "shift+right", "left")
        assert player.index == 10
        await pilot.pause(0.2)
        assert player.index == 10  # still paused
        prompt = app.query_one("#prompt")
        assert prompt.display
        await press(pilot, "escape")
        assert not app.split_mode and not prompt.display and player.playing
        assert app.desk.current == review_home.clips()[0].id  # esc decided nothing

    drive(app, script)
    assert events(review_home) == []


def test_split_at_the_shown_tile(review_home: ReviewHome) -> None:
    app = app_for(review_home)
    clip = review_home.clips()[1]  # 90 frames: room for two parts of at least 1 s
    chosen: dict[str, int] = {}

    async def script(pilot: Pilot[None]) -> None:
        await press(pilot, "a")
        assert app.desk.current == clip.id
        await press(pilot, "shift+right", "shift+right", "shift+right", "right", "left")
        player = app.query_one(SpritePlayer)
        assert player.index == 30 and player.sheet is not None
        frame = player.sheet.frames[30]
        chosen["frame"] = frame
        assert clip.start_frame + 30 <= frame <= clip.end_frame - 30
        prompt = text_of(app.query_one("#prompt"))
        assert f"split at frame {frame}?" in prompt and "enter to split" in prompt
        assert f"frame {frame}" in text_of(app.query_one("#tile-status"))
        await press(pilot, "enter")
        assert not app.split_mode
        assert app.desk.current == review_home.clips()[2].id

    drive(app, script)
    last = events(review_home)[-1]
    assert (last.clip_id, last.action, last.payload) == (clip.id, "split", chosen)
    commit_all(review_home)
    parts = sorted(
        (c for c in review_home.clips() if c.origin == "split"), key=lambda c: c.start_frame
    )
    frame = chosen["frame"]
    assert [(p.start_frame, p.end_frame) for p in parts] == [
        (clip.start_frame, frame), (frame, clip.end_frame),
    ]  # fmt: skip
    assert {c.id: c.state for c in review_home.clips()}[clip.id] == "split"


def test_undo_after_commit_restores_the_split_clip(review_home: ReviewHome) -> None:
    """Undo of a committed split: the original clip comes back as the current one."""
    clip = review_home.clips()[1]
    app = app_for(review_home)

    async def split(pilot: Pilot[None]) -> None:
        await press(pilot, "a", "shift+right", "shift+right", "shift+right", "enter")

    drive(app, split)
    commit_all(review_home)
    app = app_for(review_home)

    async def undo(pilot: Pilot[None]) -> None:
        await press(pilot, "u")
        assert app.desk.current == clip.id

    drive(app, undo)
    assert not [c for c in review_home.clips() if c.origin == "split"]


# similar clips (f) and find (/): tests/tui/test_find.py


# ---------------------------------------------------------------- mpv, help, quit


def test_p_without_mpv_says_so(
    review_home: ReviewHome, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    app = app_for(review_home)

    async def script(pilot: Pilot[None]) -> None:
        await press(pilot, "p")
        assert "mpv not installed" in notes(app)[-1]

    drive(app, script)


def test_p_runs_mpv_on_the_source_with_clip_times(
    review_home: ReviewHome, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "mock-bin"
    bin_dir.mkdir()
    log = tmp_path / "mock-mpv-args.txt"
    mock_mpv = bin_dir / "mpv"
    mock_mpv.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{log}"\n')
    mock_mpv.chmod(mock_mpv.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    app = app_for(review_home)
    second = review_home.clips()[1]

    async def script(pilot: Pilot[None]) -> None:
        await press(pilot, "a", "p")
        assert not [n for n in notes(app) if "mpv" in n]

    drive(app, script)
    args = log.read_text().splitlines()
    source = review_home.root / "media" / "sources" / str(second.source_video_id) / "source.mp4"
    assert args == [
        f"--start={second.start_time_s:.3f}", f"--end={second.end_time_s:.3f}", str(source),
    ]  # fmt: skip
    assert args[:2] == ["--start=1.500", "--end=4.500"]


def test_question_mark_shows_help(review_home: ReviewHome) -> None:
    app = app_for(review_home)

    async def script(pilot: Pilot[None]) -> None:
        await press(pilot, "question_mark")
        assert isinstance(app.screen, HelpScreen)
        body = text_of(app.screen.query_one("#help-body"))
        for word in ("approve", "merge", "split", "undo", "mpv", "similar", "quit"):
            assert word in body
        await press(pilot, "a")  # keys of the review screen do nothing under the help
        await press(pilot, "escape")
        assert not isinstance(app.screen, HelpScreen)

    drive(app, script)
    assert events(review_home) == []


def test_q_quits_and_leaves_a_summary(review_home: ReviewHome) -> None:
    app = app_for(review_home)

    async def script(pilot: Pilot[None]) -> None:
        await press(pilot, "a", "q")
        await pilot.pause()
        assert not app.is_running

    drive(app, script)
    summary = session_summary(app, review_home.settings)
    assert "1 clip(s) decided" in summary and "1 action(s) pending" in summary
    assert "heaters run" in summary


# ---------------------------------------------------------------- snapshot


def paint_sprites(home: ReviewHome) -> None:
    """Replace every sprite's pictures with drawn ones (same geometry), so the snapshot pins the
    TUI's drawing and not ffmpeg's encoder or the tile scaler. Views into a tile store get a
    painted store: tile i of each clip's view shows what tile i of a sheet would."""
    store = home.store()
    with store.tx(write=False) as session:
        sheets = [a for c in home.clips() for a in clips.artifacts(session, c.id or 0, "sprite")]
    painted: dict[str, dict[int, bytes]] = {}
    for art in sheets:
        meta = art.meta or {}
        tw, th, cols = meta["tile_width"], meta["tile_height"], meta["columns"]
        pictures = [_painted_tile(tw, th, i) for i in range(meta["tile_count"])]
        if meta.get("layout") == "tiles":
            for frame, pic in zip(meta["frames"], pictures, strict=True):
                buf = io.BytesIO()
                pic.save(buf, format="JPEG", quality=95)
                painted.setdefault(art.path, {})[frame] = buf.getvalue()
            continue
        rows = -(-meta["tile_count"] // cols)
        sheet = Image.new("RGB", (tw * cols, th * rows))
        for i, pic in enumerate(pictures):
            sheet.paste(pic, ((i % cols) * tw, (i // cols) * th))
        sheet.save(store.home.abs(art.path), format="PNG")
    for rel, tiles_by_frame in painted.items():
        old = TileStore(store.home.abs(rel))
        blank = io.BytesIO()
        _painted_tile(old.tile_width, old.tile_height, 0).save(blank, format="JPEG", quality=95)
        jpegs = [tiles_by_frame.get(k, blank.getvalue()) for k in range(old.count)]
        write_store(store.home.abs(rel), jpegs, old.tile_width, old.tile_height)


def _painted_tile(tw: int, th: int, i: int) -> Image.Image:
    tile = Image.new("RGB", (tw, th))
    draw = ImageDraw.Draw(tile)
    for band in range(th):  # sky to ground
        shade = int(255 * band / th)
        draw.line([(0, band), (tw - 1, band)], fill=(40, 90 + shade // 3, 255 - shade))
    draw.ellipse([tw // 8, th // 8, tw // 8 + th // 3, th // 8 + th // 3], fill=(255, 220, 60))
    draw.rectangle([0, 2 * th // 3, tw - 1, th - 1], fill=(30, 140, 60))
    draw.rectangle([tw // 2 + i, th // 3, tw // 2 + i + tw // 6, 2 * th // 3], fill=(200, 60, 60))
    return tile


def test_review_screen_snapshot(review_home: ReviewHome, snap_compare: Callable[..., bool]) -> None:
    """Half blocks, paused on tile 0, fixed size: the screen a reviewer sees first."""
    paint_sprites(review_home)
    assert snap_compare(app_for(review_home), terminal_size=(100, 30))


# ---------------------------------------------------------------- issue 12: speed, outcomes, notices


def test_x_cycles_playback_speed(review_home: ReviewHome) -> None:
    app = app_for(review_home, autoplay=True)

    async def script(pilot: Pilot[None]) -> None:
        player = app.query_one(SpritePlayer)
        assert player.speed == 1.0 and "1x" in player.status_text().plain
        await press(pilot, "x")
        assert player.speed == 1.5 and player.playing and "1.5x" in player.status_text().plain
        await press(pilot, "x")
        assert player.speed == 2.0
        assert player._timer is not None and player.sheet is not None
        assert player._timer._interval == pytest.approx(1 / min(60.0, player.sheet.fps * 2))
        await press(pilot, "x")
        assert player.speed == 1.0
        await press(pilot, "x", "a")  # the speed stays for the next clip
        assert player.speed == 1.5

    drive(app, script)


def test_actions_panel_shows_whole_actions_and_their_outcomes(review_home: ReviewHome) -> None:
    app = app_for(review_home)
    ids = [c.id for c in review_home.clips()]

    async def script(pilot: Pilot[None]) -> None:
        await press(pilot, "a", "m")  # approve the first; merge the second with it
        history = text_of(app.query_one("#history"))
        assert f"merge clip {ids[1]} with clip {ids[0]}" in history
        assert any("overrides" in n for n in notes(app))  # the merge overrides the approval

    drive(app, script, size=(160, 48))
    commit_all(review_home)
    app = app_for(review_home)

    async def after(pilot: Pilot[None]) -> None:
        history = text_of(app.query_one("#history"))
        assert "applied" in history and "pending" not in history

    drive(app, after, size=(160, 48))


def test_a_replaced_action_is_shown_as_replaced_not_done(review_home: ReviewHome) -> None:
    ids = [c.id for c in review_home.clips()]
    store = review_home.store()
    cfg = ReviewConfig(home=store.home, min_clip_s=review_home.settings.min_clip_s)
    with store.tx() as session:  # from the CLI: approve, then archive the same clip
        first = review.append(session, ids[0] or 0, "approve", None, cfg, 1.0)
        second = review.append(session, ids[0] or 0, "archive", None, cfg, 2.0)
        review.commit_due(session, 100.0, 10.0, cfg)
    app = app_for(review_home)

    async def script(pilot: Pilot[None]) -> None:
        history = text_of(app.query_one("#history"))
        assert f"#{first.id}" in history and "replaced" in history
        assert f"by event {second.id}" in history and "applied" in history
        assert "done" not in history

    drive(app, script, size=(160, 48))
