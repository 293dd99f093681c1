"""`stream_worker.suspects`: a suspect runs alone, after the chains running end, before any other starts."""

from __future__ import annotations

from stream_worker.suspects import Gate


def test_ordinary_chains_start_at_once() -> None:
    gate: Gate[str] = Gate()
    gate.add(1, "a", suspect=False)
    gate.add(2, "b", suspect=False)
    assert gate.next() == ([(1, "a"), (2, "b")], None)
    assert gate.next() == ([], None)


def test_a_suspect_waits_for_the_running_chains_then_runs_alone() -> None:
    gate: Gate[str] = Gate()
    gate.add(1, "a", suspect=False)
    assert gate.next() == ([(1, "a")], None)
    gate.add(2, "suspect", suspect=True)
    gate.add(3, "c", suspect=False)
    assert gate.next() == ([], None), "chain 1 still runs"
    gate.ended(1)
    assert gate.next() == ([], (2, "suspect"))
    assert gate.next() == ([], (2, "suspect")), "not started until its counter is written"
    gate.started(2)
    assert gate.next() == ([], None), "the others wait while it runs"
    gate.ended(2)
    assert gate.next() == ([(3, "c")], None)


def test_suspects_run_one_after_another() -> None:
    gate: Gate[str] = Gate()
    gate.add(1, "s1", suspect=True)
    gate.add(2, "s2", suspect=True)
    assert gate.next() == ([], (1, "s1"))
    gate.started(1)
    gate.ended(1)
    assert gate.next() == ([], (2, "s2"))


def test_clear_forgets_everything() -> None:
    gate: Gate[str] = Gate()
    gate.add(1, "s", suspect=True)
    gate.started(1)
    gate.add(2, "a", suspect=False)
    gate.clear()
    assert gate.next() == ([], None)


def test_the_chains_a_worker_may_release_are_the_ordinary_ones_started_and_not_ended() -> None:
    gate: Gate[str] = Gate()
    gate.add(1, "a", suspect=False)
    gate.next()
    gate.add(2, "suspect", suspect=True)
    gate.add(3, "c", suspect=False)
    assert gate.running() == {1}, "the suspect and chain 3 wait"
    gate.ended(1)
    gate.next()
    gate.started(2)
    assert gate.running() == set(), "a suspect given up stays one: it is not released"
