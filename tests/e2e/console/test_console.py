"""The web console in a real browser (headless Chromium) against the real stack: an API process, a
worker, Kafka and PostgreSQL. What a person does, by the labels and roles a person (or a screen reader)
sees: register, sign in, submit, watch requests change live, pause and resume, sign out; as an operator,
find a dead letter and redrive it back into its user's order."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import httpx
from playwright.sync_api import Page, Request, expect

from harness.stack import PASSWORD, Stack, make_admin
from tests.e2e.console.conftest import Watched, screenshot

LIVE = 30_000  # ms: a request's way through the worker, on a loaded machine


def _sign_in(page: Page, username: str, password: str, button: str = "Sign in") -> None:
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name=button).click()
    expect(page.get_by_text(f"Signed in as {username}")).to_be_visible()


def _submit(page: Page, type_: str, payload: str) -> None:
    form = page.get_by_role("form", name="New request")
    form.get_by_label("Type").select_option(type_)
    form.get_by_label("Payload (JSON)").fill(payload)
    form.get_by_role("button", name="Submit").click()


def test_a_user_registers_submits_watches_requests_change_live_pauses_resumes_and_signs_out(
    stack: Stack, watched: Watched, tmp_path: Path
) -> None:
    api = stack.start_api()
    stack.start_worker(RETRY_BASE_DELAY_S="0.05")
    page = watched.page
    calls: list[Request] = []
    page.on("request", lambda request: calls.append(request))
    page.goto(api)
    username = f"u{uuid.uuid4().hex[:10]}"
    _sign_in(page, username, PASSWORD, button="Register")
    expect(page.get_by_text("Live: updates as they happen")).to_be_visible()
    expect(page.get_by_role("button", name="Operator")).to_be_hidden()  # not an admin

    # paused, a request waits: seen queued first, then succeeded once resumed, from the live stream
    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_text("Queue paused")).to_be_visible()
    expect(page.locator("#queue")).to_contain_text("yes, by you")
    _submit(page, "demo.echo", '{"hello": "console"}')
    first = page.locator("#requests tbody tr").first
    expect(first).to_have_attribute("data-status", "queued")
    expect(page.locator("#queue")).to_contain_text(re.compile(r"Depth\s*1"))
    page.get_by_role("button", name="Resume").click()
    expect(first).to_have_attribute("data-status", "succeeded", timeout=LIVE)
    expect(first).to_contain_text('{"hello":"console"}')  # the result, as the stream carried it
    expect(page.locator("#queue")).to_contain_text(re.compile(r"Depth\s*0"))

    # a payload that is not the type's is refused before it is sent
    posts = len([c for c in calls if c.method == "POST" and c.url.endswith("/v1/requests")])
    _submit(page, "ledger.deposit", '{"amount": "ten"}')
    expect(page.locator("#payload-errors")).to_contain_text("payload.amount: should be integer")
    expect(page.get_by_label("Payload (JSON)")).to_have_attribute("aria-invalid", "true")
    assert len([c for c in calls if c.method == "POST" and c.url.endswith("/v1/requests")]) == posts

    # a retried request and two more waiting behind a pause: the user's live queue
    _submit(page, "demo.flaky", '{"fail_times": 1}')
    expect(page.locator("#requests tbody tr").nth(1)).to_have_attribute("data-status", "succeeded", timeout=LIVE)
    expect(page.locator("#requests tbody tr").nth(1)).to_contain_text('{"attempts":2}')
    page.get_by_role("button", name="Pause").click()
    expect(page.locator("#queue")).to_contain_text("yes, by you")
    _submit(page, "ledger.deposit", '{"amount": 10}')
    _submit(page, "demo.sleep", '{"ms": 100}')
    expect(page.locator("#requests tbody tr[data-status=queued]")).to_have_count(2)
    expect(page.locator("#queue")).to_contain_text(re.compile(r"Depth\s*2"))
    screenshot(page, "console-user.png", tmp_path)
    page.get_by_role("button", name="Resume").click()
    expect(page.locator("#requests tbody tr[data-status=succeeded]")).to_have_count(4, timeout=LIVE)
    # every change came by the stream: the list of requests was read once, at sign-in
    assert len([c for c in calls if c.method == "GET" and "/v1/requests" in c.url]) == 1

    # signing out ends the session at the API, not just in the page
    token = next(
        c.headers["authorization"]
        for c in reversed(calls)
        if c.url.endswith("/v1/queue") and "authorization" in c.headers
    )
    assert httpx.get(f"{api}/v1/queue", headers={"Authorization": token}).status_code == 200
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_text("Signed out.")).to_be_visible()
    assert httpx.get(f"{api}/v1/queue", headers={"Authorization": token}).status_code == 401
    assert watched.problems == []


def test_an_operator_sees_a_dead_letter_and_redrives_it_back_into_the_users_order(
    stack: Stack, watched: Watched, tmp_path: Path
) -> None:
    api = stack.start_api()
    stack.start_worker(DEAD_LETTER_POLICY="halt", MAX_ATTEMPTS="2", RETRY_BASE_DELAY_S="0.05")
    admin, user, other = make_admin(stack, api), stack.client(api), stack.client(api)
    failing = user.submit("demo.flaky", {"fail_times": 2})["request_id"]  # dead-lettered after 2 attempts
    held = [user.submit("ledger.deposit", {"amount": n})["request_id"] for n in (5, 7)]
    poison = other.submit("demo.poison", {})["request_id"]  # another user's dead letter, of another type
    stack.wait_terminal(2, timeout=30, pending=2)  # the dead letters halt their users: the deposits wait

    page = watched.page
    page.goto(api)
    _sign_in(page, admin.username, admin.password)
    page.get_by_role("button", name="Operator").click()
    expect(page.locator("#totals")).to_contain_text(re.compile(r"Held\s*2"))
    expect(page.locator("#queues tbody")).to_contain_text(user.username)

    page.get_by_role("tab", name="Dead letters").click()
    dead = page.locator(f'#dead tbody tr[data-request-id="{failing}"]')
    expect(dead).to_contain_text("demo.flaky")
    expect(dead).to_contain_text("max_attempts")
    expect(dead.locator("td.num")).to_have_text("2")
    expect(page.locator(f'#dead tbody tr[data-request-id="{poison}"]')).to_contain_text("permanent")
    screenshot(page, "console-admin.png", tmp_path)
    page.get_by_role("form", name="Filter dead letters").get_by_label("User id").fill(user.user_id)
    page.get_by_role("button", name="Filter", exact=True).click()
    expect(page.locator("#dead tbody tr")).to_have_count(1)
    expect(page.get_by_role("button", name="Redrive all of this user's")).to_be_visible()

    # the user's queue says why the deposits wait
    dead.get_by_role("button", name=user.user_id[:8]).click()
    expect(page.get_by_role("tab", name="User queue")).to_have_attribute("aria-selected", "true")
    for request_id in held:
        why = page.locator(f'#waiting tbody tr[data-request-id="{request_id}"]')
        expect(why).to_contain_text(f"parked: held behind {failing[:8]} (halted)")

    page.get_by_role("tab", name="Dead letters").click()
    page.locator(f'#dead tbody tr[data-request-id="{failing}"]').get_by_role("button", name="Redrive").click()
    expect(page.get_by_text(f"Dead letter {failing[:8]} redriven")).to_be_visible()
    expect(page.get_by_text("No dead letters.")).to_be_visible()  # of this user: the filter holds
    stack.wait_terminal(3, timeout=30)
    with stack.db() as conn:
        order = conn.execute(
            "select request_id::text from requests where user_id = %s order by processed_seq", (user.user_id,)
        ).fetchall()
    assert [row[0] for row in order] == [failing, *held]  # redriven first, then the rest in their order

    page.get_by_role("tab", name="Consumers").click()
    expect(page.locator("#lag tbody tr")).to_have_count(2 * 4)  # requests and retry topics, 4 partitions
    expect(page.locator("#rates")).to_contain_text(stack.settings.group_id)
    assert watched.problems == []


def test_the_console_works_by_keyboard_on_a_narrow_screen(stack: Stack, watched: Watched, tmp_path: Path) -> None:
    api = stack.start_api()
    user = stack.client(api)
    page = watched.page
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(api)
    expect(page.get_by_label("Username")).to_be_focused()
    page.keyboard.type(user.username)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type(user.password)
    page.keyboard.press("Enter")
    expect(page.get_by_text(f"Signed in as {user.username}")).to_be_visible()
    width = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert width[0] <= width[1], f"the page scrolls sideways on a narrow screen: {width}"
    submit = page.get_by_role("button", name="Submit")
    box = submit.bounding_box()
    assert box is not None and box["x"] + box["width"] <= 360
    page.screenshot(path=str(tmp_path / "console-narrow.png"), full_page=True)  # to look at
    assert watched.problems == []


def test_the_console_refreshes_its_access_token_before_it_expires(stack: Stack, watched: Watched) -> None:
    api = stack.start_api(ACCESS_TOKEN_TTL_S="60")  # the shortest lifetime: refreshed after 48 s
    user = stack.client(api)
    page = watched.page
    page.goto(api)
    _sign_in(page, user.username, user.password)
    with page.expect_response(lambda r: r.url.endswith("/v1/auth/refresh"), timeout=70_000) as refreshed:
        pass
    assert refreshed.value.status == 200
    renewed = refreshed.value.json()["access_token"]
    # the next calls carry the new token
    with page.expect_request(lambda r: r.url.endswith("/v1/queue"), timeout=15_000) as after:
        pass
    assert after.value.headers["authorization"] == f"Bearer {renewed}"
    expect(page.get_by_text(f"Signed in as {user.username}")).to_be_visible()
    assert watched.problems == []
