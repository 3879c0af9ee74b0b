"""Commands started through `dying_with_us`: they run as given, and die with heaters."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from heaters.stages import orphans
from heaters.stages.orphans import dying_with_us

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_the_command_runs_with_its_arguments_output_and_exit_code() -> None:
    proc = subprocess.run(
        dying_with_us(
            [
                sys.executable,
                "-c",
                "import sys; print(sys.argv[1:]); sys.exit(3)",
                "a b",
                "[bold]x[/bold]",
                "--flag",
            ]
        ),  # fmt: skip
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 3
    assert proc.stdout.strip() == "['a b', '[bold]x[/bold]', '--flag']"


def test_the_command_gets_the_default_sigpipe_and_sigxfsz() -> None:
    """Python ignores SIGPIPE and SIGXFSZ; a command execed from it would inherit that and,
    writing to a closed pipe or past the file size limit, loop on errors instead of stopping."""
    status = subprocess.run(
        dying_with_us(["cat", "/proc/self/status"]), capture_output=True, text=True, timeout=60
    ).stdout
    ignored = int(next(x for x in status.splitlines() if x.startswith("SigIgn:")).split()[1], 16)
    assert not ignored & (1 << (signal.SIGPIPE - 1))
    assert not ignored & (1 << (signal.SIGXFSZ - 1))


def test_a_missing_command_is_one_line_and_127() -> None:
    proc = subprocess.run(
        dying_with_us(["no-such-command-heaters"]), capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 127
    assert proc.stderr == "cannot run no-such-command-heaters: No such file or directory\n"


def test_the_command_dies_when_its_parent_is_killed(tmp_path: Path) -> None:
    """A parent started with `dying_with_us` runs `sleep`; `kill -9` of the parent kills it."""
    pid_file = tmp_path / "pid"
    parent = subprocess.Popen(
        [sys.executable, "-c",
         "import subprocess, sys, time\n"
         "from heaters.stages.orphans import dying_with_us\n"
         "child = subprocess.Popen(dying_with_us(['sleep', '300']))\n"
         "open(sys.argv[1], 'w').write(str(child.pid))\n"
         "time.sleep(300)\n",
         str(pid_file)],
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        child = int(pid_file.read_text())
        while time.monotonic() < deadline:  # until the guard has become `sleep`
            if Path(f"/proc/{child}/comm").read_text().strip() == "sleep":
                break
            time.sleep(0.05)
        assert _alive(child)
        parent.kill()
        parent.wait(timeout=30)
        deadline = time.monotonic() + 10
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child)
    finally:
        parent.kill()
        parent.wait(timeout=30)


def test_a_guard_whose_parent_is_already_gone_runs_nothing(tmp_path: Path) -> None:
    """The parent died before the request took effect: the guard exits instead of running the
    command (the pid it was given is not its parent's)."""
    marker = tmp_path / "ran"
    proc = subprocess.run(
        [sys.executable, "-I", "-S", orphans.__file__, "1", "touch", str(marker)],
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert not marker.exists()
