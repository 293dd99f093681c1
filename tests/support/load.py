"""Load for the end-to-end and fault scenarios: several users at once, each submitting in order."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from harness.mix import Plan
from harness.stack import Client

__all__ = ["Load", "Plan", "submit_all"]


def submit_all(clients: list[Client], plans: list[Plan]) -> dict[str, list[str]]:
    """Submit each client's plan in order, all clients at once; every submission must be accepted."""
    load = Load(clients, plans, tolerate_refusals=False)
    load.start()
    load.join()
    return load.accepted


class Load:
    """Each client submits its plan in order in its own thread, until done or stopped.

    Under faults a submission may be refused (503) or cut off; it is then not accepted and the client
    goes on with the next one. `accepted` lists, per user, what got a 202, in the order it was answered.
    """

    def __init__(
        self, clients: list[Client], plans: list[Plan], tolerate_refusals: bool = True, pace_s: float = 0.0
    ) -> None:
        self.accepted: dict[str, list[str]] = {c.user_id: [] for c in clients}
        self.refused = 0
        self._clients = clients
        self._plans = plans
        self._tolerate = tolerate_refusals
        self._pace_s = pace_s
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(len(clients))
        self._futures: list[Any] = []

    def start(self) -> Load:
        self._futures = [self._pool.submit(self._run, c, p) for c, p in zip(self._clients, self._plans, strict=True)]
        return self

    def stop(self) -> None:
        self._stop.set()

    def join(self) -> None:
        for future in self._futures:
            future.result()
        self._pool.shutdown()

    @property
    def finished(self) -> bool:
        """Every client has submitted its whole plan (or was stopped)."""
        return all(future.done() for future in self._futures)

    @property
    def total(self) -> int:
        return sum(len(ids) for ids in self.accepted.values())

    def _run(self, client: Client, plan: Plan) -> None:
        for type_, payload in plan:
            if self._stop.is_set():
                return
            try:
                response = client.http.post("/v1/requests", json={"type": type_, "payload": payload})
            except httpx.HTTPError:
                if not self._tolerate:
                    raise
                response = None
            if response is not None and response.status_code == 202:
                self.accepted[client.user_id].append(response.json()["request_id"])
            else:
                assert self._tolerate, response.text if response is not None else "no response"
                assert response is None or response.status_code == 503, response.text
                with self._lock:
                    self.refused += 1
                self._stop.wait(0.2)
            if self._pace_s:
                self._stop.wait(self._pace_s)
