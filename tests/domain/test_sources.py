from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from heaters.domain.sources import InvalidSource, parse_source, safe_name
from heaters.domain.text import one_line


def test_urls_and_files_are_classified(tmp_path: Path) -> None:
    f = tmp_path / "a video.mp4"
    f.write_bytes(b"x")
    assert parse_source("https://example.com/v?id=1").kind == "url"
    assert parse_source("HTTP://example.com/v").kind == "url"
    src = parse_source("a video.mp4", cwd=tmp_path)
    assert src.kind == "file" and src.value == str(f.resolve())


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "ftp://example.com/x.mp4",
        "file:///etc/passwd",
        "javascript://x",
        "http://",
        "a\x00b",
    ],
)
def test_everything_else_is_refused(text: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidSource):
        parse_source(text, cwd=tmp_path)


def test_missing_file_and_directory_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidSource, match="no such file"):
        parse_source("nope.mp4", cwd=tmp_path)
    with pytest.raises(InvalidSource, match="not a regular file"):
        parse_source(str(tmp_path))


@given(st.text(max_size=300))
def test_safe_name_never_escapes_a_folder(title: str) -> None:
    name = safe_name(title)
    assert name and "/" not in name and "\\" not in name and "\x00" not in name
    assert name not in (".", "..") and not name.startswith(".")
    assert len(name.encode()) <= 80


def test_safe_name_keeps_readable_unicode() -> None:
    assert safe_name("Café — Ünïcode ../../etc/passwd") == "Café_Ünïcode_etc_passwd"
    assert safe_name("../..") == "untitled"


def test_one_line_collapses_and_bounds() -> None:
    assert one_line("a\n\n b \nc") == "a | b | c"
    assert len(one_line("x" * 2000)) == 500


def test_clean_title_is_one_printable_bounded_line() -> None:
    from heaters.domain.sources import clean_title

    assert clean_title("a\x00b\nc\x1b[2J \u202eevil\u202c  d") == "a b c [2J evil d"
    assert clean_title("Ünïcødé 🎬") == "Ünïcødé 🎬"
    assert clean_title("../../etc/passwd") == "../../etc/passwd"  # data, never a path
    long = clean_title("x" * 1000)
    assert long is not None and len(long) == 300 and long.endswith("…")
    assert clean_title(" \n\t ") is None and clean_title(None) is None


@given(st.text(max_size=500))
def test_clean_title_never_holds_control_characters(title: str) -> None:
    from heaters.domain.sources import clean_title

    out = clean_title(title)
    assert out is None or (len(out) <= 300 and out == out.strip())
    assert out is None or not any(ord(c) < 32 or 127 <= ord(c) < 160 for c in out)
