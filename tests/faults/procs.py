"""The processes of a run, read from /proc (Linux only; no psutil).

Every process of a run carries ``AUGCLI_FAULT_TAG=<tag>`` in its environment: the variable is set
for the main process and inherited by everything it starts (loky workers, resource trackers,
replacement workers), and stays in ``/proc/PID/environ`` after the process is re-parented. So a
scan finds every survivor of a run, including children started after the test looked.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

TAG_VARIABLE = "AUGCLI_FAULT_TAG"
T = TypeVar("T")


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    pgrp: int  # process group: a run's session leader's pid, for everything it started
    state: str  # R, S, D, T, Z, ...
    start: int  # start time in clock ticks after boot: tells a pid from a recycled one
    cmdline: str

    def __str__(self) -> str:
        return f"pid {self.pid} (ppid {self.ppid}, state {self.state}): {self.cmdline}"


def read_proc(pid: int) -> Proc | None:
    """The process ``pid``, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode(errors="replace")
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:  # gone (ENOENT, ESRCH) between the listing and the read
        return None
    # The command name sits in parentheses and may itself hold spaces and parentheses.
    fields = stat[stat.rindex(")") + 2:].split()
    return Proc(pid, ppid=int(fields[1]), pgrp=int(fields[2]), state=fields[0], start=int(fields[19]),
                cmdline=cmdline)


def all_procs() -> list[Proc]:
    procs = (read_proc(int(name)) for name in os.listdir("/proc") if name.isdigit())
    return [p for p in procs if p is not None]


def descendants(pid: int) -> list[Proc]:
    """Children, grandchildren, ... of ``pid`` as of now."""
    procs = all_procs()
    found, frontier = [], {pid}
    while frontier:
        children = [p for p in procs if p.ppid in frontier and p not in found]
        found += children
        frontier = {p.pid for p in children}
    return found


def is_alive(proc: Proc) -> bool:
    """Still running (a zombie is dead: it only waits to be reaped by its new parent)."""
    now = read_proc(proc.pid)
    return now is not None and now.start == proc.start and now.state not in ("Z", "X")


def tag_of(pid: int) -> str | None:
    """The ``AUGCLI_FAULT_TAG`` a process was started with (None: none, or it is gone)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            environ = f.read().split(b"\0")
    except OSError:
        return None
    prefix = f"{TAG_VARIABLE}=".encode()
    return next((v[len(prefix):].decode() for v in environ if v.startswith(prefix)), None)


def tagged(tag: str) -> list[Proc]:
    """Live processes started with ``AUGCLI_FAULT_TAG=tag``."""
    return [p for p in all_procs() if tag_of(p.pid) == tag and is_alive(p)]


def survivors(tag: str, recorded: list[Proc] = (), timeout: float = 5.0, mentioning: list[str] = ()) -> list[Proc]:
    """Processes of a run still alive after ``timeout`` seconds ([] as soon as all are gone).

    ``recorded``: processes listed before a kill, and ``mentioning``: strings (the output folder)
    whose presence in a command line marks a process of the run; both in case one lost the tag.
    """
    me = os.getpid()

    def alive() -> list[Proc]:
        found = {p.pid: p for p in recorded if is_alive(p)}
        found.update({p.pid: p for p in all_procs() if p.pid != me and p.state not in ("Z", "X")
                      and any(m in p.cmdline for m in mentioning) and tag_of(p.pid) in (None, tag)})
        found.update({p.pid: p for p in tagged(tag)})  # fresher: the parent it has now
        return sorted(found.values(), key=lambda p: p.pid)

    deadline = time.monotonic() + timeout
    while (left := alive()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def poll(check: Callable[[], T], timeout: float, interval: float = 0.005) -> T | None:
    """``check()`` every ``interval`` s until it returns something true; None after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() >= deadline:
            return value or None
        time.sleep(interval)


def wchan(pid: int) -> str:
    """The kernel function ``pid`` sleeps in (``anon_pipe_write``: blocked writing to a full pipe)."""
    try:
        with open(f"/proc/{pid}/wchan") as f:
            return f.read()
    except OSError:
        return ""


def stop_group(pgid: int, timeout: float = 10.0) -> None:
    """SIGSTOP the process group ``pgid`` (as Ctrl-Z stops a job) and wait until every member has
    stopped: a signal takes effect when its target next runs."""
    os.killpg(pgid, signal.SIGSTOP)
    stopped = poll(lambda: all(p.state in "TtZX" for p in all_procs() if p.pgrp == pgid), timeout)
    assert stopped, f"process group {pgid} did not stop on SIGSTOP"


def continue_group(pgid: int) -> None:
    """SIGCONT the group, if anything is left of it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGCONT)


def run_until(pgid: int, reached: Callable[[], T], ended: Callable[[], bool], timeout: float,
              head_start: Callable[[], bool] = lambda: True, step: float = 0.002) -> T:
    """Let the group ``pgid`` run until ``reached()`` is true, and leave it stopped there, however
    fast the machine: it runs freely until ``head_start()``, then ``step`` s at a time, and
    ``reached()`` is asked while it is stopped. Fails if ``ended()`` (the run finished before it
    got there: a fault meant for the middle would come too late)."""
    deadline = time.monotonic() + timeout
    while not head_start():
        assert not ended(), "the run ended before it got to the point of the test"
        assert time.monotonic() < deadline, f"the run did not get to the point of the test in {timeout:.0f} s"
        time.sleep(0.01)
    stop_group(pgid)
    while not (value := reached()):
        assert not ended(), "the run ended before it got to the point of the test"
        assert time.monotonic() < deadline, f"the run did not get to the point of the test in {timeout:.0f} s"
        continue_group(pgid)
        time.sleep(step)
        stop_group(pgid)
    return value
