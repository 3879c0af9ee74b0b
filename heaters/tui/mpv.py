"""Playing a clip in mpv: optional (it is often not installed), so it is looked up at key press."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

MPV_MISSING = "mpv not installed: install mpv to play clips (the sprite shows every tile anyway)"


@dataclass(frozen=True)
class PlayRequest:
    source: Path
    start_s: float
    end_s: float

    def command(self, mpv: str) -> list[str]:
        """mpv seeks to the clip's first frame and stops after its last one."""
        return [mpv, f"--start={self.start_s:.3f}", f"--end={self.end_s:.3f}", str(self.source)]


def find_mpv() -> str | None:
    return shutil.which("mpv")


def run_mpv(command: list[str], *, capture: bool = False) -> int:
    """Run mpv and wait; a list of arguments (no shell), the program found by `shutil.which`."""
    proc = subprocess.run(command, check=False, capture_output=capture)  # noqa: S603
    return proc.returncode
