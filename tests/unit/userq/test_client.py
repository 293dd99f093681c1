"""userq/client.py: the API's calls: submissions (with Retry-After waited out, batches split to the API's
limit), pages, the queue, the admin's dead letters."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.unit.userq.conftest import PASSWORD
from tests.unit.userq.fake_api import URL, FakeApi, refusal
from userq.client import ApiError, Client, NewRequest


def test_submit_sends_the_request_and_its_idempotency_key(api: FakeApi, client: Client) -> None:
    first = client.submit("ledger.deposit", {"amount": 100}, idempotency_key="deposit-1")
    again = client.submit("ledger.deposit", {"amount": 100}, idempotency_key="deposit-1")
    plain = client.submit("demo.echo")
    assert first["status"] == "queued"
    assert again["request_id"] == first["request_id"]
    assert plain["payload"] == {}
    calls = api.calls_to("POST", "/v1/requests")
    assert [json.loads(c.content) for c in calls] == [
        {"type": "ledger.deposit", "payload": {"amount": 100}},
        {"type": "ledger.deposit", "payload": {"amount": 100}},
        {"type": "demo.echo", "payload": {}},
    ]
    assert [c.headers.get("Idempotency-Key") for c in calls] == ["deposit-1", "deposit-1", None]
    with pytest.raises(ApiError) as unknown:
        client.submit("no.such.type", {})
    assert (unknown.value.status, unknown.value.code) == (422, "unknown_type")


def test_submit_waits_out_a_short_retry_after_and_raises_a_long_one(
    api: FakeApi, client: Client, slept: list[float]
) -> None:
    def limited(seconds: int = 1) -> httpx.Response:
        return refusal(429, "rate_limited", "too many requests", {"Retry-After": str(seconds)})

    api.script("POST", "/v1/requests", limited(), refusal(503, "unavailable", "no broker", {"Retry-After": "2"}))
    assert client.submit("demo.echo", {})["status"] == "queued"
    assert slept == [1.0, 2.0]
    api.script("POST", "/v1/requests/batch", limited())
    client.submit_batch([{"type": "demo.echo"}])
    assert slept == [1.0, 2.0, 1.0]

    api.script("POST", "/v1/requests", *[limited()] * 4)
    with pytest.raises(ApiError) as exhausted:  # submit_retries (3) more tries, then the refusal
        client.submit("demo.echo", {})
    assert (exhausted.value.status, exhausted.value.code, exhausted.value.retry_after) == (429, "rate_limited", 1.0)
    assert slept == [1.0, 2.0, 1.0, 1.0, 1.0, 1.0]

    api.script("POST", "/v1/requests", limited(31))  # longer than max_retry_wait_s (30 s): at once
    with pytest.raises(ApiError):
        client.submit("demo.echo", {})
    api.script("POST", "/v1/requests", refusal(503, "unavailable", "no broker"))  # no Retry-After: at once
    with pytest.raises(ApiError):
        client.submit("demo.echo", {})
    assert len(slept) == 6
    assert len(api.accounts["alice"].requests) == 2  # the refused ones were not accepted


def test_batches_go_in_order_in_chunks_of_batch_size(api: FakeApi, client: Client) -> None:
    client.batch_size = 3
    requests: list[NewRequest] = [{"type": "demo.echo", "payload": {"n": n}} for n in range(7)]
    batches = list(client.submit_batches(iter(requests)))
    assert [len(b) for b in batches] == [3, 3, 1]
    assert [v["payload"] for b in batches for v in b] == [{"n": n} for n in range(7)]
    assert [len(json.loads(c.content)["requests"]) for c in api.calls_to("POST", "/v1/requests/batch")] == [3, 3, 1]
    assert client.submit_batch([]) == []


def test_a_batch_larger_than_the_api_takes_is_split_and_keeps_its_order(client: Client, api: FakeApi) -> None:
    api.max_batch = 4
    client.batch_size = 10
    views = client.submit_batch([{"type": "demo.echo", "payload": {"n": n}} for n in range(11)])
    assert [v["payload"]["n"] for v in views] == list(range(11))
    assert client.batch_size <= 4
    assert [v["request_id"] for v in client.list_requests()] == [v["request_id"] for v in views]
    api.max_batch = 0  # not even one: the refusal comes through
    with pytest.raises(ApiError) as too_large:
        client.submit_batch([{"type": "demo.echo"}])
    assert too_large.value.code == "batch_too_large"


def test_a_refused_batch_stops_the_submission_after_what_was_accepted(api: FakeApi, client: Client) -> None:
    client.batch_size = 2
    requests: list[NewRequest] = [{"type": "demo.echo"}, {"type": "demo.echo"}, {"type": "nope"}, {"type": "demo.echo"}]
    batches = client.submit_batches(requests)
    assert len(next(batches)) == 2
    with pytest.raises(ApiError):
        next(batches)
    assert len(api.accounts["alice"].requests) == 2


def test_get_and_the_pages_of_the_list(api: FakeApi, client: Client) -> None:
    views = client.submit_batch([{"type": "demo.echo", "payload": {"n": n}} for n in range(5)])
    api.finish(views[1]["request_id"], result={"n": 1})
    assert client.get(views[1]["request_id"])["result"] == {"n": 1}
    with pytest.raises(ApiError) as unknown:
        client.get("00000000-0000-0000-0000-000000000000")
    assert (unknown.value.status, unknown.value.code, unknown.value.message) == (404, "not_found", "request not found")

    listed = list(client.list_requests(page_size=2))  # three pages
    assert [v["request_id"] for v in listed] == [v["request_id"] for v in views]
    pages = api.calls_to("GET", "/v1/requests")
    assert [dict(c.url.params) for c in pages] == [
        {"limit": "2"},
        {"limit": "2", "cursor": "2"},
        {"limit": "2", "cursor": "4"},
    ]
    assert [v["request_id"] for v in client.list_requests(status="succeeded")] == [views[1]["request_id"]]
    assert api.calls[-1].url.params["status"] == "succeeded"


def test_the_list_is_fetched_as_it_is_read(api: FakeApi, client: Client) -> None:
    client.submit_batch([{"type": "demo.echo"}] * 5)
    first = next(client.list_requests(page_size=2))
    assert first["sequence"] == 1
    assert len(api.calls_to("GET", "/v1/requests")) == 1


def test_the_queue_pause_resume_and_purge(api: FakeApi, client: Client) -> None:
    assert client.queue()["state"] == "drained"
    assert client.pause()["paused"] is True
    held = client.submit("demo.echo", {})
    assert client.queue()["depth"] == 1
    purged = client.purge()
    assert purged["cancelled"] == [held["request_id"]]
    assert purged["queue"]["depth"] == 0
    assert client.resume()["paused"] is False
    assert [(c.method, c.url.path) for c in api.calls if c.url.path.startswith("/v1/queue")] == [
        ("GET", "/v1/queue"),
        ("POST", "/v1/queue/pause"),
        ("GET", "/v1/queue"),
        ("POST", "/v1/queue/purge"),
        ("POST", "/v1/queue/resume"),
    ]


def test_an_admin_lists_redrives_and_discards_dead_letters(api: FakeApi, client: Client) -> None:
    views = client.submit_batch([{"type": "demo.poison"}, {"type": "demo.echo"}, {"type": "demo.poison"}])
    for view in (views[0], views[2]):
        api.finish(view["request_id"], "dead_lettered", error={"type": "PermanentError"})
    with pytest.raises(ApiError) as refused:
        list(client.dead_letters())
    assert refused.value.status == 403

    api.add_user("root", PASSWORD, admin=True)
    with Client(URL, transport=api.transport) as admin:
        admin.login("root", PASSWORD)
        letters = list(admin.dead_letters(page_size=1))
        assert [d["request_id"] for d in letters] == [views[0]["request_id"], views[2]["request_id"]]
        user_id = letters[0]["user_id"]
        assert list(admin.dead_letters(user_id="someone-else")) == []
        assert len(list(admin.dead_letters(type_="demo.poison", user_id=user_id))) == 2
        assert dict(api.calls[-1].url.params) == {"limit": "100", "user_id": user_id, "type": "demo.poison"}

        assert admin.redrive(views[0]["request_id"])["status"] == "queued"
        assert admin.discard(views[2]["request_id"])["status"] == "cancelled"
        with pytest.raises(ApiError) as gone:
            admin.discard(views[2]["request_id"])
        assert (gone.value.status, gone.value.message) == (404, "dead letter not found")
        api.finish(views[0]["request_id"], "dead_lettered")
        assert [v["request_id"] for v in admin.redrive_user(user_id)] == [views[0]["request_id"]]
    assert api.calls[-1].url.path == f"/v1/admin/users/{user_id}/dead-letters/redrive"
