from __future__ import annotations

import csv
import io
import json
import random
import re
from fractions import Fraction
from itertools import pairwise

import pytest
from scenedetect import FrameTimecode
from scenedetect.output import write_scene_list, write_scene_list_edl

from heaters.domain.results import ClipSpan
from heaters.domain.scenelist import CSV_COLUMNS, smpte, timecode, to_csv, to_edl, to_json

BOUNDS = [0, 48, 84, 99, 144, 162, 204, 10_000, 123_457]


def spans(fps: Fraction | float, bounds: list[int] = BOUNDS) -> list[ClipSpan]:
    """Constant-rate clips: times are frame / fps, as a decoder reports them."""
    return [ClipSpan(a, b, float(a / fps), float(b / fps)) for a, b in pairwise(bounds)]


def pyscenedetect_list(fps: Fraction | float, bounds: list[int] = BOUNDS) -> list:
    # FrameTimecode takes float or Fraction rates (never int); frame b is the scene's exclusive end.
    rate = fps if isinstance(fps, Fraction) else float(fps)
    return [(FrameTimecode(a, fps=rate), FrameTimecode(b, fps=rate)) for a, b in pairwise(bounds)]


@pytest.mark.parametrize(
    "fps", [Fraction(30), Fraction(25), Fraction(30000, 1001), Fraction(24000, 1001), Fraction(60)]
)
def test_csv_is_what_pyscenedetect_writes(fps: Fraction) -> None:
    ours = to_csv(spans(fps), float(fps))
    theirs = io.StringIO()
    write_scene_list(theirs, pyscenedetect_list(fps), include_cut_list=False)
    assert ours == theirs.getvalue()


@pytest.mark.parametrize("fps", [Fraction(30000, 1001), Fraction(24000, 1001), Fraction(50)])
def test_csv_matches_pyscenedetect_on_many_random_ranges(fps: Fraction) -> None:
    """Thousands of boundaries, up to ~10 hours: every half-millisecond tie rounds as theirs."""
    rng = random.Random(int(fps))
    bounds = [0]
    for _ in range(2000):
        bounds.append(bounds[-1] + rng.randrange(1, 900))
    theirs = io.StringIO()
    write_scene_list(theirs, pyscenedetect_list(fps, bounds), include_cut_list=False)
    assert to_csv(spans(fps, bounds), float(fps)) == theirs.getvalue()


def test_csv_with_cut_list_is_what_list_scenes_writes() -> None:
    fps = Fraction(30000, 1001)
    scenes = pyscenedetect_list(fps)
    theirs = io.StringIO()
    # `scenedetect list-scenes` passes its cut list: the start of every scene after the first.
    write_scene_list(theirs, scenes, include_cut_list=True, cut_list=[s for s, _ in scenes[1:]])
    assert to_csv(spans(fps), float(fps), include_cut_list=True) == theirs.getvalue()


def test_csv_columns_and_our_range_mapping() -> None:
    rows = list(csv.DictReader(io.StringIO(to_csv(spans(Fraction(30)), 30.0))))
    assert tuple(rows[0].keys()) == CSV_COLUMNS
    first, second = rows[0], rows[1]
    # [0, 48) -> frames 1..48 (1-based, inclusive); [48, 84) -> 49..84.
    assert (first["Start Frame"], first["End Frame"], first["Length (frames)"]) == ("1", "48", "48")
    assert (second["Start Frame"], second["End Frame"], second["Length (frames)"]) == (
        "49",
        "84",
        "36",
    )
    assert first["End Timecode"] == second["Start Timecode"] == "00:00:01.600"
    assert first["Length (seconds)"] == "1.600"


def test_csv_variable_rate_uses_the_decoded_times() -> None:
    clips = [ClipSpan(0, 3, 0.0, 0.1), ClipSpan(3, 5, 0.1, 0.2167)]
    rows = list(csv.DictReader(io.StringIO(to_csv(clips, 25.714))))
    assert rows[1]["Start Frame"] == "4" and rows[1]["End Frame"] == "5"
    assert rows[1]["Start Time (seconds)"] == "0.100" and rows[1]["Length (seconds)"] == "0.117"


def test_timecodes() -> None:
    assert timecode(0) == "00:00:00.000"
    assert timecode(3723.4567) == "01:02:03.457"
    assert timecode(59.9996) == "00:01:00.000"
    assert smpte(0, 30) == "00:00:00:00"
    assert smpte(30 * 3600 + 29, 30) == "01:00:00:29"
    assert smpte(30, 30000 / 1001) == "00:00:01:00"  # non-drop: 30 frames per timecode second
    assert smpte(24 * 61 + 5, 23.976) == "00:01:01:05"


EVENT = re.compile(
    r"^(\d{3})  (\S+)\s+V     C        "
    r"(\d\d:\d\d:\d\d:\d\d) (\d\d:\d\d:\d\d:\d\d) (\d\d:\d\d:\d\d:\d\d) (\d\d:\d\d:\d\d:\d\d)$"
)


