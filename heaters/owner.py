"""Who holds a claim: host, boot, process and thread, so that a claim of a process that provably
no longer runs on this host is taken back at once instead of after its lease.

A claim's owner is recorded as `host:boot:pid:start:thread`: the boot id
(`/proc/sys/kernel/random/boot_id`) tells a claim made before a reboot or power loss, and the
process start time (field 22 of `/proc/PID/stat`) tells a reused pid. Claims of other hosts (or
in an older form) cannot be proven dead from here: they keep their lease.

`$HEATERS_WORKER_HOST` names the host instead of its hostname (machines whose hostnames clash,
or tests that play several hosts on one machine).
"""

from __future__ import annotations

import os
import socket
import threading
from functools import cache
from pathlib import Path


@cache
def boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip().replace("-", "")[:12]
    except OSError:
        return "noboot"


def start_ticks(pid: int) -> str | None:
    """A process's start time in clock ticks since boot, or None when it does not exist."""
    try:
        stat = Path(f"/proc/{int(pid)}/stat").read_text()
    except (OSError, ValueError):
        return None
    # the command name (field 2) may hold spaces and parentheses: count from the last ')'
    fields = stat[stat.rfind(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else None


ENV_WORKER_HOST = "HEATERS_WORKER_HOST"


def host_name() -> str:
    """This machine's name in claims and locks (never containing ':', the field separator)."""
    name = os.environ.get(ENV_WORKER_HOST, "").strip() or socket.gethostname()
    return name.replace(":", "_")


@cache
def _process(pid: int) -> str:
    return f"{host_name()}:{boot_id()}:{pid}:{start_ticks(pid) or 0}"


def process_id() -> str:
    """This process, as written in its claims (everything before the thread)."""
    return _process(os.getpid())


def worker_id() -> str:
    """This process and thread: claims are per worker thread."""
    return f"{process_id()}:{threading.get_ident()}"


def provably_gone(claimed_by: str | None) -> bool:
    """True when the claim's owner ran on this host and is no longer running: this host rebooted
    since, or its pid is gone or now belongs to a process that started at another time."""
    if not claimed_by or not _local_procfs():
        return False
    parts = claimed_by.split(":")
    if len(parts) != 5 or parts[0] != host_name():
        return False  # another host, or a claim in the old form: only its lease can tell
    _host, boot, pid, start, _thread = parts
    if boot != boot_id():
        return True  # made before this host last booted
    if not pid.isdigit():
        return False
    return start_ticks(int(pid)) != start


@cache
def _local_procfs() -> bool:
    return boot_id() != "noboot" and Path(f"/proc/{os.getpid()}/stat").exists()
