"""The generic executor and the step bindings (heaters/runner/executors.py, bindings.py).

Every step runs through one skeleton; what differs per step is its binding. The contract is
checked twice: with a fake stage bound into a copy of a real step (the tests named `fake_stage`,
where the contract is generic and a stage that fails on cue is the point), and with the real
download, splice and sprite bindings on generated footage.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import Session

from heaters.domain.files import TEMP_PREFIX
from heaters.domain.results import StageError
from heaters.domain.sources import parse_source
from heaters.domain.steps import STEPS, Step, step_named
from heaters.errors import DiskFull
from heaters.runner.bindings import BINDINGS
from heaters.runner.context import RunContext
from heaters.runner.executors import (
    Binding,
    BindingError,
    Job,
    RowResult,
    check_bindings,
    execute,
)
from heaters.settings import Settings
from heaters.store import claims, videos
from heaters.store.store import Store
from heaters.store.tables import Clip, SourceVideo
from heaters.synthetic import SyntheticVideo

# ---- the table and its bindings agree, or the runner does not import ---------------------------


def test_every_step_of_the_table_has_its_binding() -> None:
    assert list(BINDINGS) == [s.name for s in STEPS]
    assert all(BINDINGS[s.name].step == s.name for s in STEPS)


def test_a_step_without_a_binding_is_named() -> None:
    thumbs = replace(step_named("sprite"), name="thumbs")
    with pytest.raises(BindingError, match="^step 'thumbs' has no binding") as caught:
        check_bindings((*STEPS, thumbs), BINDINGS.values())
    assert "\n" not in str(caught.value)


def test_a_binding_for_no_step_and_a_second_binding_are_refused() -> None:
    extra = replace(BINDINGS["embed"], step="embedd")
    with pytest.raises(BindingError, match="^binding 'embedd' names no step"):
        check_bindings(STEPS, (*BINDINGS.values(), extra))
    with pytest.raises(BindingError, match="^step 'embed' has more than one binding"):
        check_bindings(STEPS, (*BINDINGS.values(), BINDINGS["embed"]))


def test_importing_the_runner_with_an_unbound_step_fails_naming_it() -> None:
    """A step added to the table without a binding stops `heaters run` at import (in a fresh
    interpreter: the table patched before the runner is imported)."""
    code = (
        "from dataclasses import replace\n"
        "import heaters.domain.steps as s\n"
        "s.STEPS = (*s.STEPS, replace(s.STEPS[-1], name='thumbs'))\n"
        "import heaters.runner.dispatch\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("heaters.runner.executors.BindingError: step 'thumbs' has no binding")


# ---- the generic contract, with a fake stage bound to a copy of the download step --------------

# Same subject and states as download (new -> downloading -> downloaded | download_failed): the
# claims and transitions are the real ones; only the stage and its glue are fakes.
FAKE = replace(step_named("download"), name="fake_stage", batch=10)


@dataclass
class Calls:
    staged: list[list[int]] = field(default_factory=list)
    gave_up: list[int] = field(default_factory=list)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store.open(tmp_path / "home")
    yield store
    store.close()


def _ctx(store: Store, **settings: Any) -> RunContext:
    return RunContext(store=store, settings=Settings(retry_base_s=0, **settings))


def _videos(store: Store, n: int) -> list[int]:
    """`n` new video rows (URLs nobody serves: the fake stage never fetches them)."""
    ids = []
    with store.tx() as session:
        first = session.execute(text("SELECT count(*) FROM source_videos")).one()[0]
        for i in range(first, first + n):
            row, _ = videos.register(session, parse_source(f"http://127.0.0.1:9/{i}.mp4"))
            assert row.id is not None
            ids.append(row.id)
    return ids


def _claim(ctx: RunContext, step: Step) -> list[int]:
    with ctx.store.tx() as session:
        return claims.claim(session, step, ctx.worker, ctx.clock(), ctx.settings.lease_s)


def _rows(store: Store) -> dict[int, tuple[str, int, str | None, str | None]]:
    with store.tx(write=False) as session:
        rows = session.execute(
            text("SELECT id, state, attempts, last_error, title FROM source_videos")
        ).all()
    return {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}


def _fake(
    calls: Calls,
    stage: Callable[[list[int]], Any],
    mode: str = "each",
    **extra: Any,
) -> Binding:
    """A binding whose stage is `stage(ids)` and whose write sets each row's title."""

    def read(ctx: RunContext, session: Session, ids: list[int], params: Any) -> Job:
        return Job(ids, list(ids), f"fake {ids}", float(len(ids)))

    def run(ids: list[int], on_progress: Callable[..., None]) -> Any:
        calls.staged.append(list(ids))
        out = stage(ids)
        on_progress(len(ids))
        return out

    def write(ctx: RunContext, job: Job, result: Any) -> list[RowResult]:
        def row(i: int) -> RowResult:
            if isinstance(result, dict) and i in result:
                return RowResult(i, error=result[i])

            def put(session: Session) -> str:
                video = session.get(SourceVideo, i)
                assert video is not None
                video.title = f"done {i}"
                session.add(video)
                return f"wrote {i}"

            return RowResult(i, put)

        return [row(i) for i in job.ids]

    def gave_up(ctx: RunContext, row_id: int) -> None:
        calls.gave_up.append(row_id)

    fields: dict[str, Any] = {"gave_up": gave_up, **extra}
    return Binding("fake_stage", mode, "items", read, run, write, **fields)  # type: ignore[arg-type]


