"""`heaters gc`: what it frees, what it never touches, and that the store stays whole after it."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from heaters.store import gc, review
from heaters.store.store import Store
from tests import faultkit as fk

HOUR = 3600.0


# ---------------------------------------------------------------- the plan, pure


def _facts(**kw: object) -> gc.StoreFacts:
    base: dict[str, object] = {
        "referenced": frozenset({"media/sources/1/source.mp4", "media/clips/1/sprite.jpg"}),
        "claimed": frozenset(),
        "dead_artifacts": (),
        "dead_embeddings": (),
    }
    return gc.StoreFacts(**{**base, **kw})  # type: ignore[arg-type]


def test_plan_sorts_files_by_reason() -> None:
    now = 10 * HOUR
    listing = [
        gc.FileEntry("media/sources/1/source.mp4", 100, 0),
        gc.FileEntry("media/clips/1/sprite.jpg", 10, 0),
        gc.FileEntry("media/clips/1/.tmp-old-sprite.jpg", 7, now - HOUR),
        gc.FileEntry("media/clips/1/.tmp-new-sprite.jpg", 7, now - 5),  # a live writer's, maybe
        gc.FileEntry("media/clips/2/sprite.jpg", 20, 0),  # archived clip
        gc.FileEntry("media/clips/9/kf_50.jpg", 30, 0),  # no row
        gc.FileEntry("media/clips/5/sprite.jpg", 40, 0),  # no row, but clip 5 is claimed
        gc.FileEntry("media/sources/3/.tmp-abc", 50, now - HOUR),  # yt-dlp's work folder
    ]
    facts = _facts(
        claimed=frozenset({"media/clips/5"}),
        dead_artifacts=((11, 2, "media/clips/2/sprite.jpg"),),
        dead_embeddings=((4, 2),),
    )
    plan = gc.make_plan(facts, listing, now)
    got = {f.rel: f.reason for f in plan.files}
    assert got == {
        "media/clips/1/.tmp-old-sprite.jpg": "temp",
        "media/clips/2/sprite.jpg": "derived",
        "media/clips/9/kf_50.jpg": "unreferenced",
        "media/sources/3/.tmp-abc": "temp",
    }
    assert plan.bytes == 7 + 20 + 30 + 50
    assert (plan.artifact_ids, plan.embedding_ids, plan.clips) == ([11], [4], [2])


def test_plan_of_a_clean_store_is_empty() -> None:
    listing = [gc.FileEntry("media/sources/1/source.mp4", 100, 0)]
    plan = gc.make_plan(_facts(), listing, HOUR)
    assert plan.files == [] and plan.summary()["bytes"] == 0


# ---------------------------------------------------------------- the command, on a real home


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six clips through the whole pipeline: 1 approved and embedded, 2 archived, 3+4 merged,
    5 approved and embedded and then merged with 6 (a superseded clip with keyframes and an
    embedding); the merges made clips 7 and 8."""
    from heaters.synthetic import make_video

    root = tmp_path_factory.mktemp("gc")
    video = make_video(root / "v.mp4", (0.6, 0.7, 0.6, 0.8, 0.6, 0.7), width=160, height=90, seed=8)
    home = fk.make_home(root / "home", lease_s=60.0)
    assert fk.heaters(home, "ingest", str(video.path), "--quiet").code == 0
    assert fk.heaters(home, "run", "--quiet").code == 0
    _act(home, [(1, "approve"), (2, "archive"), (4, "merge"), (5, "approve")])
    assert fk.heaters(home, "run", "--quiet").code == 0
    _act(home, [(6, "merge")])  # clip 5 is embedded by now: merged, it leaves derived media
    assert fk.heaters(home, "run", "--quiet").code == 0
    return home


def _act(home: Path, actions: list[tuple[int, str]]) -> None:
    store = Store.open(home)
    try:
        cfg = review.ReviewConfig(home=store.home, min_clip_s=0.5)
        with store.tx() as session:
            for clip_id, action in actions:
                review.append(session, clip_id, action, None, cfg, time.time())
    finally:
        store.close()


def _states(home: Path) -> dict[int, str]:
    with fk.db(home) as conn:
        return dict(conn.execute("SELECT id, state FROM clips"))


def _gc(home: Path, *args: str) -> dict:
    res = fk.heaters(home, "gc", "--json", *args)
    assert res.code == 0 and not res.stderr, res.stderr
    return json.loads(res.stdout)


def _junk(home: Path) -> dict[str, Path]:
    media = home / "media"
    old = time.time() - HOUR
    junk = {
        "old_tmp": media / "clips" / "1" / ".tmp-0123-sprite.jpg",
        "new_tmp": media / "clips" / "1" / ".tmp-4567-sprite.jpg",
        "stray": media / "clips" / "1" / "kf_extra.jpg",
        "no_row": media / "clips" / "999" / "sprite.jpg",
        "ytdlp": media / "sources" / "1" / ".tmp-89ab" / "source.mp4.part",
    }
    for path in junk.values():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 1000)
    for key in ("old_tmp", "ytdlp"):
        os.utime(junk[key], (old, old))
    os.utime(junk["ytdlp"].parent, (old, old))
    return junk


