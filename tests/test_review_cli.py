"""Review from the command line (issue 12.6, 12.7): `run` waits for young actions, `--once` and
`status` say when they commit, and an action that replaces a pending one says so."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from sqlmodel import select

from heaters.store.tables import Clip
from tests.conftest import cli
from tests.store.test_review import make_store, states


def test_run_waits_for_young_actions_and_commits_them(tmp_path: Path) -> None:
    store, _cfg = make_store(tmp_path / "home")
    home = tmp_path / "home"
    # `status` reads the grace from config: long enough that a loaded machine's slow commands
    # never let the actions age past it before `status` looks
    assert cli(home, "config", "grace_s", "120").code == 0
    assert cli(home, "review", "skip", "1").code == 0
    assert cli(home, "review", "archive", "2").code == 0

    once = cli(home, "run", "--once", "--grace", "30")
    assert once.code == 0, once.stderr
    assert "review: 2 action(s) wait for their grace period and commit at" in once.stdout
    assert "(in 2" in once.stdout  # about 30 s from now
    status = json.loads(cli(home, "status", "--json").stdout)
    assert status["review_waiting"]["actions"] == 2
    assert "2 action(s) wait" in cli(home, "status").stdout

    assert cli(home, "review", "skip", "4").code == 0  # a fresh one: younger than the grace
    started = time.monotonic()
    res = cli(home, "run", "--grace", "6")
    took = time.monotonic() - started
    assert res.code == 0, res.stderr
    assert "committed 3 review action(s)" in res.stdout
    # the countdown: 1 action, or all 3 when the machine was slow enough that none had aged 6 s
    assert re.search(r"waiting for [123] review action\(s\)", res.stderr), res.stderr
    assert took < 30
    assert states(store)[1] == "review_skipped" and states(store)[2] == "review_archived"
    assert states(store)[4] == "review_skipped"
    assert json.loads(cli(home, "status", "--json").stdout)["review_waiting"]["actions"] == 0


def test_an_action_says_what_it_replaces_and_splits_compose(tmp_path: Path, backend: str) -> None:
    home = tmp_path / "home"
    store, _cfg = make_store(home, length=120)  # clip 3 is [240, 360); parts need 30 frames
    assert cli(home, "review", "approve", "3").code == 0
    res = cli(home, "review", "split", "3", "--frame", "280")
    assert "replaces event 1 (approve clip 3): it will not apply" in res.stdout
    res = cli(home, "review", "split", "3", "--frame", "320")
    assert res.code == 0 and "replaces" not in res.stdout  # splits compose
    assert cli(home, "run", "--once", "--grace", "0").code == 0
    assert states(store)[3] == "split"
    with store.tx(write=False) as s:
        parts = s.exec(select(Clip).where(Clip.origin == "split", Clip.state == "spliced")).all()
        assert sorted((c.start_frame, c.end_frame) for c in parts) == [
            (240, 280), (280, 320), (320, 360),
        ]  # fmt: skip
    events = cli(home, "events").stdout
    assert "approve clip 3" in events and "replaced (by event 2)" in events
    assert "{'" not in events  # no Python dicts
    assert cli(home, "events", "--check").code == 0


def test_splitting_an_approved_clip_says_which_event_to_undo(tmp_path: Path, backend: str) -> None:
    home = tmp_path / "home"
    make_store(home)
    assert cli(home, "review", "approve", "3").code == 0
    assert cli(home, "run", "--once", "--grace", "0").code == 0
    res = cli(home, "review", "split", "3", "--frame", "150")
    assert res.code == 2, res.stdout
    assert "undo that first: heaters review undo 1" in res.stderr