def test_fake_stage_a_failing_row_does_not_stop_the_others(store: Store) -> None:
    ctx = _ctx(store)
    ids = _videos(store, 3)
    calls = Calls()

    def stage(row: list[int]) -> None:
        if row == [ids[1]]:
            raise RuntimeError("bad frame\nat 12")

    execute(ctx, FAKE, _fake(calls, stage), _claim(ctx, FAKE))
    rows = _rows(store)
    assert calls.staged == [[i] for i in ids]
    assert rows[ids[0]] == ("downloaded", 0, None, f"done {ids[0]}")
    assert rows[ids[2]] == ("downloaded", 0, None, f"done {ids[2]}")
    state, attempts, error, title = rows[ids[1]]
    assert (state, attempts, title) == ("new", 1, None)  # retried later, nothing written
    assert error == "RuntimeError: bad frame | at 12"  # one line
    assert [(f.row_id, f.final) for f in ctx.failures] == [(ids[1], False)]
    assert ctx.notes == [f"wrote {ids[0]}", f"wrote {ids[2]}"]  # notes of committed rows only


def test_fake_stage_batch_a_row_the_stage_failed_alone(store: Store) -> None:
    """In one stage call for the whole claim, a row the stage reports failed gets the attempt;
    the rest are written. A non-retryable failure reaches the failed state and `gave_up`."""
    ctx = _ctx(store)
    ids = _videos(store, 3)
    calls = Calls()
    claimed = _claim(ctx, FAKE)
    execute(ctx, FAKE, _fake(calls, lambda ids_: {ids[2]: "no frames"}, "batch"), claimed)
    assert calls.staged == [claimed] and claimed == ids
    rows = _rows(store)
    assert [rows[i][0] for i in ids] == ["downloaded", "downloaded", "new"]
    assert rows[ids[2]][2] == "no frames"

    # the whole call fails for a reason no retry fixes: every row of it fails for good
    more = _videos(store, 2)
    final = Calls()

    def hopeless(ids_: list[int]) -> None:
        raise StageError("not a video", retryable=False)

    execute(ctx, FAKE, _fake(final, hopeless, "batch"), _claim(ctx, FAKE))
    rows = _rows(store)
    assert [rows[i][:3] for i in more] == [("download_failed", 1, "not a video")] * 2
    assert rows[ids[2]][:3] == ("download_failed", 2, "not a video")  # retried in that batch
    assert final.gave_up == [ids[2], *more]  # what was kept for a retry goes


