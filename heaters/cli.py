"""The `heaters` command line (kept for its old import path): the app lives in `heaters._cli`,
one module per command group, over `heaters.library`."""

from __future__ import annotations

from heaters._cli.app import _plain_call, app, clips_cmd, main, status_cmd
from heaters.library import clip_dict, video_dict

__all__ = ["_plain_call", "app", "clip_dict", "clips_cmd", "main", "status_cmd", "video_dict"]
