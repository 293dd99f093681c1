"""The soak's plan, without I/O: when each fault strikes, which window a moment falls in, and whether a
figure stayed flat.

The faults of a run of `duration_s`: a worker SIGKILLed every `kill_every_s` (from `kill_every_s` on),
and once each, in the middle of the run so that the last window has none of them: the broker restarted at
40 %, PostgreSQL restarted at 55 %, a rebalance storm at 70 %. Faults run one after another; one that
comes due while another is still running waits for it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

KILL, BROKER, POSTGRES, STORM = "worker_sigkill", "broker_restart", "postgres_restart", "rebalance_storm"
ONCE = ((0.40, BROKER), (0.55, POSTGRES), (0.70, STORM))
FLAT = 0.20  # the last window within 20 % of the second


@dataclass(frozen=True)
class Fault:
    at_s: float  # after the load's start
    kind: str


def schedule(duration_s: float, kill_every_s: float) -> list[Fault]:
    """The faults of a run of `duration_s`, in time order."""
    kills = [Fault(n * kill_every_s, KILL) for n in range(1, math.ceil(duration_s / kill_every_s))]
    once = [Fault(round(fraction * duration_s, 1), kind) for fraction, kind in ONCE]
    return sorted(kills + once, key=lambda fault: fault.at_s)


def windows(duration_s: float, window_s: float) -> int:
    """How many windows a run of `duration_s` has (a short last one counts)."""
    return max(1, math.ceil(duration_s / window_s - 1e-9))


def window_of(at_s: float, window_s: float, count: int) -> int:
    """The window of a moment `at_s` after the start; past the end (a late send, the drain) is the last."""
    return min(count - 1, max(0, int(at_s // window_s)))


def flat(second: float | None, last: float | None) -> bool | None:
    """Whether `last` is within `FLAT` of `second` (None when either was not measured)."""
    if second is None or last is None or second <= 0:
        return None
    return abs(last / second - 1) <= FLAT
