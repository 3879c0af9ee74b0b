"""The home folder: `heaters.db` plus `media/`, every path inside stored relative to it.

With `media_root` (a shared mount that several machines use, see `heaters.store.location`) the
media live there instead; stored paths keep their form, `media/...` meaning "under the media
root", so a library copied from a one-machine home reads the same files once its `media/` folder
is moved to the mount.
"""

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


MEDIA = "media"


@dataclass(frozen=True)
class Home:
    root: Path
    media_root: Path | None = None

    @property
    def db_path(self) -> Path:
        return self.root / "heaters.db"

    @property
    def media(self) -> Path:
        return self.media_root if self.media_root is not None else self.root / MEDIA

    def source_dir(self, video_id: int) -> Path:
        return self.media / "sources" / str(int(video_id))

    def clip_dir(self, clip_id: int) -> Path:
        return self.media / "clips" / str(int(clip_id))

    @property
    def exports(self) -> Path:
        return self.root / "exports"

    def rel(self, path: Path) -> str:
        """Store a path relative to the home (`media/...` for the media root); refuse anything
        outside both."""
        resolved = path.resolve()
        if self.media_root is not None:
            media = self.media_root.resolve()
            if resolved.is_relative_to(media):
                return (Path(MEDIA) / resolved.relative_to(media)).as_posix()
        root = self.root.resolve()
        if not resolved.is_relative_to(root):
            raise ValueError(f"{path} is outside the home folder {root}")
        return resolved.relative_to(root).as_posix()

    def lexical_rel(self, path: Path) -> str:
        """`rel` without resolving links (for paths found by walking the media folder)."""
        if self.media_root is not None and path.is_relative_to(self.media_root):
            return (Path(MEDIA) / path.relative_to(self.media_root)).as_posix()
        return path.relative_to(self.root).as_posix()

    def lexical_abs(self, rel: str) -> Path:
        """The inverse of `lexical_rel`."""
        parts = Path(rel).parts
        if self.media_root is not None and parts and parts[0] == MEDIA:
            return self.media_root.joinpath(*parts[1:])
        return self.root / rel

    def abs(self, rel: str) -> Path:
        parts = Path(rel).parts
        if self.media_root is not None and parts and parts[0] == MEDIA:
            media = self.media_root.resolve()
            path = media.joinpath(*parts[1:]).resolve()
            if not path.is_relative_to(media):
                raise ValueError(f"stored path {rel!r} points outside the media root")
            return path
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
