"""What the bench and the soak watch while they run: consumer lag, terminal rows, a process's memory and sockets."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Self

from harness.stack import TERMINAL, Stack, consumer_lag


def total_lag(stack: Stack) -> int:
    """Records of the requests and retry topics the group has not committed yet, all partitions."""
    return sum(consumer_lag(stack).values())


class Periodic:
    """Calls `sample` in a thread, then about every `interval_s`, until the `with` block ends."""

    def __init__(self, interval_s: float, name: str) -> None:
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(60)

    def sample(self) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self._interval_s)


class LagSampler(Periodic):
    """The group's total lag, sampled about every `interval_s`; keeps the peak."""

    def __init__(self, stack: Stack, interval_s: float = 0.5) -> None:
        super().__init__(interval_s, "lag-sampler")
        self.peak = 0
        self._stack = stack

    def sample(self) -> None:
        self.peak = max(self.peak, total_lag(self._stack))


def terminal_count(stack: Stack) -> int:
    with stack.db() as conn:
        row = conn.execute("select count(*) from requests where status = any(%s)", (list(TERMINAL),)).fetchone()
    assert row is not None
    return int(row[0])


def drain(stack: Stack, expected: int, timeout_s: float, progress: Callable[[str], None], label: str) -> float:
    """Wait until `expected` requests are terminal, with a progress line; the seconds it took."""
    start = time.monotonic()
    done = 0
    while time.monotonic() - start < timeout_s:
        done = terminal_count(stack)
        progress(f"{label}: terminal {done}/{expected}, {time.monotonic() - start:.1f} s")
        if done >= expected:
            return time.monotonic() - start
        time.sleep(0.5)
    logs = "\n".join(f"--- {p.name}\n{p.tail(15)}" for p in stack.processes)
    raise RuntimeError(f"{label}: {done} of {expected} terminal after {timeout_s} s\n{logs}")


def peak_rss_kib(pid: int) -> int:
    """VmHWM of a live process: the most resident memory it has had, in KiB."""
    return _status_kib(pid, "VmHWM")


def rss_kib(pid: int) -> int:
    """VmRSS of a live process: its resident memory now, in KiB."""
    return _status_kib(pid, "VmRSS")


def _status_kib(pid: int, name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {name} in /proc/{pid}/status")


def sockets(pid: int) -> int:
    """Sockets a live process holds open (its connections, listening ones included)."""
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            count += fd.readlink().as_posix().startswith("socket:")
        except OSError:  # closed meanwhile
            continue
    return count
