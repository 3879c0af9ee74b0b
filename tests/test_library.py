"""The library in-process, on real footage: ingest -> run -> review decisions -> undo -> similar,
with the real detector, model and store (no CLI, no subprocess)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from heaters.errors import BadInput
from heaters.library import Library
from tests.conftest import distinct_copy

MEDIA = Path(__file__).parent / "media"
GOLDENEYE = MEDIA / "goldeneye-vfr-drop3.mp4"  # 160 frames, hard cuts at 60 and 140 (truth.json)
TRUE_STARTS = [0, 60, 140]


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """GoldenEye and a byte-distinct twin of it, run, every clip approved, run again."""
    root = tmp_path_factory.mktemp("library")
    twin = distinct_copy(GOLDENEYE, root / "twin.mp4", 1)
    with Library.open(root / "home") as lib:
        got = lib.ingest([str(GOLDENEYE), str(twin)])
        assert [r["created"] for r in got.rows] == [True, True]
        settings = lib.run_settings(grace_s=0.0, min_clip_s=0.5)
        first = lib.run(settings)
        assert not first.failed, first.report.failures
        waiting = lib.clips(state="pending_review")
        assert len(waiting) == 6
        for clip in waiting:
            lib.act(clip["id"], "approve")
        second = lib.run(settings)
        assert not second.failed and second.report.committed == 6
    return root / "home"


def _copy(home: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(home, tmp_path / "home"))


def test_the_run_cuts_real_footage_at_its_true_cuts(embedded: Path) -> None:
    lib = Library.open(embedded)
    clips = lib.clips()
    assert {c["state"] for c in clips} == {"embedded"}
    by_video: dict[int, list[int]] = {}
    for c in clips:
        by_video.setdefault(c["source_video_id"], []).append(c["start_frame"])
    assert sorted(by_video.values()) == [TRUE_STARTS, TRUE_STARTS]
    status = lib.status()
    assert status.counts.clips == {"embedded": 6}
    assert status.counts.videos == {"spliced": 2}
    assert status.waiting.actions == 0 and status.failed_clips == []
    csv = lib.scenes(clips[0]["source_video_id"], "csv")
    assert len([line for line in csv.splitlines() if line[:1].isdigit()]) == 3


def test_ingesting_the_same_file_again_registers_nothing(embedded: Path, tmp_path: Path) -> None:
    with Library.open(_copy(embedded, tmp_path)) as lib:
        again = lib.ingest([str(GOLDENEYE)])
        assert [(r["id"], r["created"]) for r in again.rows] == [(1, False)]
        assert again.items == [("video", again.rows[0])] and not again.failed
        assert lib.counts().videos == {"spliced": 2}


def test_similar_finds_each_clips_twin_first_and_never_itself(embedded: Path) -> None:
    lib = Library.open(embedded)
    clips = lib.clips()
    twin_of = {
        c["id"]: t["id"]
        for c in clips
        for t in clips
        if c["source_video_id"] != t["source_video_id"] and c["start_frame"] == t["start_frame"]
    }
    assert len(twin_of) == 6
    for clip_id, twin in twin_of.items():
        hits = lib.similar(clip_id, k=3)
        assert hits[0]["clip_id"] == twin, hits
        assert clip_id not in [h["clip_id"] for h in hits]
        assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)


def test_undo_of_a_committed_approval_takes_back_its_files_and_vectors(
    embedded: Path, tmp_path: Path
) -> None:
    with Library.open(_copy(embedded, tmp_path)) as lib:
        newest = lib.events()[-1]
        clip_id = newest["clip_id"]
        folder = lib.home.clip_dir(clip_id)
        keyframes = sorted(folder.glob("kf_*.jpg"))
        assert keyframes, "the approved clip has keyframe files"
        other = next(c["id"] for c in lib.clips() if c["id"] != clip_id)
        assert clip_id in [h["clip_id"] for h in lib.similar(other, k=10)]

        undone = lib.undo()
        assert (undone.undid, undone.action, undone.clip_id) == (newest["id"], "approve", clip_id)
        assert not any(p.exists() for p in keyframes)  # deleted after the commit
        states = {c["id"]: c["state"] for c in lib.clips()}
        assert states[clip_id] == "pending_review"
        assert clip_id not in [h["clip_id"] for h in lib.similar(other, k=10)]
        assert lib.check_events() == []  # the log still explains every clip

        again = lib.act(clip_id, "archive")  # decided anew: pending until a run commits it
        assert again.description.startswith("archive") and again.replaces == []
        assert lib.status().waiting.actions == 1


def test_a_later_decision_replaces_a_pending_one_and_undo_cancels_it(
    embedded: Path, tmp_path: Path
) -> None:
    with Library.open(_copy(embedded, tmp_path)) as lib:
        clip_id = lib.undo().clip_id  # back to pending_review
        first = lib.act(clip_id, "approve")
        second = lib.act(clip_id, "skip")
        assert [r["event_id"] for r in second.replaces] == [first.event_id]
        undone = lib.undo()
        assert undone.undid == second.event_id
        statuses = {e["id"]: e["status"] for e in lib.events(clip_id)}
        # an undone action that never committed is cancelled; the one it replaced applies again
        assert (statuses[first.event_id], statuses[second.event_id]) == ("pending", "cancelled")
        assert lib.status().waiting.actions == 1


def test_bad_requests_are_refused_and_write_nothing(embedded: Path, tmp_path: Path) -> None:
    with Library.open(_copy(embedded, tmp_path)) as lib:
        before = (lib.events(), lib.clips())
        clip = before[1][0]
        refused = [
            lambda: lib.act(10**9, "approve"),
            lambda: lib.act(clip["id"], "split", {"frame": clip["start_frame"]}),
            lambda: lib.undo(10**9),
            lambda: lib.clips(state="nonsense"),
            lambda: lib.scenes(clip["source_video_id"], "xml"),
            lambda: lib.scenes(10**9),
            lambda: lib.similar(10**9),
            lambda: lib.search("   "),
            lambda: lib.export(state="finished"),
            lambda: lib.export(template="{nope}.mp4"),
            lambda: lib.resplice(1, detector="nonsense"),
            lambda: lib.ingest(["not a file or url"]),
            lambda: lib.retry([10**9]),
            lambda: lib.config("no_such_key"),
        ]
        for call in refused:
            with pytest.raises(BadInput):
                call()
        assert (lib.events(), lib.clips()) == before
        assert not (lib.home.root / "exports").exists() or not any(
            (lib.home.root / "exports").iterdir()
        )
