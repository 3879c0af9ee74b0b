"""Fault injection at named points, for the crash/disk-full tests; a no-op unless asked for.

`HEATERS_FAULT_AT=<point>:<n>[:<action>]` makes the n-th time this process reaches `<point>`
(e.g. `sprite.tx`, `atomic.written`) do `<action>`:

- `kill` (default): SIGKILL this process, as a power cut or the OOM killer would;
- `enospc` / `erofs`: raise OSError(ENOSPC / EROFS), as a full disk or a read-only home would;
- `sleep=S`: sleep S seconds (a slow stage, to watch heartbeats keep a claim alive).

Several specs may be given separated by commas. Points are counted per process and per name;
`HEATERS_FAULT_TRACE=<file>` appends every point reached (`<pid> <point> <n>`), so a harness can
list the moments a run goes through. Called only at a few places per stage (before/after a stage,
before/after a rename, inside/after a result's transaction), so the cost when unset is one
attribute read.
"""

from __future__ import annotations

import errno
import os
import signal
import threading
import time
from dataclasses import dataclass

ENV = "HEATERS_FAULT_AT"
TRACE_ENV = "HEATERS_FAULT_TRACE"


@dataclass(frozen=True)
class Fault:
    point: str
    n: int
    action: str = "kill"


def parse(spec: str) -> list[Fault]:
    """`point:n[:action],...` -> faults; a malformed spec is an error (a silent no-op would lie)."""
    faults = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        bits = part.split(":")
        if len(bits) not in (2, 3) or not bits[1].isdigit() or int(bits[1]) < 1:
            raise ValueError(f"{ENV}: want point:n[:action], got {part!r}")
        action = bits[2] if len(bits) == 3 else "kill"
        if action not in ("kill", "enospc", "erofs") and not action.startswith("sleep="):
            raise ValueError(f"{ENV}: unknown action {action!r}")
        faults.append(Fault(bits[0], int(bits[1]), action))
    return faults


class _State:
    def __init__(self) -> None:
        spec = os.environ.get(ENV, "")
        self.faults = parse(spec) if spec else []
        self.trace = os.environ.get(TRACE_ENV) or None
        self.active = bool(self.faults or self.trace)
        self.counts: dict[str, int] = {}
        self.lock = threading.Lock()


_state = _State()


def reset() -> None:
    """Re-read the environment (tests that set it in-process)."""
    global _state
    _state = _State()


def hit(point: str) -> None:
    """Mark that this process reached `point`; act if a fault is armed for this occurrence."""
    state = _state
    if not state.active:
        return
    with state.lock:
        n = state.counts.get(point, 0) + 1
        state.counts[point] = n
        if state.trace:
            with open(state.trace, "a", encoding="utf-8") as handle:
                handle.write(f"{os.getpid()} {point} {n}\n")
    for fault in state.faults:
        if fault.point == point and fault.n == n:
            _act(fault)


def _act(fault: Fault) -> None:
    if fault.action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(10)  # never returns: the signal is delivered at once
    elif fault.action == "enospc":
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), f"(injected at {fault.point})")
    elif fault.action == "erofs":
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), f"(injected at {fault.point})")
    elif fault.action.startswith("sleep="):
        time.sleep(float(fault.action.removeprefix("sleep=")))
