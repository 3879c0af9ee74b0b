"""Two and four `heaters run` processes on one home while a reviewer acts: every video and clip is
processed exactly once, no "database is locked" (or anything else) reaches stderr, and no review
event is lost.

Each run slot keeps starting `heaters run --json` (as cron would) until the reviewer is done and
a run finds nothing to do; the claims in all their reports add up to exactly one per row and
step. The reviewer works like a person at the TUI: it takes clips from the review queue as sprites
appear and approves, skips or merges them, half through `heaters review ...` and half through the
store API (as the TUI does), with grace 0 so the runs commit them while they work.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from heaters.store import review
from heaters.store.store import Store
from tests import faultkit as fk
from tests.conftest import distinct_copy

SHOTS = (1.0, 1.2, 0.8)  # three clips per video at min_clip_s 0.5


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    from heaters.synthetic import make_video

    root = tmp_path_factory.mktemp("conc")
    first = make_video(root / "v0.mp4", SHOTS, width=160, height=90, seed=21).path
    second = make_video(root / "v1.mp4", SHOTS, width=160, height=90, seed=22).path
    paths = []
    for i in range(4):
        p = root / f"video{i}.mp4"
        distinct_copy(first if i % 2 == 0 else second, p, i)  # one file, one video
        paths.append(p)
    return paths


class Reviewer:
    """Acts on every clip that reaches the queue; counts what it sent."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.store = Store.open(home)
        self.sent = 0
        self.merged_videos: set[int] = set()
        self.acted: set[int] = set()
        self.errors: list[str] = []
        self.pending: list[threading.Thread] = []

    def close(self) -> None:
        self.store.close()

    def _queue(self) -> list[tuple[int, int, int | None]]:
        """(clip id, video id, its queued predecessor) for queued clips, latest first, of videos
        whose clips all have their sprites (a person reviews a video at a time)."""
        with self.store.tx(write=False) as session:
            queued = review.queue(session)
        with fk.db(self.home) as conn:
            busy = {
                v for (v,) in conn.execute(
                    "SELECT source_video_id FROM clips"
                    " WHERE state IN ('spliced', 'generating_sprite')"
                )
            }  # fmt: skip
        out = []
        for c in reversed(queued):
            if c.source_video_id in busy:
                continue
            pred = next(
                (p.id for p in queued
                 if p.source_video_id == c.source_video_id and p.end_frame == c.start_frame),
                None,
            )  # fmt: skip
            out.append((c.id or 0, c.source_video_id, pred))
        return out

    def act(self, clip_id: int, action: str) -> None:
        self.acted.add(clip_id)
        self.sent += 1
        if self.sent % 3 == 1:  # a keypress does not wait for the last one's process
            thread = threading.Thread(target=self._cli, args=(action, clip_id))
            thread.start()
            self.pending.append(thread)
            return
        cfg = review.ReviewConfig(home=self.store.home, min_clip_s=0.5)
        with self.store.tx() as session:
            review.append(session, clip_id, action, None, cfg, time.time())

    def _cli(self, action: str, clip_id: int) -> None:
        res = fk.heaters(self.home, "review", action, str(clip_id), "--quiet")
        if res.code != 0 or res.stderr:
            self.errors.append(f"review {action} {clip_id}: {res.code} {res.stderr}")

    def wait(self) -> None:
        for thread in self.pending:
            thread.join(timeout=120)

    def step(self) -> int:
        """Act on what is queued now (one merge per video); returns how many actions were sent."""
        done = 0
        for clip_id, video_id, pred in self._queue():
            if clip_id in self.acted:
                continue
            if pred not in self.acted and pred is not None and video_id not in self.merged_videos:
                self.merged_videos.add(video_id)
                self.acted.add(pred)  # it goes with the merge
                action = "merge"
            else:
                action = "skip" if clip_id % 4 == 0 else "approve"
            self.act(clip_id, action)
            done += 1
        return done

    def unreviewed(self) -> int:
        with fk.db(self.home) as conn:
            return conn.execute(
                "SELECT (SELECT COUNT(*) FROM source_videos WHERE state != 'spliced')"
                " + (SELECT COUNT(*) FROM clips WHERE state IN"
                "    ('spliced', 'generating_sprite', 'pending_review'))"
            ).fetchone()[0]


def _slot(home: Path, stop: threading.Event, reports: list[dict], errors: list[str]) -> None:
    while True:
        res = fk.heaters(home, "run", "--json", "--quiet")
        if res.code != 0 or res.stderr:
            errors.append(f"run exit {res.code}: {res.stderr.strip()[-500:]}")
            return
        report = json.loads(res.stdout)
        reports.append(report)
        idle = not report["claimed"] and not report["committed"]
        if stop.is_set() and idle:
            return
        if idle:
            time.sleep(1.0)  # cron would wait longer


@pytest.mark.parametrize(
    ("runs", "backend"), [(2, "sqlite"), (4, "sqlite"), (4, "postgres")], indirect=["backend"]
)
def test_parallel_runs_and_a_reviewer_lose_nothing(
    videos: list[Path], tmp_path: Path, runs: int, backend: str
) -> None:
    home = fk.make_home(tmp_path / "home", lease_s=120.0)
    assert fk.heaters(home, "ingest", *map(str, videos), "--quiet").code == 0
    stop = threading.Event()
    reports: list[dict] = []
    errors: list[str] = []
    slots = [
        threading.Thread(target=_slot, args=(home, stop, reports, errors)) for _ in range(runs)
    ]
    for t in slots:
        t.start()
    reviewer = Reviewer(home)
    try:
        deadline = time.time() + 240
        while time.time() < deadline and not errors:
            if not reviewer.step() and reviewer.unreviewed() == 0:
                reviewer.wait()
                if reviewer.unreviewed() == 0:
                    break
            time.sleep(0.1)
        else:
            pytest.fail(f"review did not finish: {errors}")
    finally:
        stop.set()
        for t in slots:
            t.join(timeout=300)
        reviewer.close()
    assert errors == [] and reviewer.errors == []
    last = fk.heaters(home, "run", "--json", "--quiet")  # nothing may be left over
    assert last.code == 0 and json.loads(last.stdout)["claimed"] == {}, last.stdout

    claimed: Counter[str] = Counter()
    for r in reports:
        claimed.update(r["claimed"])
        assert r["reclaimed"] == 0  # no claim ever expired: each row was taken once
    with fk.db(home) as conn:
        states = Counter(s for (s,) in conn.execute("SELECT state FROM clips"))
        n_clips = conn.execute("SELECT COUNT(*) FROM clips").fetchone()[0]
        n_events, n_committed = conn.execute(
            "SELECT COUNT(*), COUNT(committed_at) FROM clip_events"
        ).fetchone()
        n_embeddings = conn.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]
    assert set(states) <= {"embedded", "review_skipped", "merged"}, states
    assert claimed["download"] == claimed["splice"] == len(videos)
    assert claimed["sprite"] == n_clips  # 12 spliced + one per merge
    assert claimed["keyframe"] == claimed["embed"] == states["embedded"] == n_embeddings, (
        claimed,
        states,
        n_embeddings,
        reports,
    )
    assert n_events == n_committed == reviewer.sent  # every action logged, and committed
    assert sum(r["committed"] for r in reports) >= 1
    assert len(reviewer.merged_videos) >= 1
    assert fk.integrity(home) == []
    check = fk.heaters(home, "events", "--check")
    assert check.code == 0, check.stdout
