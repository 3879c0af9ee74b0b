"""TransNetV2 (ONNX) on real footage with checked cuts (tests/media/truth.json).

The network costs ~1.2-1.6 CPU-s per 100-frame window, so each video is scored once per session
and the sub-range tests score only a window or two.
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest

from heaters.stages.models import ModelError
from heaters.stages.transnet import (
    HEIGHT,
    STRIDE,
    WIDTH,
    TransNet,
    boundary_frames,
    load_transnet,
    read_small_frames,
    small_frame,
    window_span,
)

MEDIA = Path(__file__).resolve().parents[1] / "media"

# testvideo.mp4 holds a dissolve that truth.json does not list ("dissolves: none"): a stone with a
# leaf dissolves into a snake-skin texture. tests/media/truth-addendum.json records it.
TESTVIDEO_DISSOLVE = tuple(
    json.loads((MEDIA / "truth-addendum.json").read_text())["videos"]["testvideo.mp4"]["dissolves"][
        0
    ]
)


def _media(name: str) -> Path:
    return MEDIA / name


@pytest.fixture(scope="module")
def truth() -> dict[str, dict]:
    return json.loads(_media("truth.json").read_text())["videos"]


@pytest.fixture(scope="module")
def net() -> TransNet:
    return load_transnet(1)  # one thread: tests may run in parallel workers


@pytest.fixture(scope="module")
def scored(net: TransNet) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Lazily filled cache: video name -> (thumbnails, per-frame probabilities)."""
    return {}


def _score(scored: dict, net: TransNet, name: str) -> tuple[np.ndarray, np.ndarray]:
    if name not in scored:
        frames = read_small_frames(_media(name))
        scored[name] = (frames, net.predict(frames))
    return scored[name]


def _near(frame: int, targets: list[int], tol: int = 2) -> bool:
    return any(abs(frame - t) <= tol for t in targets)


@pytest.mark.parametrize("name", ["issue-195-aspect-ratio.mp4", "goldeneye-vfr-drop3.mp4"])
def test_hard_cuts_found_and_nothing_else(name, net, scored, truth) -> None:
    frames, p = _score(scored, net, name)
    assert len(frames) == len(p) == truth[name]["frames"]
    cuts = truth[name]["hard_cuts"]
    found = boundary_frames(p)
    assert all(_near(f, cuts) for f in found), (found, cuts)  # no false cut
    assert all(_near(c, found) for c in cuts), (found, cuts)  # none missed
    assert all(p[c - 2 : c + 1].max() > 0.9 for c in cuts)  # hard cuts are confident


def _testvideo_dissolve() -> tuple[int, int]:
    a, b = TESTVIDEO_DISSOLVE
    return a, b


def test_testvideo_cuts_fades_and_the_dissolve(net, scored, truth) -> None:
    t = truth["testvideo.mp4"]
    _, p = _score(scored, net, "testvideo.mp4")
    found = boundary_frames(p)
    assert all(_near(c, found) for c in t["hard_cuts"]), found
    assert all(p[c - 2 : c + 1].max() > 0.9 for c in t["hard_cuts"])
    dissolve = _testvideo_dissolve()
    for f in found:  # every other peak is inside a fade or the dissolve
        spans = [*t["fade_spans"], dissolve]
        assert _near(f, t["hard_cuts"]) or any(a <= f <= b for a, b in spans), f
    assert any(dissolve[0] <= f <= dissolve[1] for f in found)


def test_flat_field_fades_stay_below_hard_cut_confidence(net, scored) -> None:
    """fades.mp4 is one grey field fading black-white-black: no shot change. TransNetV2 cannot tell
    that from a fade-out/fade-in transition and gives 0.5-0.7 at each fade (as the package's own
    torch model does); real hard cuts get > 0.9. A caller wanting no clip boundary there must
    check for the same content on both sides of the black."""
    _, p = _score(scored, net, "fades.mp4")
    assert p.max() < 0.8
    assert boundary_frames(p, threshold=0.8) == []


@pytest.mark.parametrize(
    ("start", "stop"), [(0, 10), (60, 80), (149, 151), (280, 320), (600, 628), (627, 628)]
)
def test_sub_range_equals_full_prediction(start, stop, net, scored) -> None:
    frames, p = _score(scored, net, "issue-195-aspect-ratio.mp4")
    np.testing.assert_allclose(net.predict_range(frames, start, stop), p[start:stop], atol=1e-6)
    # Only the frames the range needs, as a caller that decodes just those would pass them.
    lo, hi = window_span(start, stop)
    part = frames[lo:hi]
    np.testing.assert_allclose(
        net.predict_range(part, start, stop, offset=lo), p[start:stop], atol=1e-6
    )


def test_window_span_is_aligned_to_strides() -> None:
    assert window_span(0, 1) == (0, 75)
    assert window_span(60, 80) == (25, 125)
    assert window_span(149, 151) == (75, 225)
    assert window_span(100, 150) == (75, 175)
    assert STRIDE == 50


def test_bad_inputs_are_refused(net) -> None:
    frames = np.zeros((120, HEIGHT, WIDTH, 3), np.uint8)
    with pytest.raises(ValueError, match="uint8"):
        net.predict(frames.astype(np.float32))
    with pytest.raises(ValueError, match="27, 48, 3"):
        net.predict(np.zeros((10, 48, 27, 3), np.uint8))
    with pytest.raises(ValueError, match="not inside"):
        net.predict_range(frames, 100, 121)
    with pytest.raises(ValueError, match="needs context from frame 75"):
        net.predict_range(frames, 100, 110, offset=80)
    assert net.predict(frames[:0]).shape == (0,)
    assert net.predict_range(frames, 5, 5).shape == (0,)


def test_missing_model_file_is_a_model_error(tmp_path) -> None:
    with pytest.raises(ModelError, match="not found"):
        TransNet(tmp_path / "nope.onnx")


def test_small_frame_is_rgb_thumbnail() -> None:
    with av.open(str(_media("counter.mp4"))) as c:
        frames = [small_frame(f) for f in c.decode(video=0)]
    assert frames[0].shape == (HEIGHT, WIDTH, 3) and frames[0].dtype == np.uint8
    # counter.mp4: blue-grey background, red from frame 10, green from 20 (channel order is RGB).
    mean = [f.reshape(-1, 3).mean(axis=0) for f in frames]
    assert mean[5].argmax() == 2 and mean[15].argmax() == 0 and mean[25].argmax() == 1
    assert mean[15][0] > mean[15][1] + 30 and mean[25][1] > mean[25][0] + 30


def test_boundary_frames_is_first_frame_after_each_peak() -> None:
    p = np.array([0.1, 0.6, 0.9, 0.2, 0.0, 0.7, 0.1, 0.95])
    assert boundary_frames(p) == [3, 6, 8]
    assert boundary_frames(p, threshold=0.8, offset=100) == [103, 108]
    assert boundary_frames(np.zeros(5)) == []