def test_fake_stage_a_lost_claim_drops_that_row_only(store: Store) -> None:
    """While the stage runs, row 2's claim expires and another worker takes it: its result is
    dropped (nothing written, the other worker's claim untouched), the rest are committed."""
    ctx = _ctx(store)
    ids = _videos(store, 3)

    def stage(ids_: list[int]) -> None:
        with store.tx() as session:
            session.execute(
                text("UPDATE source_videos SET claimed_by = 'another' WHERE id = :id"),
                {"id": ids[1]},
            )

    execute(ctx, FAKE, _fake(Calls(), stage, "batch"), _claim(ctx, FAKE))
    rows = _rows(store)
    assert rows[ids[1]] == ("downloading", 0, None, None)  # still the other worker's
    assert [rows[i][0] for i in (ids[0], ids[2])] == ["downloaded", "downloaded"]
    assert ctx.failures == []  # a lost claim is no failure of ours
    with store.tx(write=False) as session:
        assert session.get(SourceVideo, ids[1]).claimed_by == "another"  # type: ignore[union-attr]


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_fake_stage_a_full_disk_stops_the_run_without_charging_the_row(
    store: Store, code: int
) -> None:
    ctx = _ctx(store)
    ids = _videos(store, 3)
    calls = Calls()

    def stage(row: list[int]) -> None:
        if row == [ids[1]]:
            raise OSError(code, os.strerror(code))

    with pytest.raises(DiskFull):
        execute(ctx, FAKE, _fake(calls, stage), _claim(ctx, FAKE))
    assert calls.staged == [[ids[0]], [ids[1]]]  # the third was never started
    rows = _rows(store)
    assert rows[ids[0]][0] == "downloaded"  # finished work is kept
    assert rows[ids[1]][:2] == ("downloading", 0)  # no attempt charged (the dispatcher gives
    assert ctx.failures == []  # the claims back: tests/test_faults.py)


def test_fake_stage_each_row_is_committed_before_the_next_runs(store: Store) -> None:
    """Per-row commit: while the stage works on the second row, the first row's result is
    already visible to any other connection (a crash now would keep it)."""
    ctx = _ctx(store)
    ids = _videos(store, 3)
    seen: list[dict[int, str]] = []

    def stage(row: list[int]) -> None:
        seen.append({i: s[0] for i, s in _rows(store).items()})

    execute(ctx, FAKE, _fake(Calls(), stage), _claim(ctx, FAKE))
    assert [[s[i] for i in ids] for s in seen] == [
        ["downloading", "downloading", "downloading"],
        ["downloaded", "downloading", "downloading"],
        ["downloaded", "downloaded", "downloading"],
    ]


def test_fake_stage_a_bad_setting_fails_every_claimed_row_before_any_work(store: Store) -> None:
    ctx = _ctx(store)
    ids = _videos(store, 2)
    calls = Calls()

    def params(ctx: RunContext) -> None:
        raise StageError("bad yt-dlp option", retryable=False)

    execute(ctx, FAKE, _fake(calls, lambda ids_: None, params=params), _claim(ctx, FAKE))
    assert calls.staged == []
    assert [_rows(store)[i][:3] for i in ids] == [("download_failed", 1, "bad yt-dlp option")] * 2


