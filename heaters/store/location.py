"""Where a home's library lives: its database (`database_url`) and its media (`media_root`).

Both come from `$HEATERS_DATABASE_URL` / `$HEATERS_MEDIA_ROOT`, else the keys of the same name in
the home's `config.toml`, else the embedded default: `heaters.db` and `media/` in the home. They
are read here, leniently, rather than through `heaters.settings`: opening the store must not
depend on every other key of the file being valid (`heaters config` repairs a broken one).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

ENV_DATABASE_URL = "HEATERS_DATABASE_URL"
ENV_MEDIA_ROOT = "HEATERS_MEDIA_ROOT"


def _config_value(root: Path, key: str) -> str | None:
    try:
        data = tomllib.loads((root / "config.toml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    value = data.get(key)
    return value.strip() or None if isinstance(value, str) else None


def database_url(root: Path) -> str | None:
    """The database URL for the home at `root`, or None for the embedded SQLite `heaters.db`."""
    env = os.environ.get(ENV_DATABASE_URL, "").strip()
    if env:
        return env
    return _config_value(root, "database_url")


def media_root(root: Path) -> Path | None:
    """The shared media folder for the home at `root`, or None for the home's own `media/`."""
    env = os.environ.get(ENV_MEDIA_ROOT, "").strip()
    value = env or _config_value(root, "media_root")
    if not value:
        return None
    path = Path(value).expanduser()
    return path if path.is_absolute() else (root / path).absolute()  # relative: to the home
