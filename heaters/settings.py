"""Run-time settings: defaults here, `<home>/config.toml` over them, command-line flags over both."""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from heaters.domain.steps import RetryPolicy


@dataclass(frozen=True)
class Settings:
    detector: str = "hybrid"
    threshold: float | None = None
    min_clip_s: float = 1.0
    grace_s: float = 10.0
    workers: int = 1
    lease_s: float = 120.0
    max_attempts: int = 3
    retry_base_s: float = 60.0
    sprite_tile_width: int = 320
    sprite_columns: int = 10
    sprite_max_fps: float = 24.0
    keyframe_strategy: str = "multi"  # multi (25/50/75 %), midpoint, uniform (keyframe_count)
    keyframe_count: int = 5  # frames of the uniform strategy, evenly spaced
    model: str = "efficientnet_lite0"
    reviewer: str = "operator"
    # A download with no new bytes for this long fails (retryable); none may take longer in total.
    download_stall_s: float = 60.0
    download_timeout_s: float = 21600.0
    # A source larger than this fails alone (not retried); so does one that would leave the home's
    # disk with less than min_free_mb (retried later: space may be freed).
    max_source_mb: float = 20480.0
    min_free_mb: float = 256.0
    # yt-dlp, as operators set it (heaters.stages.ytdlp checks each with yt-dlp's own parsers)
    ytdlp_format: str = "bv*[ext=mp4][vcodec^=avc1]+ba[ext=m4a]/b[ext=mp4][vcodec^=avc1]/bv*+ba/b"
    cookies_file: str | None = None  # a Netscape cookies.txt
    cookies_from_browser: str | None = None  # BROWSER[+KEYRING][:PROFILE][::CONTAINER]
    rate_limit: str | None = None  # bytes per second: 500K, 2M
    proxy: str | None = None  # SCHEME://HOST:PORT ('' = direct, ignoring the environment)
    retries: int = 10
    # followed channels/playlists/feeds are re-checked by `heaters run` at most this often
    follow_every_h: float = 6.0
    # a clip boundary at each chapter start of a video that has chapters
    chapter_cuts: bool = False
    # several machines, one library (docs: "Outgrowing one machine"): the shared PostgreSQL
    # (postgresql://...; unset: the home's own heaters.db), the shared media folder (unset: the
    # home's media/), and the steps `heaters run` does on this machine (unset: all of them)
    database_url: str | None = None
    media_root: str | None = None
    steps: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def runs_step(self, name: str) -> bool:
        """Whether `heaters run` on this machine does step `name` (or "review": committing
        review actions; "embed" includes catching embeddings up with a new model)."""
        return self.steps is None or name in self.steps

    @property
    def retry(self) -> RetryPolicy:
        return RetryPolicy(max_attempts=self.max_attempts, base_s=self.retry_base_s)

    def with_overrides(self, **values: Any) -> Settings:
        """Apply command-line flags; `None` means "not given". Each is checked like a config
        value (ConfigError), so a bad flag is refused before any work is claimed."""
        given = {k: v for k, v in values.items() if v is not None}
        for key, value in given.items():
            check(key, value)
        if "detector" in given and "threshold" not in given:
            from heaters.domain.scenes import same_scale

            if not same_scale(self.detector, given["detector"]):
                # config.toml's threshold was chosen for its detector, on that one's scale:
                # the detector named on the command line starts from its own default.
                return replace(self, **given, threshold=None)
        return replace(self, **given)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


KEYS = tuple(f.name for f in fields(Settings) if f.name != "extra")


def config_path(home: Path) -> Path:
    return home / "config.toml"


class ConfigError(ValueError):
    """config.toml is unreadable or holds an unknown key or a value of the wrong type."""


def load(home: Path) -> Settings:
    path = config_path(home)
    if not path.exists():
        return Settings()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    return _from_text(text, path)


