"""Re-cut a spliced video from its stored per-frame scores, without decoding it again.

The splice pass keeps every frame's scores (`scores.npy`, `heaters.domain.scenes.COLUMNS`) and
times (`frames.npy`) beside the video. Cutting again at another threshold, minimum length or
detector is then the pure rules of `heaters.domain.scenes` plus one transaction: well under a
second for a 10-minute video. Only a video whose clips carry no review history is re-cut: a
decision, an edit or even an undone action names clips that would disappear.
"""

from __future__ import annotations

import math
import shutil
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import text

from heaters.domain import scenes
from heaters.domain.chapters import with_chapters
from heaters.domain.files import FRAME_TIMES, SCORES
from heaters.store import videos
from heaters.store.store import Store
from heaters.store.tables import Clip, SourceVideo

# States a clip may be in for its video to be re-cut: nothing about it was decided yet.
UNDECIDED = ("spliced", "pending_review", "sprite_failed")


class RespliceRefused(Exception):
    """A one-line reason why this video cannot be re-cut (nothing was changed)."""


@dataclass(frozen=True)
class RespliceResult:
    video_id: int
    detector: str
    threshold: float
    min_clip_s: float
    cuts: int  # boundaries found
    clips_before: int
    clips_after: int
    clips_kept: int  # the same frames before and after: the same clip (id, sprite, state)
    merged_cuts: int  # found, but inside scenes under min_clip_s
    duration_ms: int


