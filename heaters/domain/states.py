"""States of source videos and clips, and the one table of allowed transitions.

Every state change in the store goes through `check_transition`; anything not listed here is
refused. Keeping the table in one place makes the life cycle reviewable at a glance (README has the
diagram) and lets the store enforce it without knowing why.
"""

from __future__ import annotations

from enum import StrEnum


class VideoState(StrEnum):
    NEW = "new"
    DOWNLOADING = "downloading"
    DOWNLOADED = "downloaded"
    SPLICING = "splicing"
    SPLICED = "spliced"
    DOWNLOAD_FAILED = "download_failed"
    SPLICING_FAILED = "splicing_failed"


class FollowState(StrEnum):
    """A followed URL (channel, playlist, feed, page): checked by `heaters run` when due."""

    FOLLOWING = "following"
    CHECKING = "checking"
    FAILED = "follow_failed"


class ClipState(StrEnum):
    SPLICED = "spliced"
    GENERATING_SPRITE = "generating_sprite"
    PENDING_REVIEW = "pending_review"
    REVIEW_APPROVED = "review_approved"
    REVIEW_SKIPPED = "review_skipped"
    REVIEW_ARCHIVED = "review_archived"
    KEYFRAMING = "keyframing"
    KEYFRAMED = "keyframed"
    EMBEDDING = "embedding"
    EMBEDDED = "embedded"
    MERGED = "merged"
    SPLIT = "split"
    SPRITE_FAILED = "sprite_failed"
    KEYFRAME_FAILED = "keyframe_failed"
    EMBEDDING_FAILED = "embedding_failed"


V, C = VideoState, ClipState

VIDEO_TRANSITIONS: frozenset[tuple[VideoState, VideoState]] = frozenset(
    {
        (V.NEW, V.DOWNLOADING),
        (V.DOWNLOADING, V.DOWNLOADED),
        (V.DOWNLOADING, V.NEW),  # failed attempt (retry later) or expired claim
        (V.DOWNLOADING, V.DOWNLOAD_FAILED),
        (V.DOWNLOADED, V.SPLICING),
        (V.SPLICING, V.SPLICED),
        (V.SPLICING, V.DOWNLOADED),  # failed attempt or expired claim
        (V.SPLICING, V.SPLICING_FAILED),
        (V.DOWNLOAD_FAILED, V.NEW),  # heaters retry
        (V.SPLICING_FAILED, V.DOWNLOADED),  # heaters retry
    }
)

F = FollowState
FOLLOW_TRANSITIONS: frozenset[tuple[FollowState, FollowState]] = frozenset(
    {
        (F.FOLLOWING, F.CHECKING),
        (F.CHECKING, F.FOLLOWING),  # checked (next check in follow_every_h), or retry later
        (F.CHECKING, F.FAILED),
        (F.FAILED, F.FOLLOWING),  # heaters retry
    }
)

CLIP_TRANSITIONS: frozenset[tuple[ClipState, ClipState]] = frozenset(
    {
        (C.SPLICED, C.GENERATING_SPRITE),
        (C.GENERATING_SPRITE, C.PENDING_REVIEW),
        (C.GENERATING_SPRITE, C.SPLICED),
        (C.GENERATING_SPRITE, C.SPRITE_FAILED),
        (C.SPRITE_FAILED, C.SPLICED),
        # after approval
        (C.REVIEW_APPROVED, C.KEYFRAMING),
        (C.KEYFRAMING, C.KEYFRAMED),
        (C.KEYFRAMING, C.REVIEW_APPROVED),
        (C.KEYFRAMING, C.KEYFRAME_FAILED),
        (C.KEYFRAME_FAILED, C.REVIEW_APPROVED),
        (C.KEYFRAMED, C.EMBEDDING),
        (C.EMBEDDING, C.EMBEDDED),
        (C.EMBEDDING, C.KEYFRAMED),
        (C.EMBEDDING, C.EMBEDDING_FAILED),
        (C.EMBEDDING_FAILED, C.KEYFRAMED),
        # undo of an approval after the pipeline moved on drops derived artifacts
        (C.KEYFRAMED, C.PENDING_REVIEW),
        (C.EMBEDDED, C.PENDING_REVIEW),
        (C.KEYFRAME_FAILED, C.PENDING_REVIEW),
        (C.EMBEDDING_FAILED, C.PENDING_REVIEW),
    }
)

UNREVIEWED_STATES: frozenset[ClipState] = frozenset(
    {C.SPLICED, C.GENERATING_SPRITE, C.PENDING_REVIEW, C.SPRITE_FAILED}
)

# States in which a clip no longer exists in the timeline (replaced by merge/split).
SUPERSEDED: frozenset[ClipState] = frozenset({C.MERGED, C.SPLIT})

# Approved clips, whatever pipeline stage they reached since.
APPROVED_FAMILY: frozenset[ClipState] = frozenset(
    {
        C.REVIEW_APPROVED,
        C.KEYFRAMING,
        C.KEYFRAMED,
        C.EMBEDDING,
        C.EMBEDDED,
        C.KEYFRAME_FAILED,
        C.EMBEDDING_FAILED,
    }
)


# Review commits and their undo, by rule rather than by enumeration:
# - a pending clip gets its outcome, or is merged/split;
# - a merge/group partner (whatever was decided on it, whatever pipeline stage) is merged,
#   or approved by a group: the newer decision wins;
# - undo puts clips back to a pre-action state, dropping pipeline progress.
_PARTNERS = UNREVIEWED_STATES | APPROVED_FAMILY | {C.REVIEW_SKIPPED, C.REVIEW_ARCHIVED}
_RESTORABLE = {C.SPLICED, C.PENDING_REVIEW, C.SPRITE_FAILED, C.REVIEW_APPROVED, C.REVIEW_SKIPPED,
               C.REVIEW_ARCHIVED}  # fmt: skip
_REVIEWED = APPROVED_FAMILY | {C.REVIEW_SKIPPED, C.REVIEW_ARCHIVED, C.MERGED, C.SPLIT}
REVIEW_TRANSITIONS: frozenset[tuple[ClipState, ClipState]] = frozenset(
    {
        (state, out)
        for state in UNREVIEWED_STATES
        for out in (C.REVIEW_SKIPPED, C.REVIEW_ARCHIVED, C.SPLIT)
    }
    | {(state, C.MERGED) for state in _PARTNERS}
    | {
        (state, C.REVIEW_APPROVED)
        for state in UNREVIEWED_STATES | {C.REVIEW_SKIPPED, C.REVIEW_ARCHIVED}
    }
    | {(state, back) for state in _REVIEWED for back in _RESTORABLE}
)
CLIP_TRANSITIONS = CLIP_TRANSITIONS | REVIEW_TRANSITIONS


class TransitionError(ValueError):
    """A state change the life cycle does not allow."""


def check_transition(kind: str, old: str, new: str) -> None:
    """Raise `TransitionError` unless `old -> new` is allowed for `kind` ("video" or "clip")."""
    if old == new:
        return
    table: frozenset[tuple[StrEnum, StrEnum]]
    if kind == "video":
        table = VIDEO_TRANSITIONS
    elif kind == "clip":
        table = CLIP_TRANSITIONS
    elif kind == "follow":
        table = FOLLOW_TRANSITIONS
    else:
        raise ValueError(f"unknown kind {kind!r}")
    if (old, new) not in {(str(a), str(b)) for a, b in table}:
        raise TransitionError(f"{kind} state {old} -> {new} is not allowed")
