"""`heaters gc`: give back the disk space nothing needs any more.

What goes:
- files under `media/` that no row references (a killed run's leftovers, files of clips an undo
  removed when the run died before deleting them, the sources of videos that failed);
- stray temp files (`.tmp-*`) older than a few minutes;
- derived media of archived and superseded (merged/split) clips: their sprite and keyframe files
  with their rows, and their embeddings (the vector index follows by trigger). A sprite that is a
  view into its video's tile store loses its row only: the store (`media/sources/<id>/tiles.bin`)
  lives as long as its video row.

What never goes: anything in the folder of a row that a live run has claimed (it may be writing
there right now, its row not committed yet), and temp files young enough to be in use. The plan
is computed from the database and one directory walk by a pure function; rows are deleted in one
IMMEDIATE transaction and files only after it commits, so a crash in between leaves files without
rows (the next gc takes them), never rows without files.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text
from sqlmodel import Session

from heaters.domain.files import FRAME_TIMES, SCORES, TEMP_PREFIX, TILES
from heaters.domain.states import SUPERSEDED, ClipState
from heaters.domain.steps import STEPS
from heaters.store.home import Home

TEMP_AGE_S = 300.0  # a temp file this old belongs to no live writer
DEAD_STATES = frozenset({ClipState.REVIEW_ARCHIVED, *SUPERSEDED})
_CLAIM_STATES = {"video": {s.claim for s in STEPS if s.subject == "video"},
                 "clip": {s.claim for s in STEPS if s.subject == "clip"}}  # fmt: skip


@dataclass(frozen=True)
class FileEntry:
    """One thing found under `media/`: a file, or a temp folder (sized and dated as a whole)."""

    rel: str  # relative to the home, posix
    size: int
    mtime: float  # newest modification inside, for a folder


@dataclass(frozen=True)
class StoreFacts:
    """What the database says about the files (read in gc's transaction)."""

    referenced: frozenset[str]  # paths rows point at (video files, artifacts, frames.npy)
    claimed: frozenset[str]  # folders (relative) of rows a live run holds
    dead_artifacts: tuple[tuple[int, int, str], ...]  # (id, clip id, path): archived/superseded
    dead_embeddings: tuple[tuple[int, int], ...]  # (id, clip id)


@dataclass(frozen=True)
class Removal:
    rel: str
    size: int
    reason: str  # temp | unreferenced | derived


@dataclass
class GcPlan:
    files: list[Removal] = field(default_factory=list)
    artifact_ids: list[int] = field(default_factory=list)
    embedding_ids: list[int] = field(default_factory=list)
    clips: list[int] = field(default_factory=list)  # clips whose derived media go

    @property
    def bytes(self) -> int:
        return sum(f.size for f in self.files)

    def summary(self) -> dict[str, object]:
        reasons = Counter(f.reason for f in self.files)
        return {
            "files": len(self.files),
            "bytes": self.bytes,
            "by_reason": {r: reasons[r] for r in ("temp", "unreferenced", "derived") if reasons[r]},
            "artifact_rows": len(self.artifact_ids),
            "embedding_rows": len(self.embedding_ids),
            "clips": len(self.clips),
            "paths": [f.rel for f in self.files],
        }


# ---------------------------------------------------------------- I/O: walk and facts


def walk(home: Home) -> list[FileEntry]:
    """Every file under `media/`; a temp folder (yt-dlp's work folder) counts as one entry."""
    entries: list[FileEntry] = []
    for dirpath, dirnames, filenames in os.walk(home.media):
        here = Path(dirpath)
        for name in list(dirnames):
            if name.startswith(TEMP_PREFIX):
                dirnames.remove(name)
                size, mtime = _tree_stats(here / name)
                entries.append(FileEntry(home.lexical_rel(here / name), size, mtime))
        for name in filenames:
            path = here / name
            try:
                st = path.lstat()
            except FileNotFoundError:  # went while we looked
                continue
            entries.append(FileEntry(home.lexical_rel(path), st.st_size, st.st_mtime))
    return entries


def _tree_stats(folder: Path) -> tuple[int, float]:
    size, newest = 0, 0.0
    for dirpath, _dirs, files in os.walk(folder):
        for name in [".", *files]:
            try:
                st = (Path(dirpath) / name).lstat()
            except FileNotFoundError:
                continue
            newest = max(newest, st.st_mtime)
            if name != ".":
                size += st.st_size
    return size, newest


def facts(session: Session, now: float) -> StoreFacts:
    referenced: set[str] = set()
    claimed: set[str] = set()
    for vid, path, state, until in session.execute(
        text("SELECT id, filepath, state, claimed_until FROM source_videos")
    ):
        referenced.add(f"media/sources/{int(vid)}/{FRAME_TIMES}")
        referenced.add(f"media/sources/{int(vid)}/{SCORES}")  # the splice's scores: resplice
        # The tile store: shared by every clip's sprite view, merges' and splits' to come too.
        referenced.add(f"media/sources/{int(vid)}/{TILES}")
        if path:
            referenced.add(path)
        if state == "new":  # a download that will go on from where it stopped (heaters run)
            referenced.add(f"media/sources/{int(vid)}/.tmp-resume")
        if state in _CLAIM_STATES["video"] and (until or 0) > now:
            claimed.add(f"media/sources/{int(vid)}")
    dead_clips: set[int] = set()
    for cid, state, until in session.execute(text("SELECT id, state, claimed_until FROM clips")):
        if state in _CLAIM_STATES["clip"] and (until or 0) > now:
            claimed.add(f"media/clips/{int(cid)}")
        if state in DEAD_STATES:
            dead_clips.add(int(cid))
    dead_artifacts = []
    for aid, cid, path in session.execute(text("SELECT id, clip_id, path FROM clip_artifacts")):
        if int(cid) in dead_clips:
            dead_artifacts.append((int(aid), int(cid), str(path)))
        else:
            referenced.add(str(path))
    dead_embeddings = tuple(
        (int(eid), int(cid))
        for eid, cid in session.execute(text("SELECT id, clip_id FROM embeddings"))
        if int(cid) in dead_clips
    )
    return StoreFacts(
        frozenset(referenced),
        frozenset(claimed),
        tuple(dead_artifacts),
        dead_embeddings,
    )


# ---------------------------------------------------------------- pure: the plan


def make_plan(
    facts: StoreFacts, listing: Iterable[FileEntry], now: float, temp_age_s: float = TEMP_AGE_S
) -> GcPlan:
    """Which files and rows go, from the store's facts and a walk of `media/`."""
    plan = GcPlan()
    found = {e.rel: e for e in listing}
    # A dead clip's sprite view points at its video's shared tile store: its row goes, the
    # store stays (a file any live row or video references is never "derived").
    dead_paths = {path for _aid, _cid, path in facts.dead_artifacts} - facts.referenced
    for entry in sorted(found.values(), key=lambda e: e.rel):
        if _in_claimed(entry.rel, facts.claimed):
            continue
        name = entry.rel.rsplit("/", 1)[-1]
        if entry.rel in facts.referenced:
            continue
        if name.startswith(TEMP_PREFIX):
            if now - entry.mtime >= temp_age_s:
                plan.files.append(Removal(entry.rel, entry.size, "temp"))
        elif entry.rel in dead_paths:
            plan.files.append(Removal(entry.rel, entry.size, "derived"))
        elif entry.rel not in facts.referenced:
            plan.files.append(Removal(entry.rel, entry.size, "unreferenced"))
    plan.artifact_ids = sorted(aid for aid, _cid, _path in facts.dead_artifacts)
    plan.embedding_ids = sorted(eid for eid, _cid in facts.dead_embeddings)
    plan.clips = sorted(
        {cid for _aid, cid, _path in facts.dead_artifacts}
        | {cid for _eid, cid in facts.dead_embeddings}
    )
    return plan


def _in_claimed(rel: str, claimed: frozenset[str]) -> bool:
    parts = rel.split("/")
    return len(parts) >= 3 and "/".join(parts[:3]) in claimed


# ---------------------------------------------------------------- I/O: apply


def delete_rows(session: Session, plan: GcPlan) -> None:
    """Drop the derived rows of archived/superseded clips (in the caller's transaction)."""
    for eid in plan.embedding_ids:
        session.execute(text("DELETE FROM embeddings WHERE id = :id"), {"id": eid})
    for aid in plan.artifact_ids:
        session.execute(text("DELETE FROM clip_artifacts WHERE id = :id"), {"id": aid})


def delete_files(home: Home, plan: GcPlan, claimed: frozenset[str] = frozenset()) -> int:
    """Remove the planned files (after the rows' transaction committed) and the row folders they
    leave empty; returns the bytes freed."""
    freed = 0
    folders = set()
    for item in plan.files:
        path = home.lexical_abs(item.rel)
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        except FileNotFoundError:
            continue
        freed += item.size
        folders.add(path.parent)
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        rel = home.lexical_rel(folder)
        if folder.parent in (home.media / "clips", home.media / "sources") and rel not in claimed:
            try:
                folder.rmdir()  # only when empty
            except OSError:
                pass
    return freed


def collect(
    session: Session, listing: list[FileEntry], now: float, dry_run: bool
) -> tuple[GcPlan, StoreFacts]:
    """Plan against the store as of this (IMMEDIATE) transaction; delete rows unless dry-run."""
    store_facts = facts(session, now)
    plan = make_plan(store_facts, listing, now)
    if not dry_run:
        delete_rows(session, plan)
    return plan, store_facts
