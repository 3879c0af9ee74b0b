"""Machine roles and per-host locks: `steps` in config.toml makes `heaters run` on a machine do
only those steps; `heaters run --lock` on PostgreSQL excludes overlapping runs of one host, not
the other hosts; the location keys are checked like every other setting."""

from __future__ import annotations

from pathlib import Path

from heaters.store import runlock
from heaters.store.store import Store
from heaters.synthetic import SyntheticVideo
from tests.conftest import cli


def _states(home: Path, table: str) -> list[str]:
    res = cli(home, "status", "--json")
    assert res.code == 0, res.stderr
    return sorted(res.json()[table])  # type: ignore[index]


def test_steps_make_a_machine_do_only_its_part(home: Path, cut_video: SyntheticVideo) -> None:
    assert cli(home, "config", "min_clip_s", "0.3").code == 0
    assert cli(home, "config", "steps", "download").code == 0
    assert cli(home, "ingest", str(cut_video.path), "--quiet").code == 0
    res = cli(home, "run", "--json", "--quiet")
    assert res.code == 0, res.stderr
    assert res.json()["claimed"] == {"download": 1}  # type: ignore[index]
    assert _states(home, "videos") == ["downloaded"]

    # the "GPU box" embeds only: nothing here is its work, and it does not wait for any
    assert cli(home, "config", "steps", "embed").code == 0
    res = cli(home, "run", "--json", "--quiet")
    assert res.code == 0 and res.json()["claimed"] == {}, res.stdout  # type: ignore[index]

    assert cli(home, "config", "steps", "splice, sprite").code == 0
    res = cli(home, "run", "--json", "--quiet")
    assert set(res.json()["claimed"]) == {"splice", "sprite"}  # type: ignore[index]
    assert _states(home, "clips") == ["pending_review"]

    clip = cli(home, "clips", "--json").json()[0]["id"]  # type: ignore[index]
    assert cli(home, "review", "approve", str(clip), "--quiet").code == 0
    res = cli(home, "run", "--json", "--quiet")  # no "review" in steps: nothing commits here
    assert res.json()["committed"] == 0  # type: ignore[index]
    assert cli(home, "config", "steps", "all").code == 0  # every step again
    res = cli(home, "run", "--json", "--quiet")
    assert res.json()["committed"] == 1  # type: ignore[index]
    assert res.json()["claimed"]["embed"] == 1  # type: ignore[index]


def test_location_and_steps_settings_are_checked(home: Path) -> None:
    for key, value, words in [
        ("steps", "download, fly", "unknown step 'fly'"),
        ("database_url", "mysql://x/y", "postgresql://"),
        ("database_url", "heaters.db", "postgresql://"),
    ]:
        res = cli(home, "config", key, value)
        assert res.code == 2 and words in res.stderr, (key, res.stderr)
    assert not (home / "config.toml").exists()  # nothing written
    url = "postgresql://heaters:s3cret@db.example/heaters"
    for args in (("database_url", url), ("database_url",), ()):
        res = cli(home, "config", *args)
        assert res.code == 0 and "s3cret" not in res.stdout and "heaters:***@" in res.stdout
    assert f'database_url = "{url}"' in (home / "config.toml").read_text()


def test_run_lock_is_per_host_on_postgres(tmp_path: Path, pg_url: str) -> None:
    here = Store.open(tmp_path / "a", pg_url)
    there = Store.open(tmp_path / "b", pg_url)
    try:
        assert runlock.take(here, "host-a")
        assert not runlock.take(there, "host-a")  # the same host, from another home folder
        assert runlock.take(there, "host-b")  # another host works beside it
        env = {"HEATERS_DATABASE_URL": pg_url, "HEATERS_WORKER_HOST": "host-a"}
        res = cli(tmp_path / "c", "run", "--once", "--lock", "--json", env=env)
        assert res.code == 0 and "skipped" in res.json(), res.stdout  # type: ignore[operator]
        env["HEATERS_WORKER_HOST"] = "host-c"
        res = cli(tmp_path / "c", "run", "--once", "--lock", "--json", env=env)
        assert res.code == 0 and "skipped" not in res.json(), res.stdout  # type: ignore[operator]
    finally:
        for conn in runlock._HELD:
            if hasattr(conn, "close"):
                conn.close()
        runlock._HELD.clear()
        here.close()
        there.close()


def test_doctor_names_the_postgres_database(tmp_path: Path, pg_url: str) -> None:
    res = cli(tmp_path / "h", "doctor", "--json", env={"HEATERS_DATABASE_URL": pg_url})
    check = next(c for c in res.json() if c["name"] == "database")  # type: ignore[union-attr]
    assert check["ok"] and check["detail"].startswith("PostgreSQL "), check
    bad = "postgresql://nobody@127.0.0.1:1/none"
    res = cli(tmp_path / "h", "doctor", "--json", env={"HEATERS_DATABASE_URL": bad})
    check = next(c for c in res.json() if c["name"] == "database")  # type: ignore[union-attr]
    assert not check["ok"] and "refused" in check["detail"], check
    assert res.code == 1


def test_a_missing_media_root_is_refused_not_made(tmp_path: Path) -> None:
    """An unmounted share must not quietly become a local folder under its mount point."""
    share = tmp_path / "mnt" / "nas" / "heaters"
    env = {"HEATERS_MEDIA_ROOT": str(share)}
    res = cli(tmp_path / "home", "status", env=env)
    assert res.code == 1 and "is the shared mount mounted" in res.stderr, res.stderr
    assert not share.exists() and not (tmp_path / "mnt").exists()
    share.mkdir(parents=True)
    assert cli(tmp_path / "home", "status", env=env).code == 0
    assert not (tmp_path / "home" / "media").exists()  # the media live on the share
