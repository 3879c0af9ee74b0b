"""The synthetic footage is the ground truth of every splice test: check that its truth holds."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from heaters.synthetic import (
    SOURCE_FAMILIES,
    ffmpeg_exe,
    make_video,
    random_shots,
)


def _luma(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="gray").astype(np.int16) for f in c.decode(video=0)]


def test_ffmpeg_exe_exists() -> None:
    assert Path(ffmpeg_exe()).exists()


def test_cuts_are_where_the_picture_changes(tmp_path: Path) -> None:
    shots = (0.5, 0.3, 0.6, 0.4)
    v = make_video(tmp_path / "v.mp4", shots, width=160, height=96, seed=1)
    frames = _luma(v.path)
    assert len(frames) == v.frame_count == sum(round(s * 30) for s in shots)
    assert v.cuts == (15, 24, 42)
    diffs = [float(np.abs(b - a).mean()) for a, b in zip(frames, frames[1:], strict=False)]
    # Frame i starts a shot: the change into it is the largest around it.
    for c in v.cuts:
        assert diffs[c - 1] == max(diffs[c - 4 : c + 3])
    assert v.frame_times == tuple(i / 30 for i in range(v.frame_count))


def test_dissolve_truth(tmp_path: Path) -> None:
    v = make_video(tmp_path / "d.mp4", (1.0, 1.0, 0.4), dissolve_after=(0, 1), width=160, height=96)
    # Shot 1 -> 2 is a dissolve; 2 -> 3 cannot be (shot 3 is shorter than the dissolve + margin).
    assert v.dissolves == ((15, 30),)
    assert v.cuts == (45,)
    assert v.frame_count == 30 + 30 + 12 - 15
    assert v.all_boundaries == (22, 45)
    assert len(_luma(v.path)) == v.frame_count


def test_effects_keep_the_truth(tmp_path: Path) -> None:
    plain = make_video(tmp_path / "a.mp4", (0.5, 0.5), width=160, height=96, kinds=[0, 1])
    rough = make_video(
        tmp_path / "b.mp4",
        (0.5, 0.5),
        width=160,
        height=96,
        kinds=[0, 1],
        noise=20,
        pan=0.03,
        shake=4,
        flicker=0.1,
        flashes=(5,),
    )
    assert (rough.cuts, rough.frame_count) == (plain.cuts, plain.frame_count)
    b = _luma(rough.path)
    assert len(b) == rough.frame_count
    assert float(b[5].mean()) > max(float(b[4].mean()), float(b[6].mean())) + 20  # the flash


def test_variable_frame_rate(tmp_path: Path) -> None:
    v = make_video(tmp_path / "vfr.mp4", (0.4, 0.4), width=160, height=96, vfr=True)
    with av.open(str(v.path)) as c:
        times = [f.time for f in c.decode(video=0)]
    assert times == pytest.approx(v.frame_times, abs=1e-6)
    steps = {round(b - a, 6) for a, b in zip(times, times[1:], strict=False)}
    assert steps == {round(1 / 30, 6), round(2 / 30, 6), round(0.5 / 30, 6)}


def test_kinds_and_audio(tmp_path: Path) -> None:
    v = make_video(tmp_path / "k.mp4", (0.3, 0.3), width=160, height=96, kinds=[4, 6], audio=True)
    with av.open(str(v.path)) as c:
        assert len(c.streams.video) == 1 and len(c.streams.audio) == 1
    with pytest.raises(ValueError, match="one source family per shot"):
        make_video(tmp_path / "bad.mp4", (0.3, 0.3), kinds=[1])


def test_every_source_family_makes_its_own_picture(tmp_path: Path) -> None:
    """Each named family renders, and no two look alike (else a cut between them is no cut)."""
    n = len(SOURCE_FAMILIES)
    v = make_video(tmp_path / "all.mp4", (0.2,) * n, width=64, height=48, kinds=list(range(n)))
    frames = _luma(v.path)
    assert len(frames) == v.frame_count and len(v.cuts) == n - 1
    firsts = [frames[0], *(frames[c] for c in v.cuts)]
    for i, a in enumerate(firsts):
        for b in firsts[i + 1 :]:
            assert float(np.abs(a - b).mean()) > 3


def test_random_shots() -> None:
    shots = random_shots(60.0, 20, seed=3)
    assert len(shots) == 21
    assert sum(shots) == pytest.approx(60.0)
    assert min(shots) >= 0.4
    assert shots == random_shots(60.0, 20, seed=3)
    assert shots != random_shots(60.0, 20, seed=4)
