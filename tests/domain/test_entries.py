from __future__ import annotations

import datetime as dt

import pytest

from heaters.domain.chapters import chapter_frames, chapter_starts, with_chapters
from heaters.domain.entries import BadDate, parse_since, select
from heaters.domain.scenes import tile

TODAY = dt.date(2026, 3, 10)


@pytest.mark.parametrize(
    ("text", "want"),
    [("2024-05-01", "20240501"), ("20240501", "20240501"), ("7d", "20260303"),
     ("2 weeks", "20260224"), ("1y", "20250310"), (" 3Days ", "20260307")],
)  # fmt: skip
def test_since_dates(text: str, want: str) -> None:
    assert parse_since(text, TODAY) == want


@pytest.mark.parametrize("text", ["", "yesterday", "2024-13-01", "-3d", "99999999y"])
def test_since_refuses_what_it_cannot_read(text: str) -> None:
    with pytest.raises(BadDate):
        parse_since(text, TODAY)


def _e(key: str, date: str | None = None) -> dict[str, object]:
    return {"key": key, "upload_date": date}


def test_select_since_limit_and_seen() -> None:
    entries = [_e("a", "20240301"), _e("b", None), _e("c", "20230101"), _e("a", "20240301"),
               _e("d", "20240401"), _e("e", "20240501")]  # fmt: skip
    got = select(entries, since="20240101", limit=2, seen={"d"})
    assert [e["key"] for e in got.chosen] == ["a", "b"]  # undated kept: never dropped silently
    assert (got.too_old, got.seen_before, got.over_limit) == (1, 2, 1)
    assert [e["key"] for e in select(entries).chosen] == ["a", "b", "c", "d", "e"]


def test_chapter_starts_become_frames_on_the_decoded_timeline() -> None:
    times = [i / 30 for i in range(120)]  # 4 s at 30 fps
    starts = chapter_starts([{"start_time": 0}, {"start_time": 2.0}, {"start_time": 1.0005},
                             {"start_time": 9.0}, {"start_time": "x"}, {"title": "no time"}])  # fmt: skip
    assert starts == (1.0005, 2.0, 9.0)
    assert chapter_frames(starts, times) == [30, 60]  # 9 s is past the end
    vfr = [0.0, 0.5, 0.6, 2.2, 2.3]
    assert chapter_frames((0.55, 2.0), vfr) == [2, 3]  # the first frame at or after the time


def test_a_chapter_boundary_outlasts_a_detector_cut_when_shots_are_merged() -> None:
    cuts, strength, kinds = with_chapters([50], {50: 9.0}, {50: "cut"}, [60])
    assert cuts == [50, 60] and kinds[60] == "chapter"
    # the 10-frame shot [50, 60) is too short: the detector cut goes, the chapter start stays
    assert tile(cuts, 120, 20, strength) == [(0, 60), (60, 120)]
