from __future__ import annotations

from stream_worker.offsets import Position
from stream_worker.wakeups import Schedule


def _at(partition: int, offset: int) -> Position:
    return Position("retry", partition, offset)


def test_wakeups_come_out_when_due_earliest_first_whatever_their_offset() -> None:
    schedule: Schedule[str] = Schedule()
    schedule.add(30.0, _at(0, 1), "long backoff")
    schedule.add(1.0, _at(0, 2), "short backoff")  # behind the long one on the same partition
    assert schedule.pop_due(0.5, 10) == []
    assert schedule.pop_due(1.0, 10) == ["short backoff"]
    assert schedule.next_due() == 30.0
    assert schedule.pop_due(31.0, 10) == ["long backoff"]
    assert schedule.next_due() is None


def test_pop_due_respects_the_limit() -> None:
    schedule: Schedule[int] = Schedule()
    for i in range(5):
        schedule.add(float(i), _at(0, i), i)
    assert schedule.pop_due(10.0, 3) == [0, 1, 2]
    assert len(schedule) == 2


def test_dropping_a_partition_forgets_only_its_wakeups() -> None:
    schedule: Schedule[str] = Schedule()
    schedule.add(1.0, _at(0, 1), "p0")
    schedule.add(2.0, _at(1, 1), "p1")
    schedule.drop([("retry", 0)])
    assert schedule.pop_due(5.0, 10) == ["p1"]
