"""What may be ingested, and how untrusted names become safe ones.

Titles, ids and URLs come from the internet: they are data, never paths or shell words. Only
http(s) URLs and explicit local files are accepted.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

# One line of text is heaters.domain.text's; re-exported for callers that import it from here.
from heaters.domain.text import error_text as error_text
from heaters.domain.text import one_line as one_line


class InvalidSource(ValueError):
    """The thing to ingest is neither an http(s) URL nor an existing local file."""


@dataclass(frozen=True)
class Source:
    kind: Literal["url", "file"]
    value: str  # normalised URL, or absolute resolved path


def parse_source(text: str, cwd: Path | None = None) -> Source:
    """Classify `text` as a URL or a local file; refuse anything else with a clear reason."""
    raw = text.strip()
    if not raw or "\x00" in raw:
        raise InvalidSource("empty source")
    try:
        parts = urlsplit(raw)
        if parts.scheme.lower() in ("http", "https"):
            if not parts.netloc or not parts.hostname:
                raise InvalidSource(f"URL has no host: {raw!r}")
            return Source("url", normalise_url(raw))
    except ValueError as exc:  # e.g. 'http://[::1' (an unclosed IPv6 bracket), a bad port
        if isinstance(exc, InvalidSource):
            raise
        raise InvalidSource(f"not a valid URL: {raw!r} ({exc})") from exc
    if parts.scheme and len(parts.scheme) > 1 and "://" in raw:
        raise InvalidSource(f"only http(s) URLs or local files are accepted, not {parts.scheme}://")
    path = Path(raw).expanduser()
    if not path.is_absolute():
        path = (cwd or Path.cwd()) / path
    if not path.exists():
        raise InvalidSource(f"no such file: {raw}")
    if not path.is_file():
        raise InvalidSource(f"not a regular file: {raw}")
    return Source("file", str(path.resolve()))


def normalise_url(url: str) -> str:
    """One spelling per resource, so a URL is registered once: scheme and host in lower case, the
    default port and the #fragment (never sent to the server) dropped. Path and query are kept as
    given (servers may treat their case as meaningful). ValueError for an unusable URL."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # IPv6 literal
    port = parts.port  # ValueError for a port out of range
    if port is not None and (scheme, port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{port}"
    if parts.username is not None or parts.password is not None:
        auth = parts.netloc.rpartition("@")[0]
        host = f"{auth}@{host}"
    path = parts.path or "/"
    return urlunsplit((scheme, host, path, parts.query, ""))


_UNSAFE = re.compile(r"[^\w\-]+", re.UNICODE)


def safe_name(title: str | None, max_len: int = 80, fallback: str = "untitled") -> str:
    """A file-name fragment from an untrusted title: no separators, no dots-only, no NUL, bounded."""
    text = unicodedata.normalize("NFKC", title or "")
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
    text = _UNSAFE.sub("_", text).strip("_-")
    encoded = text.encode("utf-8")[:max_len]
    text = encoded.decode("utf-8", errors="ignore").strip("_-")
    return text or fallback


# Bidirectional overrides and isolates: they make displayed text lie about its order.
_BIDI = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))


def clean_title(title: str | None, max_len: int = 300) -> str | None:
    """A title from the internet as one printable, bounded line (it is shown in listings and the
    TUI): control characters (NUL, newlines, terminal escapes) become spaces, bidi overrides go,
    whitespace collapses, and anything past `max_len` characters is cut with an ellipsis."""
    if title is None:
        return None
    text = unicodedata.normalize("NFC", str(title)).translate(_BIDI)
    text = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in text)
    text = " ".join(text.split())
    if len(text) > max_len:
        text = text[: max_len - 1].rstrip() + "…"
    return text or None
