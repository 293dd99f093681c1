"""Steady load from several users at once, each user's submissions in order (so they interleave)."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.support.stack import Client


def ledger_mix(rng: random.Random, count: int, sleep_ms: int = 0) -> list[tuple[str, dict[str, Any]]]:
    """Deposits, withdrawals (some over the balance) and echoes; with `sleep_ms`, some slow ones."""
    plan: list[tuple[str, dict[str, Any]]] = []
    for i in range(count):
        roll = rng.random()
        if roll < 0.45:
            plan.append(("ledger.deposit", {"amount": rng.randint(1, 100)}))
        elif roll < 0.85:
            plan.append(("ledger.withdraw", {"amount": rng.randint(1, 120)}))
        elif sleep_ms:
            plan.append(("demo.sleep", {"ms": sleep_ms}))
        else:
            plan.append(("demo.echo", {"i": i}))
    return plan


def submit_all(
    clients: list[Client], plans: list[list[tuple[str, dict[str, Any]]]], stop: threading.Event | None = None
) -> dict[str, list[str]]:
    """Submit each client's plan in order, all clients at once; return the accepted ids per user."""
    accepted: dict[str, list[str]] = {c.user_id: [] for c in clients}

    def run(client: Client, plan: list[tuple[str, dict[str, Any]]]) -> None:
        for type_, payload in plan:
            if stop is not None and stop.is_set():
                return
            accepted[client.user_id].append(client.submit(type_, payload)["request_id"])

    with ThreadPoolExecutor(len(clients)) as pool:
        for future in [pool.submit(run, c, p) for c, p in zip(clients, plans, strict=True)]:
            future.result()
    return accepted
