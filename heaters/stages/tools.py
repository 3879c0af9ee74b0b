"""The external media tools the stages run: only ffmpeg, the static binary imageio-ffmpeg ships."""

from __future__ import annotations

import imageio_ffmpeg


def ffmpeg_exe() -> str:
    """The ffmpeg binary bundled by imageio-ffmpeg: no system package is needed."""
    return imageio_ffmpeg.get_ffmpeg_exe()
