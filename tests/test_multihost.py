"""Three machines, one library: three `heaters run` processes with worker identities of their own
(`$HEATERS_WORKER_HOST`) against one PostgreSQL and one shared media folder (`media_root`).

Host a is SIGKILLed in the middle of a splice; hosts b and c, which cannot prove a process of
another host dead, take its video back when its lease runs out and finish everything. Every row
is claimed exactly once by the survivors (plus the one lost claim, reclaimed once), and the final
store is the one a single SQLite run makes of the same footage and the same review actions.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from tests import faultkit as fk
from tests.conftest import distinct_copy

SHOTS = (1.0, 1.2, 0.8)
LEASE_S = 4.0


@pytest.fixture(scope="module")
def footage(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    from heaters.synthetic import make_video

    root = tmp_path_factory.mktemp("multihost")
    first = make_video(root / "v0.mp4", SHOTS, width=160, height=90, seed=31).path
    second = make_video(root / "v1.mp4", SHOTS, width=160, height=90, seed=32).path
    return [
        distinct_copy(first if i % 2 == 0 else second, root / f"video{i}.mp4", i) for i in range(3)
    ]


def _approve_all(home: Path, env: dict[str, str]) -> int:
    """Approve every clip in the review queue, in timeline order (the same order on both)."""
    with fk.db(home) as conn:
        ids = [
            int(r[0])
            for r in conn.execute(
                "SELECT id FROM clips WHERE state = 'pending_review'"
                " ORDER BY source_video_id, start_frame"
            )
        ]
    for clip_id in ids:
        res = fk.heaters(home, "review", "approve", str(clip_id), "--quiet", **env)
        assert res.code == 0, res.stderr
    return len(ids)


def _runs_until_rest(homes: dict[str, Path], envs: dict[str, dict[str, str]]) -> list[dict]:
    """Each host keeps starting `heaters run` (as cron would) until no row is claimed or due."""
    reports: list[dict] = []
    errors: list[str] = []
    lock = threading.Lock()

    def at_rest(home: Path) -> bool:
        with fk.db(home) as conn:
            claimed = conn.execute(
                "SELECT (SELECT COUNT(*) FROM source_videos WHERE claimed_by IS NOT NULL)"
                " + (SELECT COUNT(*) FROM clips WHERE claimed_by IS NOT NULL)"
            ).fetchone()[0]
        return int(claimed) == 0

    def host(name: str) -> None:
        deadline = time.time() + 240
        while time.time() < deadline:
            res = fk.heaters(homes[name], "run", "--json", "--quiet", **envs[name])
            if res.code != 0 or res.stderr:
                with lock:
                    errors.append(f"{name}: exit {res.code}: {res.stderr.strip()[-400:]}")
                return
            report = json.loads(res.stdout)
            with lock:
                reports.append(report)
            if not report["claimed"] and not report["committed"]:
                if at_rest(homes[name]):
                    return
                time.sleep(0.5)  # another host's claim: wait for it to finish or expire
        with lock:
            errors.append(f"{name}: not at rest after 240 s")

    threads = [threading.Thread(target=host, args=(n,)) for n in homes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    return reports


def test_three_hosts_share_one_postgres_and_one_media_root(
    footage: list[Path], tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    media = tmp_path / "nas" / "media"
    media.mkdir(parents=True)
    homes = {h: fk.make_home(tmp_path / f"host-{h}", lease_s=LEASE_S) for h in "abc"}
    envs = {
        h: {
            "HEATERS_DATABASE_URL": pg_url,
            "HEATERS_MEDIA_ROOT": str(media),
            "HEATERS_WORKER_HOST": f"host-{h}",
        }
        for h in "abc"
    }
    monkeypatch.setenv("HEATERS_DATABASE_URL", pg_url)  # for fk.db / fk.snapshot here
    monkeypatch.setenv("HEATERS_MEDIA_ROOT", str(media))
    assert fk.heaters(homes["a"], "ingest", *map(str, footage), "--quiet", **envs["a"]).code == 0

    crashed = fk.heaters(homes["a"], "run", "--quiet", fault="splice.detected:1", **envs["a"])
    assert crashed.killed, crashed.stderr[-500:]
    with fk.db(homes["a"]) as conn:
        held = conn.execute(
            "SELECT claimed_by FROM source_videos WHERE state = 'splicing'"
        ).fetchall()
    assert len(held) == 1 and held[0][0].startswith("host-a:")

    survivors = {h: homes[h] for h in "bc"}
    first = _runs_until_rest(survivors, envs)
    approved = _approve_all(homes["b"], envs["b"])
    second = _runs_until_rest(survivors, envs)
    reports = first + second

    claimed: Counter[str] = Counter()
    for r in reports:
        claimed.update(r["claimed"])
    with fk.db(homes["b"]) as conn:
        n_clips = conn.execute("SELECT COUNT(*) FROM clips").fetchone()[0]
        states = Counter(s for (s,) in conn.execute("SELECT state FROM clips"))
        workers = {
            w.split(":")[0]
            for (w,) in conn.execute("SELECT worker FROM step_runs WHERE step = 'splice'")
        }
    assert sum(r["reclaimed"] for r in reports) == 1  # host a's splice, after its lease
    assert claimed["download"] == 0  # host a downloaded everything before it died
    assert claimed["splice"] == len(footage)
    assert claimed["sprite"] == n_clips == approved
    assert claimed["keyframe"] == claimed["embed"] == approved == states["embedded"]
    assert workers <= {"host-b", "host-c"} and workers
    assert not any((homes[h] / "media").exists() and any((homes[h] / "media").rglob("*.*"))
                   for h in "abc")  # fmt: skip
    assert fk.integrity(homes["b"]) == []
    shared = fk.snapshot(homes["b"])

    # the same footage and review on one machine, SQLite
    monkeypatch.delenv("HEATERS_DATABASE_URL")
    monkeypatch.delenv("HEATERS_MEDIA_ROOT")
    single = fk.make_home(tmp_path / "single", lease_s=LEASE_S)
    assert fk.heaters(single, "ingest", *map(str, footage), "--quiet").code == 0
    assert fk.heaters(single, "run", "--quiet").code == 0
    assert _approve_all(single, {}) == approved
    assert fk.heaters(single, "run", "--quiet").code == 0
    assert fk.diff(shared, fk.snapshot(single)) == []
