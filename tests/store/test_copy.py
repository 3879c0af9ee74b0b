"""`heaters.store.copy`: a one-machine SQLite library copied into PostgreSQL, verified row for
row, is the same library there: the same rows and ids, the review log still append-only and
replaying, vectors searchable, new rows numbered after the copied ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text
from sqlmodel import select

from heaters.store import review, vectors
from heaters.store.copy import CopyError, copy_sqlite_to_postgres
from heaters.store.store import Store
from heaters.store.tables import Clip
from tests.store.test_review import make_store


def _library(root: Path) -> Store:
    """A SQLite home with clips, committed and pending review actions (a merge), embeddings."""
    store, cfg = make_store(root)
    with store.tx() as s:
        review.append(s, 1, "approve", None, cfg, now=100.0)
        review.append(s, 3, "merge", None, cfg, now=101.0)
        review.append(s, 5, "skip", None, cfg, now=102.0)
        review.commit_due(s, 200.0, 10.0, cfg)
        review.append(s, 6, "archive", None, cfg, now=300.0)  # still pending
        rng = np.random.default_rng(3)
        for clip_id in (1, 2):
            vectors.put(s, clip_id, "m", "multi", rng.normal(size=16),
                        [("tabby", 0.7), ("tiger cat", 0.2)])  # fmt: skip
    return store


def _dump(store: Store) -> dict[str, list[tuple]]:
    out = {}
    with store.tx(write=False) as s:
        for table in ("source_videos", "clips", "clip_artifacts", "clip_events", "event_effects"):
            rows = s.execute(text(f"SELECT * FROM {table} ORDER BY 1")).all()
            out[table] = [tuple(str(v) if isinstance(v, dict | list) else v for v in r)
                          for r in rows]  # fmt: skip
    return out


def test_copy_is_the_same_library_on_postgres(tmp_path: Path, pg_url: str) -> None:
    sqlite = _library(tmp_path)
    with sqlite.tx(write=False) as s:
        want_events = review.check(s, 0.5)
        want_similar = [h.clip_id for h in vectors.nearest(s, np.ones(16), "m", k=2)]
        n_clips = len(s.exec(select(Clip)).all())
    sqlite.close()

    report = copy_sqlite_to_postgres(tmp_path / "heaters.db", pg_url)
    assert report.rows["clips"] == n_clips and report.rows["clip_events"] == 4
    assert report.rows["embeddings"] == 2 and report.rows["home_identity"] == 1

    pg = Store.open(tmp_path, pg_url)  # the same home (its home.id matches the copied id)
    assert pg.is_postgres
    with pg.tx(write=False) as s:
        assert review.check(s, 0.5) == want_events == []
        assert [h.clip_id for h in vectors.nearest(s, np.ones(16), "m", k=2)] == want_similar
        labels = s.execute(text("SELECT label FROM embedding_tags ORDER BY 1")).scalars().all()
    assert labels == ["tabby", "tabby", "tiger cat", "tiger cat"]
    with pg.tx() as s:  # the pending archive commits once, there; new ids follow the copied
        assert review.commit_due(s, 400.0, 10.0, review.ReviewConfig(home=pg.home)) == 1
        new = Clip(source_video_id=1, start_frame=900, end_frame=960, start_time_s=30.0,
                   end_time_s=32.0)  # fmt: skip
        s.add(new)
        s.flush()
        assert new.id == n_clips + 1
    with pytest.raises(Exception, match="append-only"), pg.tx() as s:
        s.execute(text("DELETE FROM clip_events WHERE id = 1"))
    pg.close()

    sqlite = Store.open(tmp_path, "")  # the SQLite library is untouched
    before = _dump(sqlite)
    with pytest.raises(CopyError, match="not empty"):
        copy_sqlite_to_postgres(tmp_path / "heaters.db", pg_url)
    assert _dump(sqlite) == before


def test_copy_of_a_missing_library_is_refused(tmp_path: Path, pg_url: str) -> None:
    with pytest.raises(CopyError, match="no library"):
        copy_sqlite_to_postgres(tmp_path / "heaters.db", pg_url)
