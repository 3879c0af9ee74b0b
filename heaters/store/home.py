"""The home folder: `heaters.db` plus `media/`, every path inside stored relative to it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ENV_HOME = "HEATERS_HOME"

# The home's identity file beside heaters.db (see `heaters.store.store.claim_identity`).
ID_FILE = "home.id"


def default_home() -> Path:
    """`$HEATERS_HOME`, else the platform data dir (XDG on Linux)."""
    env = os.environ.get(ENV_HOME)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "heaters"


@dataclass(frozen=True)
class Home:
    root: Path

    @property
    def db_path(self) -> Path:
        return self.root / "heaters.db"

    @property
    def media(self) -> Path:
        return self.root / "media"

    def source_dir(self, video_id: int) -> Path:
        return self.media / "sources" / str(int(video_id))

    def clip_dir(self, clip_id: int) -> Path:
        return self.media / "clips" / str(int(clip_id))

    @property
    def exports(self) -> Path:
        return self.root / "exports"

    def rel(self, path: Path) -> str:
        """Store a path relative to the home; refuse anything outside it."""
        resolved = path.resolve()
        root = self.root.resolve()
        if not resolved.is_relative_to(root):
            raise ValueError(f"{path} is outside the home folder {root}")
        return resolved.relative_to(root).as_posix()

    def abs(self, rel: str) -> Path:
        path = (self.root / rel).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"stored path {rel!r} points outside the home folder")
        return path


def read_home_id(home: Home) -> str | None:
    """The id in the home's `home.id`, or None when there is none (or it is empty)."""
    try:
        with open(home.root / ID_FILE, "rb") as handle:
            text = handle.read(200).decode("utf-8", "replace").strip()  # an id is 32 hex digits
    except (FileNotFoundError, NotADirectoryError):
        return None
    return text or None
