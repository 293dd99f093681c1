"""The request mix of the scenarios and the soak: ledger deposits and withdrawals (some over the balance),
echoes, and on request slow, flaky and poison ones. One pick at a time, so that a long-running load can draw
them as it goes; `ledger_mix` draws a whole plan."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

Plan = list[tuple[str, dict[str, Any]]]


def pick(rng: random.Random, i: int, sleep_ms: int = 0, failures: bool = False) -> tuple[str, dict[str, Any]]:
    """The `i`-th request of a mix: deposits, withdrawals (some over the balance) and echoes; with `sleep_ms`,
    some slow ones; with `failures`, some flaky requests (they succeed on a retry) and a few poison ones
    (dead letters)."""
    roll = rng.random()
    if failures and roll < 0.08:
        return ("demo.flaky", {"fail_times": rng.randint(1, 2)})
    if failures and roll < 0.11:
        return ("demo.poison", {})
    if roll < 0.50:
        return ("ledger.deposit", {"amount": rng.randint(1, 100)})
    if roll < 0.88:
        return ("ledger.withdraw", {"amount": rng.randint(1, 120)})
    if sleep_ms:
        return ("demo.sleep", {"ms": sleep_ms})
    return ("demo.echo", {"i": i})


def ledger_mix(rng: random.Random, count: int, sleep_ms: int = 0, failures: bool = False) -> Plan:
    """`count` picks of the mix, in order."""
    return [pick(rng, i, sleep_ms, failures) for i in range(count)]


@dataclass(frozen=True)
class Mix:
    """A mix drawn as a load goes (`bench.load.Shot.mix`): `pick`'s parameters, and the seed of its draws."""

    sleep_ms: int = 0
    failures: bool = False
    seed: int = 1

    def body(self, rng: random.Random, i: int) -> dict[str, Any]:
        """The JSON body of the `i`-th request drawn with `rng`."""
        type_, payload = pick(rng, i, self.sleep_ms, self.failures)
        return {"type": type_, "payload": payload}
