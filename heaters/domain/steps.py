"""The dispatcher's step table and retry policy: data, not code per step.

A step says which rows it works on (subject + ready state), the transient state that claims them,
and where they go on success and on final failure. The runner is one generic loop over this table
and one generic executor; each step's stage is bound to it by name in `heaters.runner.bindings`
(kept out of this pure module), and a step without its binding stops the runner at import.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from heaters.domain.states import ClipState as C
from heaters.domain.states import FollowState as F
from heaters.domain.states import VideoState as V


@dataclass(frozen=True)
class Step:
    name: str
    subject: Literal["video", "clip", "follow"]
    ready: str  # rows in this state (and due) are work
    claim: str  # transient state while a worker holds the row
    success: str
    failure: str  # terminal state after the attempt limit
    per_video: bool = False  # clips of one source video are claimed and run as one batch
    batch: int = 1  # at most this many rows per claim
    once_per_run: bool = False  # at most one pass of a run takes it (a follow due every 0 h)


STEPS: tuple[Step, ...] = (
    # followed channels/playlists/feeds whose check is due: their new entries become videos (new),
    # which the download step below takes in the same pass
    Step(
        "follow",
        "follow",
        F.FOLLOWING,
        F.CHECKING,
        F.FOLLOWING,
        F.FAILED,
        batch=10_000,
        once_per_run=True,
    ),  # fmt: skip
    Step("download", "video", V.NEW, V.DOWNLOADING, V.DOWNLOADED, V.DOWNLOAD_FAILED),
    Step("splice", "video", V.DOWNLOADED, V.SPLICING, V.SPLICED, V.SPLICING_FAILED),
    Step(
        "sprite",
        "clip",
        C.SPLICED,
        C.GENERATING_SPRITE,
        C.PENDING_REVIEW,
        C.SPRITE_FAILED,
        per_video=True,
        batch=500,
    ),
    Step(
        "keyframe",
        "clip",
        C.REVIEW_APPROVED,
        C.KEYFRAMING,
        C.KEYFRAMED,
        C.KEYFRAME_FAILED,
        per_video=True,
        batch=500,
    ),
    Step("embed", "clip", C.KEYFRAMED, C.EMBEDDING, C.EMBEDDED, C.EMBEDDING_FAILED, batch=64),
)


def step_named(name: str) -> Step:
    for step in STEPS:
        if step.name == name:
            return step
    raise KeyError(name)


def step_for_claim_state(subject: str, state: str) -> Step | None:
    """Which step a transient state belongs to (for reclaiming expired claims)."""
    for step in STEPS:
        if step.subject == subject and step.claim == state:
            return step
    return None


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3
    base_s: float = 60.0
    cap_s: float = 3600.0

    def backoff_s(self, attempts: int) -> float:
        """Delay before attempt `attempts + 1`: exponential, capped."""
        return float(min(self.cap_s, self.base_s * (2 ** max(0, attempts - 1))))

    def gives_up(self, attempts: int, retryable: bool) -> bool:
        return (not retryable) or attempts >= self.max_attempts
