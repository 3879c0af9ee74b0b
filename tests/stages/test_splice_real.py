"""Splice on real footage (tests/media, cuts checked by eye) and on montages of real shots.

The constants of the detectors were chosen on pool "a" of the montages and on tests/media; pool
"b" (other videos' shots) checks them here, as does every detector's agreement with the truth.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from heaters.domain.results import SpliceResult
from heaters.stages.splice import SpliceParams, run
from tests.montage import MEDIA, Montage, make_montage

TRUTH = json.loads((MEDIA / "truth.json").read_text())["videos"]
ADDED = json.loads((MEDIA / "truth-addendum.json").read_text())["videos"]


def _splice(name: str, detector: str = "hybrid", min_clip_s: float = 0.0) -> SpliceResult:
    return run(MEDIA / name, 1, SpliceParams(detector=detector, min_clip_s=min_clip_s))


def _hits(found: tuple[int, ...], targets: list[int], tol: int) -> int:
    return sum(any(abs(f - t) <= tol for f in found) for t in targets)


@pytest.mark.parametrize("name", sorted(TRUTH))
@pytest.mark.parametrize("detector", ["hybrid", "content"])
def test_real_footage_matches_the_truth(name: str, detector: str) -> None:
    """Every hard cut within 1 frame, every fade boundary within 3, every dissolve inside its
    span, and nothing else (a black hold may carry its two edges)."""
    t, extra = TRUTH[name], ADDED.get(name, {})
    r = _splice(name, detector)
    assert r.frame_count == t["frames"]
    assert _hits(r.cuts, t["hard_cuts"], 1) == len(t["hard_cuts"]), r.cuts
    assert _hits(r.cuts, t["fade_boundaries"], 3) == len(t["fade_boundaries"]), r.cuts
    for a, b in extra.get("dissolves", []):
        assert any(a - 2 <= c <= b + 2 for c in r.cuts), (a, b, r.cuts)
    expected = (
        t["hard_cuts"]
        + t["fade_boundaries"]
        + [(a + b) // 2 for a, b in extra.get("dissolves", [])]
    )
    invented = [c for c in r.cuts if not any(abs(c - e) <= 16 for e in expected)]
    assert invented == [], (r.cuts, expected)


def test_glass_to_dice_is_a_cut() -> None:
    """The cut the first detector missed: a glass, then dice (issue-195-aspect-ratio.mp4, 421)."""
    assert 421 in _splice("issue-195-aspect-ratio.mp4", "content").cuts


def test_fade_to_black_boundaries_and_kinds() -> None:
    r = _splice("testvideo.mp4")
    kinds = dict(zip(r.cuts, r.kinds, strict=True))
    assert kinds[30] == kinds[180] == "cut"
    assert [k for c, k in kinds.items() if 200 < c < 700].count("fade") >= 3
    assert any(k == "dissolve" and 529 <= c <= 561 for c, k in kinds.items())


def test_a_flat_field_fading_is_one_clip() -> None:
    r = _splice("fades.mp4", min_clip_s=1.0)
    assert r.cuts == ()
    assert len(r.spans) == 1


def test_min_length_merge_is_counted() -> None:
    r = _splice("testvideo.mp4", min_clip_s=2.0)
    assert r.merged_cuts == len(set(r.cuts)) - (len(r.spans) - 1) > 0


def test_scores_are_kept_for_resplice() -> None:
    from heaters.domain.scenes import COLUMNS

    r = _splice("goldeneye-vfr-drop3.mp4")
    assert r.scores.shape == (r.frame_count, len(COLUMNS))


def test_pyscenedetect_is_scenedetect_detect() -> None:
    """`--detector pyscenedetect` is `scenedetect.detect(path, ContentDetector())`, exactly."""
    import scenedetect
    from scenedetect.detectors import ContentDetector

    for name in ("testvideo.mp4", "goldeneye-vfr-drop3.mp4", "counter.mp4"):
        theirs = [s[0].frame_num for s in scenedetect.detect(str(MEDIA / name), ContentDetector())]
        assert list(_splice(name, "pyscenedetect").cuts) == theirs[1:], name


@pytest.fixture(scope="module")
def montage_b(tmp_path_factory: pytest.TempPathFactory) -> Montage:
    """Pool "b" (held out when the constants were chosen): 12 joins of real shots."""
    return make_montage(tmp_path_factory.mktemp("montage") / "b.mp4", "b", joins=12, seed=7)


@pytest.mark.parametrize("detector", ["hybrid", "content"])
def test_held_out_montage(montage_b: Montage, detector: str) -> None:
    r = run(montage_b.path, 1, SpliceParams(detector=detector, min_clip_s=0.0))
    assert r.frame_count == montage_b.frame_count
    for j in montage_b.of_kind("cut"):
        assert any(abs(c - j.start) <= 1 for c in r.cuts), (j, r.cuts)
    gradual = [j for j in montage_b.joins if j.kind != "cut"]
    found = [j for j in gradual if any(j.start - 2 <= c <= j.end + 2 for c in r.cuts)]
    assert len(found) >= 0.85 * len(gradual), (gradual, r.cuts)
    allowed = [(j.start - 2, j.end + 2) for j in montage_b.joins]
    false = [c for c in r.cuts if not any(a <= c <= b for a, b in allowed)]
    assert false == []


@pytest.mark.parametrize("detector", ["hybrid", "content"])
def test_dips_to_white_between_real_shots_are_boundaries(tmp_path: Path, detector: str) -> None:
    # Fades through white (an editor's "dip to white", 8-24 frames, some as short as the blend
    # test cannot see) between real shots: each gives a clip boundary inside it, like a fade
    # through black; nothing else does.
    m = make_montage(tmp_path / "w.mp4", "b", joins=8, seed=3, kinds=("fade",), fade_level=255)
    r = run(m.path, 1, SpliceParams(detector=detector, min_clip_s=0.0))
    for j in m.joins:
        assert any(j.start - 2 <= c <= j.end + 2 for c in r.cuts), (j, r.cuts)
    assert all(any(j.start - 2 <= c <= j.end + 2 for j in m.joins) for c in r.cuts), r.cuts


def test_transnetv2_detector_on_real_cuts() -> None:
    r = _splice("issue-195-aspect-ratio.mp4", "transnetv2")
    assert _hits(r.cuts, TRUTH["issue-195-aspect-ratio.mp4"]["hard_cuts"], 1) == 5
    assert len(r.cuts) == 5
    assert r.detector == "transnetv2"


def test_hybrid_runs_the_network_only_near_candidates() -> None:
    """No blend candidate, no network: cut-only footage costs what the classic detector costs."""
    import numpy as np

    from heaters.domain.scenes import COL

    r = _splice("issue-195-aspect-ratio.mp4")
    assert np.isnan(r.scores[:, COL["net"]]).all()
    r = _splice("testvideo.mp4")
    scored = ~np.isnan(r.scores[:, COL["net"]])
    assert 0 < scored.sum() < r.frame_count / 4


def test_media_folder_is_real(tmp_path: Path) -> None:
    """The footage is committed with its licences (a fresh clone needs nothing from outside)."""
    for f in ("LICENSE-PySceneDetect-resources", "LICENSE-goldeneye", "truth.json"):
        assert (MEDIA / f).is_file()


def test_hybrid_keeps_each_frames_own_thumbnail() -> None:
    """The thumbnails the network is given around a blend candidate are those frames' own
    pictures, also for the frames that went by before the candidate showed (kept in a ring of
    recent samples, batch by batch). Reference: each frame's thumbnail made from its own
    samples, one by one."""
    import av
    import numpy as np

    from heaters.stages import splice

    with av.open(str(MEDIA / "testvideo.mp4")) as container:
        sampler = splice._Sampler()
        samples = [sampler(f) for f in container.decode(container.streams.video[0])]
    scorer = splice._Scorer("candidates")
    for s in samples:
        scorer.add_sample(s)
    scorer._measure()  # the last batch, as finish() does before the network runs
    kept = sorted(scorer._kept)
    # Fades at 211-394: candidates there, with frames kept from batches before each one's.
    assert kept and kept[0] < 211 - splice.BATCH, kept[:5]
    for j in kept:
        assert np.array_equal(scorer._kept[j], scorer._thumbnail(samples[j])), j
    scorer._kept.close()


def _pan(path: Path, bands: list[tuple[int, int]], speed: int = 12) -> None:
    """A fast pan (`speed` pixels a frame, 320x180) across a real picture (issue-195's frame
    200 at 1280x720), along each (first row, frames) band in turn: a band is one shot, two
    bands a jump cut inside the pan, whose colours barely change."""
    import av
    import numpy as np

    with av.open(str(MEDIA / "issue-195-aspect-ratio.mp4")) as c:
        frame = next(f for i, f in enumerate(c.decode(video=0)) if i == 200)
    picture = frame.to_ndarray(width=1280, height=720, format="rgb24")
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 320, 180, "yuv420p"
        for y, frames in bands:
            for t in range(frames):
                crop = np.ascontiguousarray(picture[y : y + 180, t * speed : t * speed + 320])
                out.mux(stream.encode(av.VideoFrame.from_ndarray(crop, format="rgb24")))
        out.mux(stream.encode())


def test_a_cut_inside_a_fast_pan_is_the_networks_to_call(tmp_path: Path) -> None:
    """The cut out of a busy shot (found on held-out street footage: a pan over traffic cut to
    a cyclist): its pixels change barely more than the pan's, its colours too little for the
    classic rules, which call it doubtful; `hybrid` asks the network on the frames around it
    only and cuts, `content` does not. The same pan without the cut asks nothing."""
    import numpy as np

    from heaters.domain.scenes import COL, CutRules, doubtful_cuts

    jump = tmp_path / "jump.mp4"
    _pan(jump, [(0, 75), (360, 75)])
    content = run(jump, 1, SpliceParams(detector="content", min_clip_s=0.0))
    assert content.cuts == ()
    assert doubtful_cuts(content.scores, CutRules()) == [75]
    hybrid = run(jump, 1, SpliceParams(detector="hybrid", min_clip_s=0.0))
    assert hybrid.cuts == (75,)
    assert hybrid.kinds == ("cut",)
    net = hybrid.scores[:, COL["net"]]
    assert np.isnan(net[:20]).all() and not np.isnan(net[60:90]).any()

    still = tmp_path / "pan.mp4"
    _pan(still, [(0, 150)], speed=6)
    r = run(still, 1, SpliceParams(detector="hybrid", min_clip_s=0.0))
    assert r.cuts == ()
    assert np.isnan(r.scores[:, COL["net"]]).all()


def test_a_doubtful_cut_near_the_end_is_asked_too(tmp_path: Path) -> None:
    """A doubtful cut 5 frames before the end is decided when the video ends (the pass decides
    each frame 12 frames after it): its window's thumbnails come from the ring of samples."""
    path = tmp_path / "end.mp4"
    _pan(path, [(0, 75), (360, 5)])
    assert run(path, 1, SpliceParams(detector="content", min_clip_s=0.0)).cuts == ()
    assert run(path, 1, SpliceParams(detector="hybrid", min_clip_s=0.0)).cuts == (75,)
