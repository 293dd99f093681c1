"""Accepting and reading requests against a real API process, PostgreSQL and Kafka (no worker)."""

from __future__ import annotations

import threading
from typing import Any

import httpx

from harness.checks import read_topic
from harness.stack import Stack


def test_a_202_is_readable_at_once_and_in_kafka(api: str, stack: Stack) -> None:
    client = stack.client(api)
    response = client.http.post("/v1/requests", json={"type": "demo.echo", "payload": {"n": 1}})
    assert response.status_code == 202
    view = response.json()
    assert response.headers["Location"] == f"/v1/requests/{view['request_id']}"
    assert view["status"] == "queued"
    assert view["user_id"] == client.user_id
    assert view["processed_seq"] is None
    read = client.http.get(f"/v1/requests/{view['request_id']}")  # read-your-writes
    assert read.status_code == 200
    assert read.json() == view
    [record] = read_topic(stack, stack.settings.requests_topic)
    assert record["request_id"] == view["request_id"]
    assert record["user_id"] == client.user_id


def test_sequence_follows_acceptance_and_the_list_pages_in_queue_order(api: str, stack: Stack) -> None:
    client = stack.client(api)
    ids = [client.submit("demo.echo", {"i": i})["request_id"] for i in range(7)]
    batch = client.http.post(
        "/v1/requests/batch", json={"requests": [{"type": "demo.echo", "payload": {"i": i}} for i in range(7, 10)]}
    )
    assert batch.status_code == 202
    ids += [v["request_id"] for v in batch.json()["requests"]]
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = client.http.get("/v1/requests", params=params).json()
        seen += page["requests"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [v["request_id"] for v in seen] == ids
    sequences = [v["sequence"] for v in seen]
    assert sequences == sorted(set(sequences))
    assert client.http.get("/v1/requests", params={"status": "succeeded"}).json()["requests"] == []
    assert client.http.get("/v1/requests", params={"cursor": "!!"}).status_code == 422


def test_20_concurrent_posts_with_one_key_make_one_request(api: str, stack: Stack) -> None:
    client = stack.client(api)
    body = {"type": "ledger.deposit", "payload": {"amount": 5}}
    answers: list[httpx.Response] = []
    start = threading.Barrier(20)

    def post() -> None:
        with httpx.Client(base_url=api, headers=client.http.headers, timeout=30) as http:
            start.wait()
            answers.append(http.post("/v1/requests", json=body, headers={"Idempotency-Key": "pay-42"}))

    threads = [threading.Thread(target=post) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [a.status_code for a in answers] == [202] * 20
    assert len({a.json()["request_id"] for a in answers}) == 1
    [request_id] = {a.json()["request_id"] for a in answers}
    with stack.db() as conn:
        assert conn.execute("select count(*) from requests").fetchone() == (1,)
    # every duplicate may reach the topic, all as the one request: it runs once
    assert {r["request_id"] for r in read_topic(stack, stack.settings.requests_topic)} == {request_id}
    stack.start_worker()
    stack.wait_terminal(1)
    with stack.db() as conn:
        assert conn.execute("select count(*) from ledger_entries").fetchone() == (1,)
        assert conn.execute("select balance from ledger_accounts").fetchone() == (5,)
    assert [e["request_id"] for e in read_topic(stack, stack.settings.results_topic)] == [request_id]
    other = client.http.post(
        "/v1/requests", json={"type": "ledger.deposit", "payload": {"amount": 6}}, headers={"Idempotency-Key": "pay-42"}
    )
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"


def test_concurrent_submissions_of_several_users_share_transactions_and_each_is_accepted(
    api: str, stack: Stack
) -> None:
    clients = [stack.client(api) for _ in range(4)]
    answers: list[tuple[str, httpx.Response]] = []
    start = threading.Barrier(40)

    def post(user: int) -> None:
        client = clients[user % 4]
        with httpx.Client(base_url=api, headers=client.http.headers, timeout=30) as http:
            start.wait()
            answers.append((client.user_id, http.post("/v1/requests", json={"type": "demo.echo", "payload": {}})))

    threads = [threading.Thread(target=post, args=(n,)) for n in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [a.status_code for _, a in answers] == [202] * 40
    with stack.db() as conn:
        rows = conn.execute("select request_id::text, user_id::text, xmin::text, sequence from requests").fetchall()
        logged = conn.execute("select count(*) from request_events where status = 'queued'").fetchone()
    assert {(user, a.json()["request_id"]) for user, a in answers} == {(r[1], r[0]) for r in rows}
    assert all(r[3] is not None for r in rows)
    assert len({r[2] for r in rows}) < 40, "every submission had a transaction of its own: no group commit"
    assert logged == (40,)
    assert len(read_topic(stack, stack.settings.requests_topic)) == 40


def test_unknown_types_and_bad_payloads_are_422_and_change_nothing(api: str, stack: Stack) -> None:
    client = stack.client(api)
    for body, code in (
        ({"type": "nope", "payload": {}}, "unknown_type"),
        ({"type": "ledger.deposit", "payload": {"amount": -1}}, "invalid_payload"),
        ({"type": "demo.sleep", "payload": {"ms": "10"}}, "invalid_payload"),
        ({"type": "demo.echo", "payload": []}, "invalid_request"),
        ({"payload": {}}, "invalid_request"),
    ):
        response = client.http.post("/v1/requests", json=body)
        assert response.status_code == 422, body
        assert response.json()["error"]["code"] == code
    batch = client.http.post(
        "/v1/requests/batch", json={"requests": [{"type": "demo.echo", "payload": {}}, {"type": "nope", "payload": {}}]}
    )
    assert batch.status_code == 422
    with stack.db() as conn:
        assert conn.execute("select count(*) from requests").fetchone() == (0,)
    assert read_topic(stack, stack.settings.requests_topic) == []


def test_oversized_bodies_and_payloads_are_413(api: str, stack: Stack) -> None:
    client = stack.client(api)
    huge = client.http.post("/v1/requests", json={"type": "demo.echo", "payload": {"x": "a" * (2 << 20)}})
    assert huge.status_code == 413
    assert huge.json()["error"]["code"] == "payload_too_large"
    big = client.http.post("/v1/requests", json={"type": "demo.echo", "payload": {"x": "a" * (100 << 10)}})
    assert big.status_code == 413
    chunked = client.http.post(
        "/v1/requests",
        content=iter([b'{"type": "demo.echo", "payload": {"x": "', b"a" * (2 << 20), b'"}}']),
        headers={"content-type": "application/json"},
    )
    assert chunked.status_code == 413
    many = client.http.post("/v1/requests/batch", json={"requests": [{"type": "demo.echo", "payload": {}}] * 101})
    assert many.status_code == 413
    with stack.db() as conn:
        assert conn.execute("select count(*) from requests").fetchone() == (0,)


def test_errors_are_json_and_health_answers(api: str) -> None:
    missing = httpx.get(f"{api}/nowhere")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert httpx.get(f"{api}/healthz").json()["status"] == "ok"
    ready = httpx.get(f"{api}/readyz").json()
    assert ready == {"status": "ok", "checks": {"postgres": True, "kafka": True}}
    assert "/v1/requests" in httpx.get(f"{api}/openapi.json").json()["paths"]


def test_metrics_count_requests_by_route_template_not_by_path(api: str, stack: Stack) -> None:
    client = stack.client(api)
    request_id = client.submit("demo.echo", {})["request_id"]
    client.http.get(f"/v1/requests/{request_id}")
    text = httpx.get(f"{api}/metrics").text
    assert 'userq_api_requests_total{method="POST",route="/v1/requests",status="202"} 1.0' in text
    assert 'route="/v1/requests/{request_id}",status="200"' in text
    assert request_id not in text and client.user_id not in text


def test_a_user_over_the_submit_rate_gets_429_with_retry_after(stack: Stack) -> None:
    api = stack.start_api(SUBMIT_RATE_PER_S="0.5", SUBMIT_BURST="3")
    client, other = stack.client(api), stack.client(api)
    assert [
        client.http.post("/v1/requests", json={"type": "demo.echo", "payload": {}}).status_code for _ in range(3)
    ] == [202] * 3
    over = client.http.post("/v1/requests", json={"type": "demo.echo", "payload": {}})
    assert over.status_code == 429
    assert over.json()["error"]["code"] == "rate_limited"
    assert int(over.headers["Retry-After"]) >= 1
    assert other.http.post("/v1/requests", json={"type": "demo.echo", "payload": {}}).status_code == 202
    with stack.db() as conn:
        assert conn.execute("select count(*) from requests").fetchone() == (4,)


def test_a_full_queue_gets_429_and_accepts_nothing(stack: Stack) -> None:
    api = stack.start_api(MAX_PENDING_PER_USER="2")
    client = stack.client(api)
    client.submit("demo.echo", {})
    batch = client.http.post("/v1/requests/batch", json={"requests": [{"type": "demo.echo", "payload": {}}] * 2})
    assert batch.status_code == 429
    assert batch.json()["error"]["code"] == "queue_full"
    client.submit("demo.echo", {})
    assert client.http.post("/v1/requests", json={"type": "demo.echo", "payload": {}}).status_code == 429
