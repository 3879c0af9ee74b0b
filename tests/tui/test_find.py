"""The find screen, driven by keys on a real store: two clips approved and embedded by the real
pipeline (keyframes, ONNX model), two still waiting for review. mpv is the one mock (not
installed here); export runs the real ffmpeg."""

from __future__ import annotations

import asyncio
import os
import stat
import threading
import time
from pathlib import Path

import av
import pytest
from test_app import app_for, commit_all, drive, events, notes, text_of
from textual.pilot import Pilot
from tuihome import ReviewHome

from heaters.runner.context import RunContext
from heaters.runner.dispatch import run
from heaters.settings import Settings
from heaters.store import review
from heaters.store.review import ReviewConfig
from heaters.tui.app import ReviewApp
from heaters.tui.find import FindScreen, ThumbCell
from heaters.tui.finder import Finder, Found
from heaters.tui.panels import KeyBar
from heaters.tui.player import SpritePlayer


@pytest.fixture(scope="module")
def found_template(
    review_template: ReviewHome, tmp_path_factory: pytest.TempPathFactory
) -> ReviewHome:
    """Clips 1 and 4 (of four) approved and embedded; clips 2 and 3 waiting for review."""
    home = review_template.copy_to(tmp_path_factory.mktemp("find") / "home")
    ids = [c.id or 0 for c in home.clips()]
    store = home.store()
    cfg = ReviewConfig(home=store.home, min_clip_s=home.settings.min_clip_s)
    with store.tx() as session:
        for clip_id in (ids[0], ids[3]):
            review.append(session, clip_id, "approve", None, cfg, time.time() - 1)
    run(RunContext(store, Settings(grace_s=0)))  # commit, keyframes, embed
    store.close()
    states = [c.state for c in home.clips()]
    assert states == ["embedded", "pending_review", "pending_review", "embedded"], states
    return home


@pytest.fixture
def found_home(found_template: ReviewHome, tmp_path: Path) -> ReviewHome:
    return found_template.copy_to(tmp_path / "home")


async def saved(app: ReviewApp, pilot: Pilot[None]) -> None:
    """Wait for the writes the last keys started, and the notices they post."""
    await app.writes_done()
    await pilot.pause()


async def settle(app: ReviewApp, pilot: Pilot[None]) -> FindScreen:
    """Wait for the lookup thread and the grid it fills."""
    screen = app.screen
    assert isinstance(screen, FindScreen)
    for _ in range(50):
        await app.workers.wait_for_complete()
        await pilot.pause()
        if screen.found is not None and len(screen.query(ThumbCell)) == len(screen.hits):
            break
        await asyncio.sleep(0.05)
    assert screen.found is not None
    return screen


def new_events(home: ReviewHome) -> list[tuple[int, str]]:
    """(clip, action) of the events after the two approvals the home was made with."""
    return [(e.clip_id, e.action) for e in events(home)[2:]]


def captions(screen: FindScreen) -> list[str]:
    return [text_of(c) for c in screen.query(ThumbCell)]


def key_bar(screen: FindScreen) -> str:
    return text_of(screen.query_one(KeyBar))


async def select(screen: FindScreen, pilot: Pilot[None], clip_id: int) -> None:
    """Move with the arrow keys to the hit of `clip_id`."""
    target = [h.clip_id for h in screen.hits].index(clip_id)
    while screen.selected < target:
        await pilot.press("right")
    while screen.selected > target:
        await pilot.press("left")
    assert screen.hit is not None and screen.hit.clip_id == clip_id


def test_f_finds_embedded_and_waiting_clips_as_thumbnails(found_home: ReviewHome) -> None:
    ids = [c.id or 0 for c in found_home.clips()]
    app = app_for(found_home)

    async def script(pilot: Pilot[None]) -> None:
        assert app.desk.current == ids[1]
        await pilot.press("f")
        screen = await settle(app, pilot)
        found = screen.found
        assert found is not None and found.source == "sprite" and found.clip_id == ids[1]
        by_id = {h.clip_id: h for h in found.hits}
        assert set(by_id) == {ids[0], ids[2], ids[3]}  # never the clip itself
        assert [by_id[i].pending for i in (ids[0], ids[2], ids[3])] == [False, True, False]
        scores = [h.score for h in found.hits]
        assert scores == sorted(scores, reverse=True)
        cells = captions(screen)
        for hit, cell in zip(found.hits, cells, strict=True):  # picture, then id, score, label
            assert hit.image is not None and "\u2580" in cell
            assert f"#{hit.clip_id} {hit.score:.1f}%" in cell
            assert hit.row["tags"] and hit.row["tags"][0][0][:10] in cell
        waiting = cells[[h.clip_id for h in found.hits].index(ids[2])]
        assert "waiting" in waiting
        status = text_of(screen.query_one("#find-status"))
        assert "from its sprite" in status and "1 waiting for review" in status

    drive(app, script)
    assert new_events(found_home) == []  # looking writes nothing


