"""`Lanes`: one per user, in order; a tick walks only what has something new; bounds on memory and rows."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from schemas.records import RequestRecord
from stream_worker.inbound import Inbound
from stream_worker.lanes import Lanes
from stream_worker.offsets import Position
from stream_worker.outcomes import Succeeded
from stream_worker.runner import Attempt, Finished

ALICE, BOB = uuid.uuid4(), uuid.uuid4()
_offsets = iter(range(10**6))


def _item(user: uuid.UUID) -> Inbound:
    record = RequestRecord(
        request_id=uuid.uuid4(),
        user_id=user,
        type="demo.echo",
        payload={},
        accepted_at=datetime.now(UTC),
        trace_id="t",
    )
    return Inbound(Position("requests", 0, next(_offsets)), None, None, [], record)


def _attempt(item: Inbound) -> Attempt:
    assert item.record is not None
    return Attempt(item.record.request_id, item.record.user_id, "demo.echo", {}, 1, 0)


def _done(chain: int, item: Inbound, last: bool) -> Finished:
    assert item.record is not None
    return Finished(chain, item.record.request_id, 1, Succeeded({}), 0.0, 0.0, None, last)


def test_a_walk_claims_a_chain_then_waits_for_its_outcomes() -> None:
    lanes = Lanes(chain_max=10, tick_max_rows=100)
    items = [_item(ALICE) for _ in range(3)]
    for item in items:
        lanes.add(ALICE, item)
    [(key, walk, outcomes, unchecked)] = list(lanes.walks())
    assert key == ALICE and walk.items == items and not walk.running and outcomes == {}
    assert unchecked == items  # their rows are read for the first time

    walk.chain = [_attempt(item) for item in items]  # the tick claimed all three
    chain, stop = lanes.settle(ALICE, walk, set(), unchecked)
    assert chain is not None and stop is None and lanes.running == 1
    assert not lanes.dirty()  # nothing to record until an outcome comes

    lanes.finished(_done(chain, items[0], last=False))
    [(_, walk, outcomes, unchecked)] = list(lanes.walks())
    assert walk.running and len(walk.items) == 2 and len(outcomes) == 1 and unchecked == []
    walk.settled = 1
    lanes.settle(ALICE, walk, set(outcomes), [])
    assert len(lanes) == 2 and not lanes.dirty()

    lanes.finished(_done(chain, items[1], last=False))
    lanes.finished(_done(chain, items[2], last=True))
    assert lanes.running == 0
    [(_, walk, outcomes, _)] = list(lanes.walks())
    walk.settled = 2
    lanes.settle(ALICE, walk, set(outcomes), [])
    assert len(lanes) == 0 and not lanes.dirty()


def test_an_outcome_of_a_chain_given_up_is_dropped() -> None:
    lanes = Lanes(chain_max=10, tick_max_rows=100)
    item = _item(ALICE)
    lanes.add(ALICE, item)
    [(_, walk, _, unchecked)] = list(lanes.walks())
    walk.chain = [_attempt(item)]
    chain, _ = lanes.settle(ALICE, walk, set(), unchecked)
    assert chain is not None
    lanes.clear()
    lanes.finished(_done(chain, item, last=True))
    assert not lanes.dirty() and len(lanes) == 0


def test_a_tick_reads_a_bounded_number_of_rows_and_leaves_the_rest_for_the_next() -> None:
    lanes = Lanes(chain_max=5, tick_max_rows=8)
    for user in (ALICE, BOB):
        for _ in range(5):
            lanes.add(user, _item(user))
    walks = list(lanes.walks())
    assert [key for key, *_ in walks] == [ALICE]  # Bob's five would make ten rows
    _, walk, _, unchecked = walks[0]
    walk.settled = 5
    lanes.settle(ALICE, walk, set(), unchecked)
    assert [key for key, *_ in lanes.walks()] == [BOB]


def test_a_chain_whose_next_request_was_settled_without_running_is_stopped() -> None:
    lanes = Lanes(chain_max=10, tick_max_rows=100)
    items = [_item(ALICE) for _ in range(3)]
    for item in items:
        lanes.add(ALICE, item)
    [(_, walk, _, unchecked)] = list(lanes.walks())
    walk.chain = [_attempt(item) for item in items]
    chain, _ = lanes.settle(ALICE, walk, set(), unchecked)
    lanes.finished(_done(chain or 0, items[0], last=False))
    [(_, walk, outcomes, _)] = list(lanes.walks())
    walk.settled = 2  # the first recorded; the second found cancelled by a purge, settled without running
    _, stop = lanes.settle(ALICE, walk, set(outcomes), [])
    assert stop == chain
    ended = Finished(stop or 0, uuid.uuid4(), 1, None, 0.0, 0.0, None, True)  # the runner's end of it
    lanes.finished(ended)
    assert lanes.running == 0


def test_giving_a_chain_up_loses_its_requests_without_a_recorded_outcome() -> None:
    lanes = Lanes(chain_max=10, tick_max_rows=100)
    alice, bob = [_item(ALICE) for _ in range(3)], _item(BOB)
    chains = []
    for item in [*alice, bob]:
        lanes.add(item.record.user_id if item.record else None, item)
    for key, walk, _, unchecked in list(lanes.walks()):
        walk.chain = [_attempt(item) for item in walk.items]
        chain, _ = lanes.settle(key, walk, set(), unchecked)
        chains.append(chain)
    alices, bobs = chains
    assert alices is not None and bobs is not None
    lanes.finished(_done(alices, alice[0], last=False))  # finished, not recorded yet: lost as well
    assert lanes.requests_of({alices}) == {item.record.request_id for item in alice if item.record}
    assert lanes.requests_of({bobs}) == {bob.record.request_id if bob.record else None}
    assert lanes.requests_of(set()) == set()
