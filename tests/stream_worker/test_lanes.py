"""`Lanes`: one lane per key, in order; side by side only while a step waits; the first failure wins."""

from __future__ import annotations

import threading
import time

import pytest

from stream_worker.lanes import Lanes

ITEMS = [("a", 1), ("b", 1), ("a", 2), ("c", 1), ("b", 2), ("a", 3)]


def _key(item: tuple[str, int]) -> str:
    return item[0]


class Recorder:
    """Steps that wait in `lanes.waiting()` and record what ran, and how many held the baton at once."""

    def __init__(self, lanes: Lanes, wait_s: float = 0.05, fail_on: tuple[str, int] | None = None) -> None:
        self.lanes, self.wait_s, self.fail_on = lanes, wait_s, fail_on
        self.done: list[tuple[str, int]] = []
        self.holding = self.most_holding = self.waiting = self.most_waiting = 0
        self._lock = threading.Lock()

    def _count(self, name: str, by: int) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + by)
            most = f"most_{name}"
            setattr(self, most, max(getattr(self, most), getattr(self, name)))

    def step(self, item: tuple[str, int]) -> None:
        self._count("holding", 1)
        self._count("holding", -1)
        with self.lanes.waiting():
            self._count("waiting", 1)
            time.sleep(self.wait_s)
            self._count("waiting", -1)
        self._count("holding", 1)
        if item == self.fail_on:
            self._count("holding", -1)
            raise RuntimeError(f"failed on {item}")
        self.done.append(item)
        self._count("holding", -1)


def _per_key(done: list[tuple[str, int]]) -> dict[str, list[int]]:
    lanes: dict[str, list[int]] = {}
    for key, n in done:
        lanes.setdefault(key, []).append(n)
    return lanes


def test_side_by_side_every_key_in_order_and_one_holder_at_a_time() -> None:
    recorder = Recorder(Lanes(4))
    recorder.lanes.run(ITEMS, _key, recorder.step, side_by_side=True)
    assert _per_key(recorder.done) == {"a": [1, 2, 3], "b": [1, 2], "c": [1]}
    assert recorder.most_holding == 1  # the connection is never used by two lanes at once
    assert recorder.most_waiting == 3  # the three keys waited together


@pytest.mark.parametrize(
    ("lanes", "side_by_side"),
    [(Lanes(1), True), (Lanes(4), False)],
    ids=["width-1", "not-asked"],
)
def test_one_at_a_time_in_the_given_order(lanes: Lanes, side_by_side: bool) -> None:
    recorder = Recorder(lanes, wait_s=0.01)
    lanes.run(ITEMS, _key, recorder.step, side_by_side=side_by_side)
    assert recorder.done == ITEMS
    assert recorder.most_waiting == 1


def test_the_width_bounds_how_many_wait_at_once() -> None:
    recorder = Recorder(Lanes(2))
    items = [(str(k), 1) for k in range(6)]
    recorder.lanes.run(items, _key, recorder.step, side_by_side=True)
    assert sorted(recorder.done) == sorted(items)
    assert recorder.most_waiting == 2


def test_the_first_failure_is_raised_and_stops_the_other_lanes() -> None:
    recorder = Recorder(Lanes(4), fail_on=("a", 1))
    with pytest.raises(RuntimeError, match=r"failed on \('a', 1\)"):
        recorder.lanes.run(ITEMS, _key, recorder.step, side_by_side=True)
    assert ("a", 2) not in recorder.done and ("a", 3) not in recorder.done
    assert len(recorder.done) < len(ITEMS) - 1  # the other lanes stopped at their next item
