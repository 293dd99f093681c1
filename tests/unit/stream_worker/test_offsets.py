from __future__ import annotations

from stream_worker.offsets import OffsetTracker, Position, rewind_points

T0, T1 = ("t", 0), ("t", 1)


def _read(tracker: OffsetTracker, *offsets: tuple[int, int]) -> list[Position]:
    positions = [Position("t", partition, offset) for partition, offset in offsets]
    for position in positions:
        tracker.read(position)
    return positions


def test_when_all_is_done_the_commit_point_is_one_past_the_last_record() -> None:
    tracker = OffsetTracker()
    for position in _read(tracker, (0, 5), (1, 9), (0, 6), (0, 7), (1, 10)):
        tracker.done(position)
    assert tracker.commit_points([T0, T1]) == {T0: 8, T1: 11}


def test_the_commit_point_never_passes_an_unfinished_record() -> None:
    tracker = OffsetTracker()
    first, second, third = _read(tracker, (0, 5), (0, 6), (0, 7))
    tracker.done(first)
    tracker.done(third)  # finished out of order, as a wake-up due sooner would be
    assert tracker.commit_points([T0]) == {T0: 6}
    tracker.done(second)
    assert tracker.commit_points([T0]) == {T0: 8}


def test_unknown_and_forgotten_partitions_have_no_commit_point() -> None:
    tracker = OffsetTracker()
    _read(tracker, (0, 1))
    tracker.forget([T0])
    assert tracker.commit_points([T0, T1]) == {}


def test_rewind_points_are_each_partitions_first_record() -> None:
    batch = [Position("t", 0, 6), Position("t", 1, 9), Position("t", 0, 5), Position("t", 1, 10)]
    assert rewind_points(batch) == {T0: 5, T1: 9}