def resplice(
    store: Store,
    video_id: int,
    *,
    detector: str | None = None,
    threshold: float | None = None,
    min_clip_s: float | None = None,
) -> RespliceResult:
    """Replace a video's clips by the ones its stored scores give with these parameters.

    Parameters left None keep what the video was spliced with. Raises RespliceRefused (nothing
    changed) when the video is not spliced, its scores were not kept, the detector needs what
    was not kept, or any of its clips has review history or is being worked on.
    """
    started = time.monotonic()
    home = store.home
    with store.tx(write=False) as session:
        video = session.get(SourceVideo, video_id)
        if video is None:
            raise RespliceRefused(f"no video {video_id}")
        if video.state != "spliced":
            raise RespliceRefused(f"video {video_id} is {video.state}, not spliced yet")
        recorded: dict[str, Any] = dict(video.detector_params or {})
        fps = video.fps or 0.0
        rows = session.query(Clip).filter(Clip.source_video_id == video_id).all()
        ends = [c.end_time_s for c in rows]
        # The clips tile the frames the scores were measured on: the last one ends at their count
        # (a merge keeps the end; a split tiles inside).
        last_frame = max((c.end_frame for c in rows), default=None)
    name = detector or str(recorded.get("detector") or scenes.DEFAULT_DETECTOR)
    try:
        scenes.check_detector(name, threshold)
    except ValueError as e:
        raise RespliceRefused(str(e)) from e
    if name == "pyscenedetect":
        raise RespliceRefused("pyscenedetect finds its own cuts from the video: not from scores")
    min_s = float(recorded.get("min_clip_s", 1.0)) if min_clip_s is None else min_clip_s
    if not math.isfinite(min_s) or min_s < 0:
        raise RespliceRefused(f"min_clip_s must be a non-negative number, got {min_s}")
    if threshold is None:
        same = name == recorded.get("detector") and recorded.get("threshold") is not None
        threshold = float(recorded["threshold"]) if same else scenes.DEFAULT_THRESHOLD[name]
    folder = home.source_dir(video_id)
    try:
        scores = np.load(folder / SCORES)
        times = np.load(folder / FRAME_TIMES)
    except (OSError, ValueError) as e:
        raise RespliceRefused(
            f"video {video_id} has no stored scores (spliced by an older heaters?): heaters rm"
            f" {video_id}, then ingest it again to splice it anew"
        ) from e
    version = recorded.get("scores_version")
    if version != scenes.SCORES_VERSION:
        # Same columns can still mean other numbers: the rules read today's meaning only.
        raise RespliceRefused(
            f"video {video_id}'s stored scores are of another version ({version!r}; this heaters"
            f" reads {scenes.SCORES_VERSION}): heaters rm {video_id}, then ingest it again to"
            " splice it anew"
        )
    if (
        scores.ndim != 2
        or scores.shape[1] != len(scenes.COLUMNS)
        or len(scores) != len(times)
        or not len(scores)
        or (last_frame is not None and last_frame != len(scores))
    ):
        raise RespliceRefused(
            f"video {video_id}'s stored scores do not fit its frames (damaged or of another"
            f" version): heaters rm {video_id}, then ingest it again to splice it anew"
        )
    net = scores[:, scenes.COL["net"]]
    if name == "transnetv2" and np.isnan(net).mean() > 0.01:
        raise RespliceRefused(
            f"the network did not score every frame of video {video_id}"
            f" (it was spliced with {recorded.get('detector')}): use content or hybrid"
        )

    found = scenes.detect(scores, name, threshold)
    n = len(scores)
    cuts = [b.frame for b in found]
    strength = {b.frame: b.strength for b in found}
    chapters = [int(f) for f in recorded.get("chapter_cuts") or []]
    cuts, strength, _kinds = with_chapters(cuts, strength, {}, chapters)
    min_len = max(1, round(min_s * (fps or 30.0)))
    ranges = scenes.tile(cuts, n, min_len, strength)
    # The video ends where its clips end now (the last frame's own duration, from the splice).
    end = max(ends) if ends else float(times[-1]) + 1.0 / (fps or 30.0)
    spans = scenes.spans(ranges, times, end)

    with store.tx() as session:
        video = session.get(SourceVideo, video_id)
        assert video is not None
        old = session.query(Clip).filter(Clip.source_video_id == video_id).all()
        _check_undecided(session, video_id, old)
        # A clip whose frames the new cut keeps stays itself: its id (what scripts and the
        # review screen hold), its sprite and its state. Only the changed ones are replaced.
        wanted = {(s.start_frame, s.end_frame) for s in spans}
        kept = {(c.start_frame, c.end_frame) for c in old if (c.start_frame, c.end_frame) in wanted}
        ids = [c.id for c in old if (c.start_frame, c.end_frame) not in kept]
        if ids:
            marks = ",".join(str(int(i)) for i in ids)
            session.execute(text(f"DELETE FROM clip_artifacts WHERE clip_id IN ({marks})"))  # noqa: S608 (ints)
            session.execute(text(f"DELETE FROM clips WHERE id IN ({marks})"))  # noqa: S608 (ints)
        videos.add_spans(
            session, video_id, tuple(s for s in spans if (s.start_frame, s.end_frame) not in kept)
        )
        video.detector = name
        video.detector_params = {
            **recorded,
            "detector": name,
            "threshold": threshold,
            "min_clip_s": min_s,
            "resplice": True,
        }
        session.add(video)
    for clip_id in ids:  # after the commit: a row never points at a removed file
        shutil.rmtree(home.clip_dir(int(clip_id)), ignore_errors=True)
    return RespliceResult(
        video_id=video_id,
        detector=name,
        threshold=threshold,
        min_clip_s=min_s,
        cuts=len(cuts),
        clips_before=len(old),
        clips_after=len(spans),
        clips_kept=len(kept),
        merged_cuts=len(set(cuts)) - max(0, len(spans) - 1),
        duration_ms=int((time.monotonic() - started) * 1000),
    )


def _check_undecided(session: Any, video_id: int, clips: list[Clip]) -> None:
    busy = [c for c in clips if c.state not in UNDECIDED]
    if busy:
        states = ", ".join(sorted({c.state for c in busy}))
        raise RespliceRefused(
            f"video {video_id} has {len(busy)} clip(s) already {states}: resplice only re-cuts"
            " clips nobody has reviewed or is working on"
        )
    if not clips:
        return
    marks = ",".join(str(int(c.id)) for c in clips if c.id is not None)
    events = session.execute(
        text(f"SELECT COUNT(*) FROM clip_events WHERE clip_id IN ({marks})")  # noqa: S608 (ints)
    ).scalar_one()
    if events:
        raise RespliceRefused(
            f"video {video_id}'s clips have review history ({events} action(s), pending or"
            " undone): resplice only re-cuts clips nobody has reviewed"
        )
