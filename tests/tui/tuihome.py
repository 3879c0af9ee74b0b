"""The review home the TUI tests share (a helper module, imported by name like `framecode`)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from heaters.settings import Settings
from heaters.store import clips
from heaters.store.store import Store
from heaters.store.tables import Clip
from heaters.synthetic import SyntheticVideo

# Four shots: the 3 s one (90 frames at 30 fps) leaves room to split with 1 s parts.
TUI_SHOTS_S = (1.5, 3.0, 1.5, 2.0)


@dataclass
class ReviewHome:
    root: Path
    video: SyntheticVideo
    settings: Settings

    def copy_to(self, root: Path) -> ReviewHome:
        """The same home at `root` (a fresh copy of a module-wide template for one test)."""
        shutil.copytree(self.root, root)
        return ReviewHome(root, self.video, self.settings)

    def store(self) -> Store:
        return Store.open(self.root)

    def clips(self) -> list[Clip]:
        store = self.store()
        try:
            with store.tx(write=False) as session:
                return clips.list_clips(session)
        finally:
            store.close()
