"""What heaters hands to yt-dlp: the operator's options, the JavaScript runtime, and identities.

YouTube now needs a JavaScript runtime to solve its signatures; the `deno` package on PyPI ships
the binary, and yt-dlp's `js_runtimes` option is given its path, so nothing is left to PATH. The
operator's options (format, cookies, rate limit, proxy, retries) come from config.toml and are
checked here with yt-dlp's own parsers, so a bad value is refused before any work.

Identities: a video is one row per (yt-dlp extractor, video id). yt-dlp's extractors match URLs
offline (`suitable` + `get_temp_id`, regular expressions, no request), so a `youtu.be` link and a
`watch?v=` link are known to be one video before anything is fetched. URLs only the generic
extractor takes are keyed by their normalised URL (its ids are file names: `clip` on two hosts
would collide).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from heaters.domain.sources import normalise_url

DEFAULT_FORMAT = "bv*[ext=mp4][vcodec^=avc1]+ba[ext=m4a]/b[ext=mp4][vcodec^=avc1]/bv*+ba/b"
PROXY_SCHEMES = ("http", "https", "socks4", "socks4a", "socks5", "socks5h")
# yt-dlp's default extras (pip install "yt-dlp[default]"): module to import -> package to install
DEFAULT_EXTRAS = {
    "yt_dlp_ejs": "yt-dlp-ejs",
    "requests": "requests",
    "websockets": "websockets",
    "certifi": "certifi",
    "brotli": "brotli",
    "mutagen": "mutagen",
    "Cryptodome": "pycryptodomex",
}


class OptionError(ValueError):
    """An operator option yt-dlp would refuse (one line, saying what is accepted)."""


# ---------------------------------------------------------------- the JavaScript runtime


def deno_path() -> str | None:
    """The Deno binary the `deno` PyPI package installed, or None."""
    try:
        import deno  # type: ignore[import-untyped]

        path = deno.find_deno_bin()
    except (ImportError, FileNotFoundError, OSError):
        return None
    return str(path) if Path(path).is_file() else None


@dataclass(frozen=True)
class RuntimeInfo:
    path: str | None
    version: str | None
    supported: bool


def js_runtime_info() -> RuntimeInfo:
    """Ask yt-dlp itself whether it can use our Deno (it runs `deno --version`)."""
    path = deno_path()
    if path is None:
        return RuntimeInfo(None, None, False)
    try:
        from yt_dlp.utils._jsruntime import DenoJsRuntime

        info = DenoJsRuntime(path=path).info
    except Exception:  # noqa: BLE001 - an old yt-dlp without runtimes, or a broken binary
        return RuntimeInfo(path, None, False)
    if info is None:
        return RuntimeInfo(path, None, False)
    return RuntimeInfo(path, str(info.version), bool(info.supported))


# ---------------------------------------------------------------- operator options


def check_format(spec: str) -> str:
    import yt_dlp

    if not spec.strip():
        raise OptionError("ytdlp_format must not be empty (e.g. bv*+ba/b)")
    try:
        with yt_dlp.YoutubeDL({"quiet": True, "no_warnings": True}) as ydl:
            ydl.build_format_selector(spec)
    except (SyntaxError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise OptionError(f"ytdlp_format {spec!r} is not a yt-dlp format: {first}") from exc
    return spec


def check_cookies_file(text: str) -> str:
    """An existing, readable Netscape cookies file (as yt-dlp's --cookies reads)."""
    path = Path(text).expanduser()
    if not path.is_file():
        raise OptionError(f"cookies_file {text!r}: no such file (export it with a browser add-on)")
    try:
        from yt_dlp.cookies import YoutubeDLCookieJar

        YoutubeDLCookieJar(str(path)).load()
    except OSError as exc:
        raise OptionError(f"cookies_file {text!r}: cannot read it: {exc.strerror or exc}") from exc
    except Exception as exc:  # noqa: BLE001 - http.cookiejar.LoadError and friends
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise OptionError(f"cookies_file {text!r} is not a Netscape cookies file: {first}") from exc
    return str(path.absolute())


_BROWSER = re.compile(
    r"(?P<name>[^+:]+)(?:\s*\+\s*(?P<keyring>[^:]+))?(?:\s*:\s*(?!:)(?P<profile>.+?))?"
    r"(?:\s*::\s*(?P<container>.+))?"
)


def browser_spec(text: str) -> tuple[str, str | None, str | None, str | None]:
    """`BROWSER[+KEYRING][:PROFILE][::CONTAINER]` as yt-dlp's `cookiesfrombrowser` tuple."""
    from yt_dlp.cookies import SUPPORTED_BROWSERS, SUPPORTED_KEYRINGS

    match = _BROWSER.fullmatch(text.strip())
    if match is None:
        raise OptionError(
            f"cookies_from_browser {text!r}: use BROWSER[+KEYRING][:PROFILE][::CONTAINER]"
        )
    name, keyring, profile, container = match.group("name", "keyring", "profile", "container")
    name = name.strip().lower()
    if name not in SUPPORTED_BROWSERS:
        raise OptionError(
            f"cookies_from_browser: unknown browser {name!r}"
            f" (choose {', '.join(sorted(SUPPORTED_BROWSERS))})"
        )
    if keyring is not None:
        keyring = keyring.strip().upper()
        if keyring not in SUPPORTED_KEYRINGS:
            raise OptionError(
                f"cookies_from_browser: unknown keyring {keyring!r}"
                f" (choose {', '.join(sorted(SUPPORTED_KEYRINGS))})"
            )
    return (name, profile, keyring, container)


def rate_bytes(text: str) -> int:
    from yt_dlp.utils import parse_bytes

    value = parse_bytes(text.strip())
    if value is None or value <= 0:
        raise OptionError(f"rate_limit {text!r}: give bytes per second like 500K, 2M or 1.5M")
    return int(value)


def check_proxy(text: str) -> str:
    """A proxy URL yt-dlp accepts ('' means a direct connection, ignoring the environment)."""
    value = text.strip()
    if value == "":
        return value
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise OptionError(f"proxy {text!r}: {exc}") from exc
    if parts.scheme.lower() not in PROXY_SCHEMES or not parts.hostname:
        raise OptionError(
            f"proxy {text!r}: use SCHEME://HOST:PORT with scheme {', '.join(PROXY_SCHEMES)}"
        )
    return value


@dataclass(frozen=True)
class Options:
    """The operator's yt-dlp options (settings), checked."""

    format: str = DEFAULT_FORMAT
    cookies_file: str | None = None
    cookies_from_browser: str | None = None
    rate_limit: str | None = None
    proxy: str | None = None
    retries: int = 10


def params(opts: Options, *, runtime: str | None = None) -> dict[str, Any]:
    """yt-dlp parameters (JSON-safe: they travel to the child process) for these options.

    `runtime` overrides where Deno is (tests); by default the `deno` package's binary.
    """
    out: dict[str, Any] = {
        "format": opts.format,
        "retries": opts.retries,
        "fragment_retries": opts.retries,
        "extractor_retries": min(opts.retries, 3),
        "continuedl": True,  # a killed download resumes from its .part file (HTTP Range)
    }
    deno = runtime if runtime is not None else deno_path()
    out["js_runtimes"] = {"deno": {"path": deno}} if deno else {"deno": {}}
    if opts.cookies_file:
        out["cookiefile"] = check_cookies_file(opts.cookies_file)
    if opts.cookies_from_browser:
        out["cookiesfrombrowser"] = list(browser_spec(opts.cookies_from_browser))
    if opts.rate_limit:
        out["ratelimit"] = rate_bytes(opts.rate_limit)
    if opts.proxy is not None:
        out["proxy"] = check_proxy(opts.proxy)
    return out


def from_job(raw: dict[str, Any]) -> dict[str, Any]:
    """The parameters back from JSON (yt-dlp wants a tuple for cookiesfrombrowser)."""
    out = dict(raw)
    if isinstance(out.get("cookiesfrombrowser"), list):
        out["cookiesfrombrowser"] = tuple(out["cookiesfrombrowser"])
    return out


# ---------------------------------------------------------------- identities


@functools.lru_cache(maxsize=1)
def _extractors() -> tuple[Any, ...]:
    from yt_dlp.extractor import gen_extractor_classes

    return tuple(ie for ie in gen_extractor_classes() if ie.ie_key() != "Generic")


def extractor_of(url: str) -> tuple[str, str] | None:
    """(extractor key, video id) of the first yt-dlp extractor that takes `url`, offline; None
    when only the generic extractor would (or the id cannot be read from the URL)."""
    for ie in _extractors():
        try:
            if not ie.suitable(url):
                continue
            video_id = ie.get_temp_id(url)
        except Exception:  # noqa: BLE001 - an extractor's own matching quirk: not ours
            continue
        return (ie.ie_key(), str(video_id)) if video_id else None
    return None


def url_key(url: str) -> str:
    """The identity of the video behind `url`: `extractor:id`, else `url:<normalised URL>`."""
    found = extractor_of(url)
    if found is not None:
        return f"{found[0].lower()}:{found[1]}"
    return f"url:{normalise_url(url)}"


def file_key(sha256: str) -> str:
    return f"sha256:{sha256}"