def _from_text(text: str, path: Path) -> Settings:
    """Settings from config.toml's text; ConfigError (one line, naming the file) when unusable."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"cannot read {path}: {exc}; fix it with heaters config KEY VALUE or an editor"
        ) from exc
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    defaults = Settings()
    for key, value in data.items():
        if key in KEYS:
            try:
                value = coerce(key, value, getattr(defaults, key))
                # yt-dlp options are checked in full where they are set and where they are used
                # (ingest, run, doctor): a cookies file deleted since must not stop `status`
                values[key] = _text(key, value) if key in TEXT_KEYS else check(key, value)
            except ConfigError as exc:
                raise ConfigError(f"{path}: {exc}") from exc
        else:
            extra[key] = value
    return replace(defaults, **values, extra=extra)


def coerce(key: str, value: Any, default: Any) -> Any:
    """Check a config value against its default's type (ints may stand for floats)."""
    if default is None or isinstance(value, type(default)):
        return value
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    raise ConfigError(f"config key {key!r} wants a {type(default).__name__}, got {value!r}")


# (low, high) inclusive bounds of numeric settings: a value outside makes every row fail (or, for
# lease_s, lets two runs hold one row), so it is refused before it is written or used.
_RANGES: dict[str, tuple[float, float]] = {
    "threshold": (1e-6, 1000.0),
    "min_clip_s": (0.0, 3600.0),
    "grace_s": (0.0, 7 * 86400.0),
    "workers": (1, 64),
    "lease_s": (0.5, 86400.0),
    "max_attempts": (1, 100),
    "retry_base_s": (0.0, 86400.0),
    "sprite_tile_width": (16, 1920),
    "sprite_columns": (1, 50),
    "sprite_max_fps": (0.1, 240.0),
    "keyframe_count": (1, 32),
    "download_stall_s": (1.0, 86400.0),
    "download_timeout_s": (1.0, 30 * 86400.0),
    "max_source_mb": (0.01, 1e9),
    "min_free_mb": (0.0, 1e9),
    "retries": (0, 100),
    "follow_every_h": (0.0, 24 * 365.0),
}

# Optional text settings: a string, or None (unset; `heaters config KEY none` clears it).
TEXT_KEYS = ("ytdlp_format", "cookies_file", "cookies_from_browser", "rate_limit", "proxy")


def _choices(key: str) -> tuple[str, ...]:
    if key == "detector":
        from heaters.domain.scenes import DETECTORS

        return tuple(DETECTORS)
    if key == "keyframe_strategy":
        from heaters.domain.sampling import KEYFRAME_TAGS

        return tuple(KEYFRAME_TAGS)
    return ()


def check(key: str, value: Any) -> Any:
    """`value` if it is usable for `key` (type, finite, in range, a known name); else ConfigError."""
    if value is None:
        if key == "threshold":
            return value
        raise ConfigError(f"{key} needs a value")
    if key in _RANGES:
        low, high = _RANGES[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key} wants a number, got {value!r}")
        if not math.isfinite(value) or not low <= value <= high:
            raise ConfigError(f"{key} must be a number from {low:g} to {high:g}, got {value!r}")
        return value
    if key in TEXT_KEYS:
        return _check_ytdlp(key, value)
    if key == "steps":
        return _check_steps(value)
    if key in ("database_url", "media_root"):
        return _check_location(key, value)
    if key == "chapter_cuts":
        if not isinstance(value, bool):
            raise ConfigError(f"chapter_cuts wants true or false, got {value!r}")
        return value
    if key in ("detector", "keyframe_strategy"):
        choices = _choices(key)
        if value not in choices:
            raise ConfigError(f"unknown {key} {value!r} (choose {' or '.join(choices)})")
        return value
    if key in ("reviewer", "model"):
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{key} must be a non-empty name")
        if len(value) > 64 or not value.isprintable() or value != value.strip():
            raise ConfigError(
                f"{key} must be one line of at most 64 printable characters, got {value!r}"
            )
        return value
    return value


