"""Run-time settings: defaults here, `<home>/config.toml` over them, command-line flags over both."""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from heaters.domain.steps import RetryPolicy


@dataclass(frozen=True)
class Settings:
    detector: str = "content"
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
    keyframe_strategy: str = "multi"
    model: str = "efficientnet_lite0"
    reviewer: str = "operator"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def retry(self) -> RetryPolicy:
        return RetryPolicy(max_attempts=self.max_attempts, base_s=self.retry_base_s)

    def with_overrides(self, **values: Any) -> Settings:
        """Apply command-line flags; `None` means "not given"."""
        given = {k: v for k, v in values.items() if v is not None}
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
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    defaults = Settings()
    for key, value in data.items():
        if key in KEYS:
            values[key] = coerce(key, value, getattr(defaults, key))
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
    if text.lower() in ("none", "default", "") and default is None:
        return None
    try:
        if isinstance(default, bool):
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(text)
            return text.lower() in ("true", "1", "yes")
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float) or default is None:
            return float(text)
    except ValueError as exc:
        kind = type(default).__name__ if default is not None else "number"
        raise ConfigError(f"{key} wants a {kind}, got {raw!r}") from exc
    return text


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


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
    home.mkdir(parents=True, exist_ok=True)
    from heaters.stages.atomic import write_bytes

    write_bytes(path, ("\n".join(out) + "\n").encode("utf-8"))
    load(home)  # prove the file still parses
    return value