def test_fake_stage_temp_files_progress_and_heartbeats(store: Store, tmp_path: Path) -> None:
    """Before the stage: the rows' folders lose a killed attempt's temp files (but the names the
    binding keeps). During it: a progress line in the binding's unit, and heartbeats extend the
    claim while the stage has no connection of its own."""
    ctx = _ctx(store, lease_s=0.6)  # a beat every 0.2 s
    (video,) = _videos(store, 1)
    folder = tmp_path / "rows"
    folder.mkdir()
    (folder / f"{TEMP_PREFIX}half.jpg").write_bytes(b"x")
    (folder / f"{TEMP_PREFIX}resume").mkdir()
    (folder / "kept.jpg").write_bytes(b"x")

    def until() -> float:
        with store.tx(write=False) as session:
            row = session.get(SourceVideo, video)
            assert row is not None and row.claimed_until is not None
            return row.claimed_until

    extended = threading.Event()

    def stage(ids: list[int]) -> None:
        assert sorted(p.name for p in folder.iterdir()) == [f"{TEMP_PREFIX}resume", "kept.jpg"]
        first = until()
        for _ in range(300):  # the heartbeat moves claimed_until on (waits up to 30 s)
            if until() > first:
                extended.set()
                return
            threading.Event().wait(0.1)

    def read(ctx: RunContext, session: Session, ids: list[int], params: Any) -> Job:
        return Job(ids, ids, f"fake #{ids[0]}", 7.0, (folder,))

    reporter = _Recorder()
    ctx = replace(ctx, reporter=reporter)
    binding = replace(_fake(Calls(), stage), read=read, keep=(f"{TEMP_PREFIX}resume",))
    execute(ctx, FAKE, binding, _claim(ctx, FAKE))
    assert extended.is_set()
    assert reporter.lines == [_Line(f"fake #{video}", 7.0, "items", [1.0], True)]
    assert _rows(store)[video][0] == "downloaded"


@dataclass
class _Line:
    description: str
    total: float | None
    unit: str
    updates: list[float] = field(default_factory=list)
    closed: bool = False

    def update(self, done: float, total: float | None = None) -> None:
        self.updates.append(float(done))

    def close(self) -> None:
        self.closed = True


@dataclass
class _Recorder:
    lines: list[_Line] = field(default_factory=list)

    def task(self, description: str, total: float | None, unit: str) -> _Line:
        self.lines.append(_Line(description, total, unit))
        return self.lines[-1]

    def note(self, message: str) -> None:
        pass


# ---- the real bindings on generated footage -----------------------------------------------------


def test_real_steps_through_the_generic_executor(
    store: Store, cut_video: SyntheticVideo, tmp_path: Path
) -> None:
    """download, splice and sprite of a real video, each through `execute` with its binding.
    The splice's note says which found cuts were joined; a sprite whose claim an undo yanks
    mid-batch is dropped, the other clips of the batch get theirs."""
    ctx = _ctx(store, detector="content")
    with store.tx() as session:
        video, _ = videos.register(session, parse_source(str(cut_video.path)))
    for name in ("download", "splice"):
        step = step_named(name)
        execute(ctx, step, BINDINGS[name], _claim(ctx, step))
    assert ctx.failures == []
    with store.tx(write=False) as session:
        row = session.get(SourceVideo, video.id)
        assert row is not None and row.state == "spliced" and row.frame_count
        merged = row.detector_params["merged_cuts"]
        clip_ids = [r[0] for r in session.execute(text("SELECT id FROM clips ORDER BY id"))]
    assert merged > 0  # the footage has shots under min_clip_s
    assert ctx.notes == [
        f"video {video.id}: {merged} cut{'s' if merged > 1 else ''} inside scenes under 1 s"
        f" joined their neighbours ({len(clip_ids)} clips from {len(clip_ids) - 1 + merged} cuts)"
    ]

    sprite = step_named("sprite")
    ids = _claim(ctx, sprite)
    assert ids == clip_ids and len(ids) > 2
    yanked = ids[1]
    real = BINDINGS["sprite"]

    def stage(inputs: Any, on_progress: Callable[..., None]) -> Any:
        with store.tx() as session:  # what an undo does to a claimed clip
            session.execute(
                text("UPDATE clips SET state = 'pending_review', claimed_by = NULL WHERE id = :i"),
                {"i": yanked},
            )
        return real.stage(inputs, on_progress)

    execute(ctx, sprite, replace(real, stage=stage), ids)
    with store.tx(write=False) as session:
        states = {c: session.get(Clip, c).state for c in ids}  # type: ignore[union-attr]
        arts = {
            r[0]
            for r in session.execute(text("SELECT clip_id FROM clip_artifacts WHERE kind='sprite'"))
        }
    assert states == {c: "pending_review" for c in ids}
    assert arts == set(ids) - {yanked}
    assert ctx.failures == []