def _check_pair(before: Settings, after: Settings) -> None:
    """config.toml's threshold is on its detector's scale: a threshold its detector cannot use,
    or a detector of another scale than the threshold set, is refused (nothing written)."""
    from heaters.domain.scenes import THRESHOLD_SCALE, check_detector, same_scale

    if after.threshold is None:
        return
    if after.detector != before.detector and not same_scale(before.detector, after.detector):
        raise ConfigError(
            f"threshold {after.threshold:g} in config.toml is {before.detector}'s"
            f" ({THRESHOLD_SCALE[before.detector]}), not {after.detector}'s"
            f" ({THRESHOLD_SCALE[after.detector]}): first heaters config threshold none"
        )
    try:
        check_detector(after.detector, after.threshold)
    except ValueError as exc:
        raise ConfigError(f"{exc} (the detector in config.toml is {after.detector})") from exc


def step_names() -> tuple[str, ...]:
    """What `steps` may name: committing review actions, then the dispatcher's steps."""
    from heaters.domain.steps import STEPS

    return ("review", *(s.name for s in STEPS))


def _check_steps(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [v for v in value.replace(",", " ").split() if v]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"steps wants a list of step names, got {value!r}")
    known = step_names()
    unknown = [v for v in value if v not in known]
    if unknown:
        raise ConfigError(f"unknown step {unknown[0]!r} in steps (choose from {', '.join(known)})")
    if not value:
        raise ConfigError("steps must name at least one step (unset it to run them all)")
    return list(dict.fromkeys(value))


def _check_location(key: str, value: Any) -> str:
    _text(key, value)
    text = str(value).strip()
    if key == "database_url":
        scheme = text.split(":", 1)[0].split("+", 1)[0]
        if "://" not in text or scheme not in ("postgresql", "postgres"):
            raise ConfigError(
                f"database_url must be a postgresql:// URL (unset: this home's heaters.db), got"
                f" a {scheme!r} one"
            )
    elif not text:
        raise ConfigError("media_root needs a folder")
    return text


def _text(key: str, value: Any) -> Any:
    if value is None:
        return value
    if not isinstance(value, str):
        raise ConfigError(f"{key} wants a string, got {value!r}")
    if not value.isprintable():
        raise ConfigError(f"{key} must be one line of printable characters, got {value!r}")
    return value


def _check_ytdlp(key: str, value: Any) -> Any:
    """A yt-dlp option checked by yt-dlp's own parsers (heaters.stages.ytdlp)."""
    from heaters.stages import ytdlp

    _text(key, value)
    try:
        if key == "ytdlp_format":
            return ytdlp.check_format(value)
        if key == "cookies_file":
            return ytdlp.check_cookies_file(value)
        if key == "cookies_from_browser":
            ytdlp.browser_spec(value)
        elif key == "rate_limit":
            ytdlp.rate_bytes(value)
        elif key == "proxy":
            ytdlp.check_proxy(value)
    except ytdlp.OptionError as exc:
        raise ConfigError(str(exc)) from exc
    return value


def ytdlp_options(settings: Settings) -> Any:
    """The operator's yt-dlp options (`heaters.stages.ytdlp.Options`), refusing a cookies file
    and a browser at once (which would yt-dlp read?)."""
    from heaters.stages.ytdlp import Options

    if settings.cookies_file and settings.cookies_from_browser:
        raise ConfigError(
            "cookies_file and cookies_from_browser are both set: keep one"
            " (heaters config cookies_from_browser none)"
        )
    return Options(
        format=settings.ytdlp_format,
        cookies_file=settings.cookies_file,
        cookies_from_browser=settings.cookies_from_browser,
        rate_limit=settings.rate_limit,
        proxy=settings.proxy,
        retries=settings.retries,
    )


