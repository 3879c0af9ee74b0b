"""Typed inputs and results of every stage.

Stages never touch the database: the runner reads what a stage needs, calls it with these explicit
requests, and writes the returned result back in one transaction. Keeping the contract here (pure
data, no I/O) lets a stage run anywhere — another process, another machine — unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Status = Literal["ok", "failed"]


class StageError(Exception):
    """A stage failed for a reason worth one line in `last_error` (bad media, 404, ...).

    `retryable=False` marks failures that another attempt cannot fix (not a video, audio only):
    the row goes straight to its failed state instead of waiting for backoff.
    """

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class ProbeInfo:
    """What PyAV tells about a video file without decoding it all."""

    duration_s: float
    fps: float
    frame_count: int
    width: int
    height: int
    codec: str


@dataclass(frozen=True)
class DownloadResult:
    status: Status
    video_id: int
    path: Path  # absolute path of the stored media file
    probe: ProbeInfo
    title: str | None
    metadata: dict[str, Any]
    duration_ms: int


@dataclass(frozen=True)
class ClipSpan:
    """A clip as a frame range `[start_frame, end_frame)` of its source, with decoded timestamps."""

    start_frame: int
    end_frame: int
    start_time_s: float
    end_time_s: float


@dataclass(frozen=True)
class SpliceResult:
    status: Status
    video_id: int
    spans: tuple[ClipSpan, ...]  # tile the video exactly: [0, frame_count)
    cuts: tuple[
        int, ...
    ]  # raw detected cut frames (a new shot starts at each), before min-length merge
    frame_count: int  # frames actually decoded
    frame_times: tuple[float, ...]  # presentation time (s) of every decoded frame, in order
    detector: str
    params: dict[str, Any]
    duration_ms: int
    kinds: tuple[str, ...] = ()  # per raw cut: "cut", "fade", "dissolve" or "net"
    scores: Any = None  # float32 (frames, len(scenes.COLUMNS)): kept for `heaters resplice`

    @property
    def merged_cuts(self) -> int:
        """Boundaries found but dropped because a scene was shorter than the minimum length."""
        return len(set(self.cuts)) - max(0, len(self.spans) - 1)


@dataclass(frozen=True)
class ArtifactOut:
    """A file a stage wrote (already renamed into place) and what to record about it."""

    clip_id: int
    kind: Literal["sprite", "keyframe"]
    strategy: str
    tag: str
    path: Path  # absolute; the runner stores it relative to the home
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ClipOutcome:
    """One clip's share of a batched stage (sprites, keyframes, embeddings of one video)."""

    clip_id: int
    status: Status
    artifacts: tuple[ArtifactOut, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class FrameRequest:
    """A clip whose frames a batched stage must read from its source video."""

    clip_id: int
    start_frame: int
    end_frame: int  # exclusive
    out_dir: Path  # where this clip's files go (created by the stage if missing)


@dataclass(frozen=True)
class BatchResult:
    status: Status  # "ok" when the batch ran; per-clip failures are in outcomes
    video_id: int
    outcomes: tuple[ClipOutcome, ...]
    duration_ms: int


@dataclass(frozen=True)
class EmbedRequest:
    clip_id: int
    keyframe_paths: tuple[Path, ...]


@dataclass(frozen=True)
class ClipEmbedding:
    clip_id: int
    status: Status
    vector: tuple[float, ...] = ()
    tags: tuple[tuple[str, float], ...] = ()  # (ImageNet label, probability), best first
    error: str | None = None


@dataclass(frozen=True)
class EmbedResult:
    status: Status
    model: str
    strategy: str
    dim: int
    items: tuple[ClipEmbedding, ...]
    duration_ms: int
