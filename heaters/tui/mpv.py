"""Playing a clip in mpv: optional (it is often not installed), so it is looked up at key press."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def play_card(app: Any, card: Any, player: Any) -> None:
    """Play a clip's card (`source`, `start_s`, `end_s`, `video_id`) in mpv with the terminal
    handed over, pausing the sprite `player` meanwhile; every problem is a notice on `app`, one
    place for the review and find screens."""
    from textual.app import SuspendNotSupported

    mpv = find_mpv()
    if mpv is None:
        app.notify(MPV_MISSING, title="cannot play", severity="warning")
        return
    if card.source is None or not card.source.exists():
        app.notify(f"source file of video {card.video_id} is missing", severity="warning")
        return
    command = PlayRequest(card.source, card.start_s, card.end_s).command(mpv)
    was_playing = player.playing
    player.pause()
    try:
        try:
            with app.suspend():
                code = run_mpv(command)
        except SuspendNotSupported:  # headless or web: run it without handing over the tty
            code = run_mpv(command, capture=True)
    except OSError as exc:
        app.notify(f"mpv failed to start: {exc}", severity="error")
        return
    if code != 0:
        app.notify(f"mpv exited with code {code}", severity="warning")
    if was_playing:
        player.play()
