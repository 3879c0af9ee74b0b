"""A real review store for the TUI: a synthetic video through download, splice and sprites.

The pipeline runs once per session into a template home; every test gets its own copy, so tests
can decide, commit and undo freely without paying for ffmpeg again.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tuihome import TUI_SHOTS_S, ReviewHome

from heaters.domain.sources import parse_source
from heaters.runner.context import RunContext
from heaters.runner.dispatch import run
from heaters.settings import Settings
from heaters.store import videos
from heaters.store.store import Store
from heaters.synthetic import make_video


@pytest.fixture(scope="session")
def review_template(tmp_path_factory: pytest.TempPathFactory) -> ReviewHome:
    base = tmp_path_factory.mktemp("tui")
    video = make_video(base / "input" / "tui.mp4", TUI_SHOTS_S, seed=3)
    root = base / "home"
    store = Store.open(root)
    with store.tx() as session:
        videos.register(session, parse_source(str(video.path)), title="TUI test video")
    settings = Settings()
    run(RunContext(store=store, settings=settings), once=False)
    store.close()
    home = ReviewHome(root, video, settings)
    states = {c.state for c in home.clips()}
    assert states == {"pending_review"}, f"pipeline left clips in {states}"
    assert len(home.clips()) == len(TUI_SHOTS_S)
    return home


@pytest.fixture
def review_home(review_template: ReviewHome, tmp_path: Path) -> ReviewHome:
    return review_template.copy_to(tmp_path / "home")