def frames_of(tc: str, base: int) -> int:
    h, m, s, f = (int(x) for x in tc.split(":"))
    return ((h * 60 + m) * 60 + s) * base + f


def test_edl_exact_text() -> None:
    clips = [ClipSpan(0, 48, 0.0, 1.6), ClipSpan(84, 99, 2.8, 3.3)]
    assert to_edl(clips, 30.0, title="My video", clip_names=["a", "b"]) == (
        "TITLE: My video\n"
        "FCM: NON-DROP FRAME\n"
        "\n"
        "001  AX       V     C        00:00:00:00 00:00:01:18 00:00:00:00 00:00:01:18\n"
        "* FROM CLIP NAME: a\n"
        "002  AX       V     C        00:00:02:24 00:00:03:09 00:00:01:18 00:00:02:03\n"
        "* FROM CLIP NAME: b\n"
    )


@pytest.mark.parametrize(
    "fps", [Fraction(30), Fraction(25), Fraction(30000, 1001), Fraction(24000, 1001)]
)
def test_edl_sources_are_frames_and_records_accumulate(fps: Fraction) -> None:
    clips = spans(fps)
    lines = to_edl(clips, float(fps), record_start=round(fps) * 3600).splitlines()
    assert lines[:3] == ["TITLE: heaters", "FCM: NON-DROP FRAME", ""]
    events = [EVENT.match(line) for line in lines[3:]]
    assert all(events) and len(events) == len(clips)
    base = round(fps)
    rec = base * 3600  # 01:00:00:00, where NLE timelines usually start
    for i, (m, c) in enumerate(zip(events, clips, strict=True)):
        assert m is not None
        assert int(m.group(1)) == i + 1 and m.group(2) == "AX"
        src_in, src_out, rec_in, rec_out = (frames_of(m.group(k), base) for k in (3, 4, 5, 6))
        assert (src_in, src_out) == (c.start_frame, c.end_frame)  # constant rate: frames exactly
        assert rec_in == rec and rec_out - rec_in == src_out - src_in
        rec = rec_out


@pytest.mark.parametrize("fps", [Fraction(30), Fraction(25)])
def test_edl_sources_match_pyscenedetect_at_integer_rates(fps: Fraction) -> None:
    theirs = io.StringIO()
    write_scene_list_edl(theirs, pyscenedetect_list(fps))
    their_src = [
        line.split()[-4:-2] for line in theirs.getvalue().splitlines() if line[:3].isdigit()
    ]
    ours = [
        line.split()[-4:-2]
        for line in to_edl(spans(fps), float(fps)).splitlines()
        if line[:3].isdigit()
    ]
    assert ours == their_src


def test_edl_cleans_free_text_and_limits() -> None:
    text = to_edl(
        [ClipSpan(0, 10, 0, 1 / 3)], 30.0, title="evil\nTITLE: x\x00" + "y" * 200, reel="a/x"
    )
    title = text.splitlines()[0]
    assert title.startswith("TITLE: evil | TITLE: x") and len(title) <= 7 + 70  # one line
    assert text.splitlines()[3].startswith("001  AX       V")
    with pytest.raises(ValueError, match="999"):
        to_edl(spans(30.0, list(range(1001))), 30.0)
    with pytest.raises(ValueError, match="one name per clip"):
        to_edl(spans(30.0), 30.0, clip_names=["x"])


def test_json_round_trip() -> None:
    clips = spans(Fraction(30))[:3]
    rows = json.loads(to_json(clips, 30.0, clip_ids=[7, 8, 9]))
    assert [r["clip_id"] for r in rows] == [7, 8, 9]
    assert rows[1] == {
        "scene": 2,
        "clip_id": 8,
        "start_frame": 48,
        "end_frame": 84,
        "frames": 36,
        "start_time_s": 1.6,
        "end_time_s": 2.8,
        "duration_s": 1.2,
        "start_timecode": "00:00:01.600",
        "end_timecode": "00:00:02.800",
    }
    assert "clip_id" not in json.loads(to_json(clips, 30.0))[0]


@pytest.mark.parametrize("fps", [0.0, float("nan"), -30.0])
def test_unknown_rate_and_bad_ranges_are_refused(fps: float) -> None:
    with pytest.raises(ValueError, match="frame rate"):
        to_csv(spans(30.0), fps)
    with pytest.raises(ValueError, match="bad frame range"):
        to_json([ClipSpan(5, 5, 0.1, 0.1)], 30.0)


def test_empty_list() -> None:
    assert to_csv([], 30.0) == ",".join(CSV_COLUMNS) + "\n"
    assert to_json([], 30.0) == "[]\n"
    assert to_edl([], 30.0).endswith("FCM: NON-DROP FRAME\n\n")
