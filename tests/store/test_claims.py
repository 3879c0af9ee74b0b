from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from heaters.domain.sources import Source
from heaters.domain.states import TransitionError
from heaters.domain.steps import RetryPolicy, step_named
from heaters.store import claims, videos
from heaters.store.store import Store
from heaters.store.tables import SourceVideo

DOWNLOAD = step_named("download")


@pytest.fixture
def store(tmp_path: Path, backend: str) -> Store:
    store = Store.open(tmp_path)
    with store.tx() as s:
        for i in range(40):
            videos.register(s, Source("url", f"https://example.com/{i}"))
    return store


def test_parallel_claims_never_overlap(store: Store) -> None:
    taken: dict[str, list[int]] = {}

    def worker(name: str) -> None:
        got: list[int] = []
        while True:
            with store.tx() as s:
                ids = claims.claim(s, DOWNLOAD, name, 100.0, 60, limit=1)
            if not ids:
                break
            got += ids
        taken[name] = got

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [i for ids in taken.values() for i in ids]
    assert sorted(every) == list(range(1, 41))  # each exactly once


def test_fail_backs_off_then_gives_up(store: Store) -> None:
    policy = RetryPolicy(max_attempts=3, base_s=10)
    now = 1000.0
    for attempt in (1, 2, 3):
        with store.tx() as s:
            ids = claims.claim(s, DOWNLOAD, "w", now, 60, limit=1)
            assert ids == [1]
            state = claims.fail(s, DOWNLOAD, 1, "w", "boom\nsecond line", now, policy)
            row = s.get(SourceVideo, 1)
            assert row is not None
            assert row.attempts == attempt and row.last_error == "boom | second line"
        if attempt < 3:
            assert state == "new"
            with store.tx() as s:  # not due during the backoff: the next video is claimed instead
                assert claims.claim(s, DOWNLOAD, "w", now + 1, 60, limit=1) == [2 + attempt - 1]
                claims.fail(s, DOWNLOAD, 2 + attempt - 1, "w", "x", now, RetryPolicy(base_s=1e9))
            now += policy.backoff_s(attempt)
        else:
            assert state == "download_failed"
    with store.tx() as s:
        assert claims.retry_failed(s, now, video_ids=[1]) == [("video", 1)]
        row = s.get(SourceVideo, 1)
        assert row is not None and row.state == "new" and row.attempts == 0


def test_not_retryable_fails_at_once(store: Store) -> None:
    with store.tx() as s:
        claims.claim(s, DOWNLOAD, "w", 0, 60, limit=1)
        assert claims.fail(s, DOWNLOAD, 1, "w", "not a video", 0, RetryPolicy(), False) == (
            "download_failed"
        )


def test_expired_claim_returns_to_previous_state(store: Store) -> None:
    with store.tx() as s:
        assert claims.claim(s, DOWNLOAD, "killed", 0.0, 5.0, limit=1) == [1]
    with store.tx() as s:
        assert claims.reclaim_expired(s, 4.0, RetryPolicy()) == 0  # still held
        assert claims.reclaim_expired(s, 6.0, RetryPolicy()) == 1
        row = s.get(SourceVideo, 1)
        assert row is not None and row.state == "new" and row.claimed_by is None
        assert row.attempts == 1 and "claim expired" in (row.last_error or "")
    with store.tx() as s:  # and it is taken again
        assert claims.claim(s, DOWNLOAD, "next", 7.0, 5.0, limit=1) == [1]


def test_heartbeat_keeps_a_claim_and_finish_checks_ownership(store: Store) -> None:
    with store.tx() as s:
        claims.claim(s, DOWNLOAD, "w", 0.0, 5.0, limit=1)
        assert claims.heartbeat(s, DOWNLOAD, [1], "w", 100.0) == 1
        assert claims.heartbeat(s, DOWNLOAD, [1], "other", 200.0) == 0
    with store.tx() as s:
        assert claims.reclaim_expired(s, 50.0, RetryPolicy()) == 0
        with pytest.raises(claims.ClaimLost):
            claims.finish(s, DOWNLOAD, 1, "other", 50.0)
        claims.finish(s, DOWNLOAD, 1, "w", 50.0)
        assert (
            s.execute(text("SELECT state FROM source_videos WHERE id=1")).scalar() == "downloaded"
        )


def test_finish_refuses_a_state_outside_the_table(store: Store) -> None:
    with store.tx() as s:
        claims.claim(s, DOWNLOAD, "w", 0.0, 5.0, limit=1)
        with pytest.raises(TransitionError):
            claims.finish(s, DOWNLOAD, 1, "w", 1.0, state="spliced")


def test_release_gives_claims_back_without_an_attempt(store: Store) -> None:
    """A run stopped by a full disk: its unfinished rows are due again at once, uncharged."""
    with store.tx() as s:
        assert claims.claim(s, DOWNLOAD, "w", 0.0, 60.0, limit=2) == [1, 2]
        claims.finish(s, DOWNLOAD, 1, "w", 1.0)
        assert claims.release(s, DOWNLOAD, [1, 2], "w", 2.0) == 1  # 1 was finished already
        assert claims.release(s, DOWNLOAD, [2], "w", 2.0) == 0
        row = s.get(SourceVideo, 2)
        assert row is not None and (row.state, row.attempts, row.claimed_by) == ("new", 0, None)
        assert claims.claim(s, DOWNLOAD, "next", 3.0, 60.0, limit=1) == [2]
