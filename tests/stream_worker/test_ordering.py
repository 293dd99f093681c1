from __future__ import annotations

import pytest

from stream_worker.ordering import Position, commit_points, rewind_points


def _batch(*offsets: tuple[int, int]) -> list[Position]:
    return [Position("t", partition, offset) for partition, offset in offsets]


def test_commit_points_are_one_past_each_partitions_last_record() -> None:
    batch = _batch((0, 5), (1, 9), (0, 6), (0, 7), (1, 10))
    assert commit_points(batch) == {("t", 0): 8, ("t", 1): 11}


def test_rewind_points_are_each_partitions_first_record() -> None:
    batch = _batch((0, 5), (1, 9), (0, 6), (1, 10))
    assert rewind_points(batch) == {("t", 0): 5, ("t", 1): 9}


def test_a_batch_out_of_partition_order_is_refused() -> None:
    with pytest.raises(ValueError, match="backwards"):
        commit_points(_batch((0, 5), (0, 3)))


def test_an_empty_batch_commits_nothing() -> None:
    assert commit_points([]) == {}