def test_approve_a_waiting_hit_and_undo_it(found_home: ReviewHome) -> None:
    ids = [c.id or 0 for c in found_home.clips()]
    app = app_for(found_home)

    async def script(pilot: Pilot[None]) -> None:
        await pilot.press("f")
        screen = await settle(app, pilot)
        await select(screen, pilot, ids[0])  # embedded: approving it is not offered, and says why
        assert " a approve" not in key_bar(screen)
        await pilot.press("a")
        assert "approve applies to clips waiting for review" in notes(app)[-1]
        assert "embedded" in notes(app)[-1]
        await pilot.press("enter")
        facts = text_of(screen.query_one("#find-facts"))
        assert "n/a: embedded already" in facts
        await select(screen, pilot, ids[2])  # waiting: approve is offered and works
        assert " a approve" in key_bar(screen)
        await pilot.press("a")
        await saved(app, pilot)  # written on the app's writer thread
        assert f"approved clip {ids[2]}" in notes(app)[-1]
        cell = captions(screen)[screen.selected]
        assert "approved" in cell and "waiting" not in cell
        assert new_events(found_home) == [(ids[2], "approve")]
        await pilot.press("u")
        await saved(app, pilot)
        assert f"undid approve of clip {ids[2]}" in notes(app)[-1]
        assert "waiting" in captions(screen)[screen.selected]
        await pilot.press("a")  # approve again, and keep it this time
        await saved(app, pilot)
        await pilot.press("escape", "escape")  # close the hit, leave find
        assert not isinstance(app.screen, FindScreen)
        assert app.desk.current == ids[1]  # the review queue is where it was

    drive(app, script)
    assert new_events(found_home) == [
        (ids[2], "approve"), (ids[2], "undo"), (ids[2], "approve"),
    ]  # fmt: skip
    commit_all(found_home)
    states = {c.id: c.state for c in found_home.clips()}
    assert states[ids[2]] == "review_approved" and states[ids[1]] == "pending_review"


def test_slash_searches_by_words_typed_into_the_box(found_home: ReviewHome) -> None:
    ids = [c.id or 0 for c in found_home.clips()]
    app = app_for(found_home)

    async def script(pilot: Pilot[None]) -> None:
        await pilot.press("f")  # learn clip 1's top tag from a first lookup
        screen = await settle(app, pilot)
        label = next(h for h in screen.hits if h.clip_id == ids[0]).row["tags"][0][0]
        await pilot.press("slash")
        assert " enter search" in key_bar(screen)
        await pilot.press(*"a dummy")  # letters that are keys elsewhere go into the box
        await pilot.press(*["backspace"] * 7)
        await pilot.press(*label)
        await pilot.press("enter")
        screen = await settle(app, pilot)
        assert screen.found is not None and screen.found.kind == "text"
        assert ids[0] in [h.clip_id for h in screen.hits]
        assert label in screen.found.classes
        status = text_of(screen.query_one("#find-status"))
        assert "classes:" in status and "hit" in status
        await pilot.press("slash", *"happy", "enter")
        screen = await settle(app, pilot)
        assert screen.hits == [] and "no ImageNet class matches" in (screen.found.message or "")  # type: ignore[union-attr]

    drive(app, script)
    assert new_events(found_home) == []


