"""What the web console reads that no other route gave: its own files (with headers that let them run
nothing else), the request types and their schemas, a user's waiting requests for an operator, and the
workers' consumer lag. Against a real API process (PostgreSQL and Kafka, no worker)."""

from __future__ import annotations

import httpx

from harness.stack import Stack, make_admin


def test_the_console_is_served_at_the_root_with_a_strict_content_security_policy(module_api: str) -> None:
    page = httpx.get(f"{module_api}/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/console/app.js">' in page.text
    for response in (page, httpx.get(f"{module_api}/console/app.js"), httpx.get(f"{module_api}/console/style.css")):
        assert response.status_code == 200, response.url
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert "unsafe-eval" not in policy
        assert "frame-ancestors 'none'" in policy
        assert response.headers["x-content-type-options"] == "nosniff"
    assert httpx.get(f"{module_api}/console/app.js").headers["content-type"].startswith("text/javascript")


def test_a_missing_console_file_is_the_usual_404_body(module_api: str) -> None:
    response = httpx.get(f"{module_api}/console/nothing.js")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_the_types_route_lists_every_registered_type_with_its_payload_schema(
    module_api: str, module_stack: Stack
) -> None:
    assert httpx.get(f"{module_api}/v1/types").status_code == 401
    listed = module_stack.client(module_api).http.get("/v1/types").json()["types"]
    names = [t["type"] for t in listed]
    assert names == sorted(names)
    assert {"demo.echo", "demo.flaky", "ledger.deposit"} <= set(names)
    by_name = {t["type"]: t for t in listed}
    assert by_name["ledger.deposit"]["payload_schema"]["properties"]["amount"]["type"] == "integer"
    assert by_name["ledger.deposit"]["payload_required"] is True
    assert by_name["demo.echo"]["payload_required"] is False


def test_an_operator_reads_a_users_waiting_requests_in_queue_order(module_api: str, module_stack: Stack) -> None:
    admin, user, other = (
        make_admin(module_stack, module_api),
        module_stack.client(module_api),
        module_stack.client(module_api),
    )
    user.http.post("/v1/queue/pause")
    ids = [user.submit("demo.echo", {"n": n})["request_id"] for n in range(3)]
    other.submit("demo.echo", {})
    response = admin.http.get(f"/v1/admin/queues/{user.user_id}/requests", params={"limit": 2})
    assert response.status_code == 200
    page = response.json()
    assert [r["request_id"] for r in page["requests"]] == ids[:2]
    assert page["queue"]["paused"] is True
    assert page["queue"]["depth"] == 3
    assert page["held_by"] is None
    assert all(r["status"] == "queued" and r["parked"] is False for r in page["requests"])  # no worker parked them
    rest = admin.http.get(f"/v1/admin/queues/{user.user_id}/requests", params={"cursor": page["next_cursor"]}).json()
    assert [r["request_id"] for r in rest["requests"]] == ids[2:]
    assert rest["next_cursor"] is None


def test_the_consumer_lag_is_read_from_the_broker_per_partition(module_api: str, module_stack: Stack) -> None:
    admin, user = make_admin(module_stack, module_api), module_stack.client(module_api)
    before = admin.http.get("/v1/admin/consumers").json()
    user.submit("demo.echo", {})
    user.submit("demo.echo", {})
    after = admin.http.get("/v1/admin/consumers").json()
    settings = module_stack.settings
    assert after["group"] == settings.group_id
    topics = {settings.requests_topic, settings.retry_topic}
    assert {(p["topic"], p["partition"]) for p in after["partitions"]} == {(t, n) for t in topics for n in range(4)}
    written = {p["topic"]: 0 for p in after["partitions"]}
    for old, new in zip(before["partitions"], after["partitions"], strict=True):
        written[new["topic"]] += new["end_offset"] - old["end_offset"]
        assert new["lag"] == new["end_offset"] - new["committed"]  # no worker: nothing committed
    assert written == {settings.requests_topic: 2, settings.retry_topic: 0}
    assert after["grafana_url"] is None
    assert after["kafka_ui_url"] is None