def test_gc_frees_what_nothing_needs_and_keeps_the_rest(reviewed: Path, tmp_path: Path) -> None:
    home = fk.copy_home(reviewed, tmp_path / "home")
    states = _states(home)
    assert states[2] == "review_archived" and states[5] == "merged" and states[3] == "merged"
    before = fk.snapshot(home)
    junk = _junk(home)

    dry = _gc(home, "--dry-run")
    assert dry["dry_run"] is True and all(p.exists() for p in junk.values())
    assert fk.snapshot(home) == before  # a dry run changes nothing

    done = _gc(home)
    assert {k: v for k, v in done.items() if k != "dry_run"} == {
        k: v for k, v in dry.items() if k != "dry_run"
    }
    rel = {k: p.relative_to(home).as_posix() for k, p in junk.items()}
    paths = set(done["paths"])
    assert {rel["old_tmp"], rel["stray"], rel["no_row"], "media/sources/1/.tmp-89ab"} <= paths
    assert rel["new_tmp"] not in paths and junk["new_tmp"].exists()  # may be a live writer's
    assert not junk["no_row"].parent.exists()  # the emptied folder goes too
    assert done["by_reason"]["temp"] == 2 and done["by_reason"]["unreferenced"] == 2
    dead = ("media/clips/2/", "media/clips/3/", "media/clips/4/", "media/clips/5/",
            "media/clips/6/")  # fmt: skip
    derived = sorted(p for p in paths if p.startswith(dead))
    # 5 sprite views (rows only: their pixels are the video's tile store, which stays) and 3
    # keyframe files with their rows.
    assert len(derived) == done["by_reason"]["derived"] == 3
    assert done["artifact_rows"] == 5 + 3
    assert not [p for p in paths if p.endswith("tiles.bin")]
    assert (home / "media" / "sources" / "1" / "tiles.bin").exists()
    assert "media/clips/5/kf_50.jpg" in derived  # keyframes of the superseded clip
    assert done["embedding_rows"] == 1 and done["clips"] == 5
    assert done["bytes"] >= 4000

    junk["new_tmp"].unlink()
    assert fk.integrity(home) == []  # no row without its file, no file without its row
    after = fk.snapshot(home)
    assert after["clips"] == before["clips"] and after["events"] == before["events"]
    assert set(after["artifacts"]) <= set(before["artifacts"])
    assert len(after["artifacts"]) == len(before["artifacts"]) - 8
    assert _gc(home)["files"] == 0  # nothing left to free
    assert fk.heaters(home, "events", "--check").code == 0


def test_undo_after_gc_redraws_the_sprite(reviewed: Path, tmp_path: Path) -> None:
    """gc dropped the sprites of archived and merged clips; undoing the archive (or the merge)
    sends them back to review via `spliced`, and the next run draws their sprites again."""
    home = fk.copy_home(reviewed, tmp_path / "home")
    _gc(home)
    res = fk.heaters(home, "review", "undo", "--json")  # the newest action: the merge of clip 6
    assert res.code == 0, res.stderr
    assert set(json.loads(res.stdout)["restored_clip_ids"]) == {5, 6}
    states = _states(home)
    assert states[6] == "spliced"  # back to review, but its sprite must be drawn again
    assert states[5] == "review_approved"  # approved: keyframes and embedding come back
    events = json.loads(fk.heaters(home, "events", "--json").stdout)
    archive = next(e for e in events if e["action"] == "archive")
    assert fk.heaters(home, "review", "undo", str(archive["id"])).code == 0
    assert _states(home)[2] == "spliced"
    assert fk.heaters(home, "run", "--quiet").code == 0
    states = _states(home)
    assert states[2] == states[6] == "pending_review" and states[5] == "embedded"
    assert fk.integrity(home) == []


def test_gc_never_touches_a_claimed_folder(reviewed: Path, tmp_path: Path) -> None:
    """A run holding clip 6 may have renamed a file into its folder and not committed its row."""
    home = fk.copy_home(reviewed, tmp_path / "home")
    with fk.db(home) as conn:
        conn.execute(
            "UPDATE clips SET state = 'generating_sprite', claimed_by = 'w', claimed_until = ?"
            " WHERE id = 6",
            (time.time() + HOUR,),
        )
        conn.commit()
    fresh = home / "media" / "clips" / "6" / "kf_new.jpg"
    fresh.parent.mkdir(parents=True, exist_ok=True)  # sprites are views: no folder until now
    fresh.write_bytes(b"y" * 10)
    old_tmp = home / "media" / "clips" / "6" / ".tmp-ffff-sprite.jpg"
    old_tmp.write_bytes(b"z")
    os.utime(old_tmp, (time.time() - HOUR,) * 2)
    paths = _gc(home)["paths"]
    assert not any(p.startswith("media/clips/6/") for p in paths)
    assert fresh.exists() and old_tmp.exists()