def test_open_play_and_mpv(
    found_home: ReviewHome, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "mock-bin"
    bin_dir.mkdir()
    log = tmp_path / "mock-mpv-args.txt"
    mock_mpv = bin_dir / "mpv"  # mpv is not installed here: a stand-in records its arguments
    mock_mpv.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{log}"\n')
    mock_mpv.chmod(mock_mpv.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    clips = found_home.clips()
    ids = [c.id or 0 for c in clips]
    app = app_for(found_home)

    async def script(pilot: Pilot[None]) -> None:
        await pilot.press("f")
        screen = await settle(app, pilot)
        await select(screen, pilot, ids[3])
        await pilot.press("enter")
        assert screen.opened is not None and screen.opened.clip_id == ids[3]
        player = screen.query_one(SpritePlayer)
        assert player.sheet is not None and player.sheet.tile_count > 1 and player.playing
        facts = text_of(screen.query_one("#find-facts"))
        assert "embedded" in facts and f"{clips[3].start_time_s:.2f}" in facts
        await pilot.press("space")
        assert not player.playing
        await pilot.press("space")
        assert player.playing
        await pilot.press("p")
        assert not [n for n in notes(app) if "mpv" in n]
        await pilot.press("escape")
        assert screen.opened is None and isinstance(app.screen, FindScreen)

    drive(app, script)
    source = found_home.root / "media" / "sources" / str(clips[3].source_video_id) / "source.mp4"
    assert log.read_text().splitlines() == [
        f"--start={clips[3].start_time_s:.3f}", f"--end={clips[3].end_time_s:.3f}", str(source),
    ]  # fmt: skip


def test_export_a_hit(found_home: ReviewHome) -> None:
    clips = found_home.clips()
    ids = [c.id or 0 for c in clips]
    app = app_for(found_home)

    async def script(pilot: Pilot[None]) -> None:
        await pilot.press("f")
        screen = await settle(app, pilot)
        await select(screen, pilot, ids[2])  # a clip still waiting for review exports too
        await pilot.press("e", "escape")  # leaving find does not lose the export or its notice
        assert not isinstance(app.screen, FindScreen)
        for _ in range(600):
            await app.workers.wait_for_complete()
            await pilot.pause()
            if any(n.startswith(("exported: ", "export of")) for n in notes(app)):
                break
            await asyncio.sleep(0.1)
        assert any(n.startswith("exported: ") for n in notes(app)), notes(app)

    drive(app, script)
    files = list((found_home.root / "exports").glob("*.mp4"))
    assert len(files) == 1 and f"clip{ids[2]}_" in files[0].name
    with av.open(str(files[0])) as container:
        frames = sum(1 for _ in container.decode(video=0))
    assert frames == clips[2].end_frame - clips[2].start_frame


def test_with_nothing_embedded_f_still_finds_waiting_clips(review_home: ReviewHome) -> None:
    ids = [c.id or 0 for c in review_home.clips()]
    app = app_for(review_home)

    async def script(pilot: Pilot[None]) -> None:
        await pilot.press("f")
        screen = await settle(app, pilot)
        assert app.desk.current == ids[0]
        assert {h.clip_id for h in screen.hits} == {ids[1], ids[2], ids[3]}
        assert all(h.pending and h.row["tags"] for h in screen.hits)  # tags from the sprites
        assert all("waiting" in c for c in captions(screen))
        await pilot.press("q")
        assert not isinstance(app.screen, FindScreen) and app.is_running

    drive(app, script)


def test_the_grid_fills_the_width_and_arrows_move_by_rows(found_home: ReviewHome) -> None:
    app = app_for(found_home)

    async def script(pilot: Pilot[None]) -> None:
        await pilot.press("f")
        screen = await settle(app, pilot)
        assert screen.grid.columns == 4  # 120 columns: four 26-cell thumbnails and gutters
        assert len(screen.hits) == 3
        await pilot.press("down")  # one row only: down stays on the last hit
        assert screen.selected == 2
        await pilot.press("up")
        assert screen.selected == 0
        selected = [c for c in screen.query(ThumbCell) if c.has_class("-selected")]
        assert [c.index for c in selected] == [0]

    drive(app, script)


def test_lookups_run_in_a_thread(found_home: ReviewHome, monkeypatch: pytest.MonkeyPatch) -> None:
    """While a lookup runs the screen says so and still takes keys."""
    release = threading.Event()

    def slow(self: Finder, *args: object, **kwargs: object) -> Found:
        release.wait(5)
        return Found("similar", "done", message="done")

    monkeypatch.setattr(Finder, "similar", slow)
    app = app_for(found_home)

    async def script(pilot: Pilot[None]) -> None:
        await pilot.press("f")
        await pilot.pause()
        assert isinstance(app.screen, FindScreen)
        assert "finding clips like clip" in text_of(app.screen.query_one("#find-status"))
        await pilot.press("escape")
        assert not isinstance(app.screen, FindScreen)
        release.set()

    drive(app, script)


def test_the_tui_runs_no_sql_of_its_own() -> None:
    """Lookups and writes go through the store (heaters.store.search, review, exports): no SQL
    text and no `sqlalchemy.text` in heaters/tui."""
    import ast
    import re

    import heaters.tui

    statement = re.compile(
        r"\b(SELECT\b.*\bFROM|INSERT\s+INTO|UPDATE\b.*\bSET|DELETE\s+FROM)\b", re.S
    )
    found = []
    for path in sorted(Path(heaters.tui.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if statement.search(node.value):
                    found.append(f"{path.name}:{node.lineno}")
            elif isinstance(node, ast.ImportFrom) and node.module == "sqlalchemy":
                if any(a.name == "text" for a in node.names):
                    found.append(f"{path.name}:{node.lineno} imports sqlalchemy.text")
    assert found == []
    assert statement.search("SELECT 1 FROM embeddings WHERE model = :m")  # the check can fail


def test_arrows_move_the_selection_when_the_grid_scrolls(found_home: ReviewHome) -> None:
    """In a small terminal the grid scrolls: the arrows still move the selection (not the
    scroll position), and the view follows it, also when opening a hit narrows the grid."""
    app = app_for(found_home)

    def visible(screen: FindScreen) -> bool:
        cell = list(screen.query(ThumbCell))[screen.selected]
        return screen.grid.region.contains_region(cell.region)  # whole, not cut by an edge

    async def script(pilot: Pilot[None]) -> None:
        await pilot.press("f")
        screen = await settle(app, pilot)
        assert screen.grid.columns == 2 and screen.grid.max_scroll_y > 0
        await pilot.press("down")
        await pilot.pause()
        assert screen.selected == 2 and visible(screen)
        await pilot.press("up", "right", "enter")  # open: the grid narrows to one column
        for _ in range(5):
            await pilot.pause()
        assert screen.grid.columns == 1 and screen.selected == 1 and visible(screen)
        await pilot.press("down")
        await pilot.pause()
        assert screen.selected == 2 and visible(screen)
        assert screen.opened is not None and screen.opened.clip_id == screen.hits[2].clip_id

    drive(app, script, size=(64, 24))
