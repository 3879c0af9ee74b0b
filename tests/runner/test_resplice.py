"""heaters resplice: cut again from stored scores, only where nobody reviewed anything."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from heaters.domain import scenes
from heaters.store.store import Store
from heaters.store.tables import SourceVideo
from heaters.synthetic import SyntheticVideo
from tests.conftest import cli
from tests.montage import MEDIA


def _clips(home: Path) -> list[dict]:
    return cli(home, "clips", "--json").json()  # type: ignore[return-value]


def test_resplice_recuts_without_decoding(home: Path, tmp_path: Path) -> None:
    video = tmp_path / "testvideo.mp4"
    shutil.copy(MEDIA / "testvideo.mp4", video)
    assert cli(home, "ingest", str(video)).code == 0
    res = cli(home, "run")  # min_clip_s 1: the 29 frames after the fade-out at 691 join
    assert res.code == 0, res.stderr
    assert "video 1: 1 cut inside scenes under 1 s joined their neighbours" in res.stdout
    assert cli(home, "resplice", "1", "--min-clip-s", "0").code == 0
    before = [c["start_frame"] for c in _clips(home)]
    assert 30 in before and 180 in before and 691 in before

    video.unlink()  # proof that no decode happens: the home's copy is all there is ...
    source = next((home / "media" / "sources" / "1").glob("*.mp4"))
    source.rename(source.with_suffix(".gone"))  # ... and it is gone too
    started = time.monotonic()
    res = cli(home, "resplice", "1", "--min-clip-s", "2", "--json")
    assert res.code == 0, res.stderr
    out = res.json()
    assert out["clips_before"] == len(before)
    assert out["clips_after"] < len(before)
    assert out["merged_cuts"] > 0
    assert out["duration_ms"] < 1000
    assert time.monotonic() - started < 10  # the whole command, interpreter start included
    after = _clips(home)
    assert [c["start_frame"] for c in after][0] == 0
    assert after[-1]["end_frame"] == 720
    assert all(c["state"] == "spliced" for c in after)  # back to the sprite step
    video_row = cli(home, "videos", "--json").json()[0]  # type: ignore[index]
    assert video_row["detector_params"]["min_clip_s"] == 2.0

    # Back to every cut: the same boundaries as the first splice.
    res = cli(home, "resplice", "1", "--min-clip-s", "0")
    assert res.code == 0 and "->" in res.stdout
    assert [c["start_frame"] for c in _clips(home)] == before


def test_resplice_refuses_reviewed_and_bad_requests(home: Path, cut_video: SyntheticVideo) -> None:
    assert cli(home, "ingest", str(cut_video.path)).code == 0
    assert cli(home, "run", "--quiet").code == 0
    for args, words in (
        (("resplice", "9"), "no video 9"),
        (("resplice", "1", "--detector", "magic"), "unknown detector"),
        (("resplice", "1", "--detector", "pyscenedetect"), "from the video"),
        (("resplice", "1", "--detector", "transnetv2"), "did not score every frame"),
        (("resplice", "1", "--threshold", "nan"), "threshold must be a number from"),
        (("resplice", "1", "--threshold", "1e308"), "threshold must be a number from"),
        (("resplice", "1", "--threshold", "1e-300"), "threshold must be a number from"),
        (("resplice", "1", "--min-clip-s", "1e307"), "min_clip_s must be a number from"),
        (("resplice", "1", "--min-clip-s", "5000"), "min_clip_s must be a number from"),
    ):
        res = cli(home, *args)
        assert res.code == 2, (args, res.stdout, res.stderr)
        assert words in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert cli(home, "review", "skip", "2", "--quiet").code == 0
    before = _clips(home)
    res = cli(home, "resplice", "1", "--min-clip-s", "0")
    assert res.code == 2 and "review history" in res.stderr
    assert _clips(home) == before  # nothing changed


def test_resplice_refuses_scores_of_another_version(home: Path, cut_video: SyntheticVideo) -> None:
    """Scores with today's columns but measured by another version: the rules would read
    numbers of another meaning, so nothing is re-cut."""
    assert cli(home, "ingest", str(cut_video.path)).code == 0
    assert cli(home, "run", "--quiet").code == 0
    assert cli(home, "resplice", "1", "--min-clip-s", "0").code == 0  # today's version: fine
    store = Store.open(home)
    try:
        with store.tx() as session:
            video = session.get(SourceVideo, 1)
            assert video is not None
            old = scenes.SCORES_VERSION - 1
            video.detector_params = {**(video.detector_params or {}), "scores_version": old}
            session.add(video)
    finally:
        store.close()
    before = _clips(home)
    res = cli(home, "resplice", "1", "--min-clip-s", "2")
    assert res.code == 2, (res.stdout, res.stderr)
    assert "another version" in res.stderr and "heaters rm 1, then ingest" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert _clips(home) == before  # nothing changed


def _with_artifacts(home: Path) -> set[int]:
    """Clips that have an artifact (a sprite) row."""
    from sqlalchemy import text

    store = Store.open(home)
    try:
        with store.tx(write=False) as session:
            return {int(i) for (i,) in session.execute(text("SELECT clip_id FROM clip_artifacts"))}
    finally:
        store.close()


def test_resplice_keeps_the_clips_whose_frames_do_not_change(home: Path, tmp_path: Path) -> None:
    """Same frames, same clip: its id (what scripts and the review screen hold), its sprite and
    its state stay; only the clips the new cut changes are replaced."""
    video = tmp_path / "testvideo.mp4"
    shutil.copy(MEDIA / "testvideo.mp4", video)
    assert cli(home, "ingest", str(video)).code == 0
    assert cli(home, "run", "--quiet").code == 0
    first = _clips(home)
    assert first and all(c["state"] == "pending_review" for c in first)

    res = cli(home, "resplice", "1", "--json")  # what it was spliced with: nothing changes
    assert res.code == 0, res.stderr
    assert res.json()["clips_kept"] == len(first)  # type: ignore[index]
    assert _clips(home) == first
    assert "0 new" in cli(home, "resplice", "1").stdout

    res = cli(home, "resplice", "1", "--min-clip-s", "0")  # the fade-out's 29 frames: a clip
    assert res.code == 0, res.stderr
    after = _clips(home)
    drawn = _with_artifacts(home)
    same = {(c["start_frame"], c["end_frame"]) for c in first} & {
        (c["start_frame"], c["end_frame"]) for c in after
    }
    assert 0 < len(same) < len(after)
    for c in after:
        old = [
            o
            for o in first
            if (o["start_frame"], o["end_frame"]) == (c["start_frame"], c["end_frame"])
        ]
        if old:
            assert (c["id"], c["state"]) == (old[0]["id"], "pending_review")
            assert c["id"] in drawn  # its sprite
        else:
            assert c["id"] > max(o["id"] for o in first) and c["state"] == "spliced"
    gone = {o["id"] for o in first} - {c["id"] for c in after}
    assert gone and not gone & _with_artifacts(home)


def test_resplice_refuses_damaged_scores(home: Path, cut_video: SyntheticVideo) -> None:
    """An emptied or shortened scores file does not fit the clips' frames: nothing is re-cut
    (it used to leave the video with no clips at all)."""
    import numpy as np

    assert cli(home, "ingest", str(cut_video.path)).code == 0
    assert cli(home, "run", "--quiet").code == 0
    folder = home / "media" / "sources" / "1"
    scores, times = np.load(folder / "scores.npy"), np.load(folder / "frames.npy")
    before = _clips(home)
    for s, t in ((scores[:0], times[:0]), (scores[:-5], times[:-5])):
        np.save(folder / "scores.npy", s)
        np.save(folder / "frames.npy", t)
        res = cli(home, "resplice", "1", "--min-clip-s", "0")
        assert res.code == 2, (res.stdout, res.stderr)
        assert "do not fit its frames" in res.stderr and "heaters rm 1" in res.stderr
        assert len(res.stderr.strip().splitlines()) == 1
        assert _clips(home) == before
