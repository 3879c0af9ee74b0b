from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from heaters.domain.naming import (
    DEFAULT_TEMPLATE,
    MAX_NAME_BYTES,
    BadTemplate,
    check_template,
    export_name,
    export_path,
    format_time,
)


def name(title: str | None = "My video", template: str = DEFAULT_TEMPLATE, **kw: object) -> str:
    args: dict[str, object] = dict(clip_id=12, start_time_s=3.5, end_time_s=65.25)
    args.update(kw)
    return export_name(template, title=title, **args)  # type: ignore[arg-type]


def test_default_name_has_title_clip_and_range() -> None:
    assert name() == "My_video_clip12_00m03.500s-01m05.250s.mp4"


def test_format_time() -> None:
    assert format_time(0) == "00m00.000s"
    assert format_time(3.5) == "00m03.500s"
    assert format_time(59.9996) == "01m00.000s"  # rounds into the next minute cleanly
    assert format_time(3 * 3600 + 2.25) == "180m02.250s"
    assert format_time(-1) == "00m00.000s"


@pytest.mark.parametrize(
    "title",
    [
        "../../../etc/passwd",
        "..",
        ".",
        "a/b\\c",
        "nul\x00byte",
        "\x00",
        "line\nbreak\rreturn\ttab",
        "x" * 500,
        "é" * 500,
        "日本語のタイトル 🎬 / emoji",
        "CON",
        "-rf --force",
        "",
        None,
        "   ",
        'a:b*c?d"e<f>g|h',
    ],
)
def test_hostile_titles_give_one_plain_name(title: str | None, tmp_path: Path) -> None:
    n = name(title)
    assert "/" not in n and "\\" not in n and "\x00" not in n
    assert not n.startswith((".", "-"))
    assert all(ch.isprintable() for ch in n)
    assert len(n.encode("utf-8")) <= MAX_NAME_BYTES
    assert n.endswith("_clip12_00m03.500s-01m05.250s.mp4")
    p = export_path(tmp_path, n)
    assert p.parent == tmp_path
    assert p.resolve().parent == tmp_path.resolve()


@given(st.text(max_size=600))
def test_any_title_stays_in_the_folder(title: str) -> None:
    n = name(title)
    out = Path("/srv/exports")
    assert export_path(out, n).parent == out
    assert len(n.encode("utf-8")) <= MAX_NAME_BYTES and "/" not in n and "\x00" not in n


def test_unicode_titles_stay_readable() -> None:
    assert name("Café — Ünïcode").startswith("Café_Ünïcode_clip12")


def test_template_fields_and_specs() -> None:
    assert name(template="{video_id}-{clip_id:05d}", video_id=3) == "3-00012.mp4"
    assert (
        name(template="{start_frame}-{end_frame}.mkv", start_frame=10, end_frame=70) == "10-70.mkv"
    )
    # A group label is text: reduced to digits, letters, + and -; a number spec is ignored.
    assert name(template="g{clip_id:05d}", clip_id="12+13") == "g12+13.mp4"
    assert name(template="g{clip_id}", clip_id="../12 + 13") == "g12+13.mp4"


@pytest.mark.parametrize(
    "template",
    [
        "",
        "   ",
        "{title}/{clip_id}.mp4",
        "..\\{clip_id}.mp4",
        "{nope}.mp4",
        "{title.__class__}.mp4",
        "{title[0]}.mp4",
        "{title!r}.mp4",
        "{title:>300}.mp4",
        "{clip_id",
        "x\x00{clip_id}",
    ],
)
def test_bad_templates_are_refused(template: str) -> None:
    with pytest.raises(BadTemplate):
        check_template(template)
    with pytest.raises(BadTemplate):
        name(template=template)


def test_literal_text_is_cleaned_and_bounded() -> None:
    assert name(template='..{clip_id}:"x"') == "12x.mp4"
    with pytest.raises(BadTemplate, match="over 255 bytes"):
        name(template="x" * 300 + "{clip_id}")
    with pytest.raises(BadTemplate, match="empty"):
        name(template="...")


def test_export_path_refuses_anything_but_a_plain_name(tmp_path: Path) -> None:
    for bad in ["", ".", "..", "a/b", "../x", "a\\b", "a\x00b"]:
        with pytest.raises(BadTemplate):
            export_path(tmp_path, bad)
    assert export_path(tmp_path, "ok.mp4") == tmp_path / "ok.mp4"