def ytdlp_params(settings: Settings) -> dict[str, Any]:
    """yt-dlp parameters for these settings; ConfigError (one line) when one is unusable now
    (a cookies file deleted since it was set)."""
    from heaters.stages.ytdlp import OptionError, params

    try:
        return params(ytdlp_options(settings))
    except OptionError as exc:
        raise ConfigError(str(exc)) from exc


def resolve_model(settings: Settings) -> Any:
    """The image model named by `settings.model`: built in, or from `[models.NAME]` in config.toml.

    Returns a `heaters.stages.models.ModelSpec`; a bad table is a ConfigError.
    """
    from heaters.stages.models import ModelError, get_model, model_spec_from_mapping

    tables = settings.extra.get("models", {})
    if not isinstance(tables, dict):
        raise ConfigError("config key 'models' must be a table of [models.NAME] tables")
    try:
        extra = {name: model_spec_from_mapping(name, table) for name, table in tables.items()}
        return get_model(settings.model, extra=extra)
    except (ModelError, ValueError, TypeError) as exc:
        raise ConfigError(f"model {settings.model!r}: {exc}") from exc


def parse_value(key: str, raw: str) -> Any:
    """A command-line string as the type of `key`'s default ("none" clears an optional value)."""
    if key not in KEYS:
        raise ConfigError(f"unknown config key {key!r}; known: {', '.join(KEYS)}")
    default = getattr(Settings(), key)
    text = raw.strip()
    if key in TEXT_KEYS:
        if text.lower() in ("none", "default") or (text == "" and key != "proxy"):
            return None if default is None else check(key, default)
        return check(key, raw if key == "proxy" else text)
    if key in ("steps", "database_url", "media_root"):
        if text.lower() in ("none", "default", "", "all"):
            return None
        return check(key, text)
    if text.lower() in ("none", "default", "") and default is None:
        return None
    try:
        value: Any
        if isinstance(default, bool):
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(text)
            value = text.lower() in ("true", "1", "yes")
        elif isinstance(default, int):
            value = int(text)
        elif isinstance(default, float) or default is None:
            value = float(text)
        else:
            value = text
    except ValueError as exc:
        kind = type(default).__name__ if default is not None else "number"
        raise ConfigError(f"{key} wants a {kind}, got {raw!r}") from exc
    return check(key, value)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return json.dumps([str(v) for v in value])  # a TOML array of basic strings
    return json.dumps(str(value), ensure_ascii=False)  # a valid TOML basic string


def set_value(home: Path, key: str, raw: str) -> Any:
    """Write `key = value` into config.toml, keeping every other line (and tables) as they are."""
    value = parse_value(key, raw)
    path = config_path(home)
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    out: list[str] = []
    placed = False
    in_table = False
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("["):
            if not placed and value is not None:
                out.append(f"{key} = {_toml_value(value)}")
                placed = True
            in_table = True
        if not in_table and stripped.split("=", 1)[0].strip() == key and "=" in stripped:
            if value is not None and not placed:
                out.append(f"{key} = {_toml_value(value)}")
                placed = True
            continue
        out.append(line)
    if not placed and value is not None:
        out.append(f"{key} = {_toml_value(value)}")
    text = "\n".join(out) + "\n"
    # Prove the new file parses and holds only usable values before writing it: a bad value is
    # refused with nothing written, and setting a good value repairs a file broken by hand.
    settings = _from_text(text, path)
    if key in ("detector", "threshold"):
        try:
            before = _from_text("\n".join(lines), path)  # the file as it was read above
        except ConfigError:  # a file broken by hand, being repaired: its detector is unknown
            before = replace(settings, detector=Settings().detector)
        _check_pair(before, settings)
    if key == "model":
        resolve_model(settings)
    home.mkdir(parents=True, exist_ok=True)
    from heaters.stages.atomic import write_bytes

    write_bytes(path, text.encode("utf-8"))
    return value
