"""Backpressure: a broker that does not answer costs a bounded amount of memory, and every submit gets 503.

`AsyncProducer` holds at most `PRODUCER_QUEUE_MAX_MESSAGES` records waiting for the broker; past that,
`send` raises `QueueFull` at once. (503 while a running broker is stopped and restarted is covered by
`tests/faults/test_outages.py`; here the broker is never there: a closed loopback port.)
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import httpx
import pytest

from harness.processes import free_port
from harness.stack import Stack
from producer_api.producer import AsyncProducer, NotDelivered, QueueFull
from runtime.kafka import producer_config
from runtime.settings import CommonSettings

FLOOD = 2000
CONCURRENCY = 50
PAYLOAD = {"blob": "x" * (48 << 10)}  # 2000 of them are 94 MiB: a leak of the records breaks the bound
RSS_GROWTH_BOUND_MIB = 60


def test_a_full_producer_queue_refuses_at_once() -> None:
    settings = CommonSettings(kafka_bootstrap_servers=f"127.0.0.1:{free_port()}")  # nobody listens

    async def scenario() -> None:
        config = {"queue.buffering.max.messages": 2, "message.timeout.ms": 1500, "log_level": 0}
        producer = AsyncProducer(producer_config(settings, "test-queue-full", **config))
        try:
            waiting = [asyncio.ensure_future(producer.send("t", b"k", b"v", [])) for _ in range(2)]
            await asyncio.sleep(0.1)
            with pytest.raises(QueueFull):
                await asyncio.wait_for(producer.send("t", b"k", b"v", []), 0.5)  # at once, not after a timeout
            for send in waiting:  # the queued ones fail when their message timeout ends
                with pytest.raises(NotDelivered):
                    await send
        finally:
            producer.close(1.0)

    asyncio.run(scenario())


def test_a_flood_while_the_broker_is_away_gets_503_and_leaves_nothing(stack: Stack, tmp_path: Path) -> None:
    api = stack.start_api(
        probe="/healthz",  # /readyz says 503: Kafka is away
        KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port()}",
        PRODUCE_TIMEOUT_S="2",
        PRODUCER_QUEUE_MAX_MESSAGES="8",
        SUBMIT_RATE_PER_S="100000",  # the flood is one user's: no 429 before the producer is reached
        SUBMIT_BURST="100000",
    )
    pid = stack.processes[-1].pid
    client = stack.client(api)
    assert httpx.get(f"{api}/readyz").status_code == 503
    asyncio.run(_flood(api, client.token, 100))  # warm up: connections, caches, allocator arenas
    before = _rss_mib(pid)
    answers = asyncio.run(_flood(api, client.token, FLOOD))
    after = _rss_mib(pid)
    statuses = Counter(status for status, _, _ in answers)
    print(f"flood: {FLOOD} submits, {dict(statuses)}, API RSS {before:.1f} MiB -> {after:.1f} MiB")

    assert statuses == {503: FLOOD}
    assert all(retry_after and code == "unavailable" for _, retry_after, code in answers)
    with stack.db() as conn:
        assert conn.execute("select count(*) from requests").fetchone() == (0,)
    assert after - before < RSS_GROWTH_BOUND_MIB


async def _flood(api: str, token: str, count: int) -> list[tuple[int, str | None, str]]:
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    headers = {"Authorization": f"Bearer {token}"}
    gate = asyncio.Semaphore(CONCURRENCY)
    async with httpx.AsyncClient(base_url=api, headers=headers, limits=limits, timeout=60) as http:

        async def submit() -> tuple[int, str | None, str]:
            async with gate:
                response = await http.post("/v1/requests", json={"type": "demo.echo", "payload": PAYLOAD})
            return response.status_code, response.headers.get("Retry-After"), response.json()["error"]["code"]

        return await asyncio.gather(*(submit() for _ in range(count)))


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")
