"""Group commit (`producer_api.services.groups`), with a fake commit: who is grouped with whom, and how
results and failures reach each caller."""

from __future__ import annotations

import asyncio

import pytest

from producer_api.services.groups import Full, GroupCommit


class Recorder:
    """A commit that records its groups and is released by the test."""

    def __init__(self, fail: bool = False) -> None:
        self.groups: list[list[int]] = []
        self.release = asyncio.Event()
        self.fail = fail

    async def __call__(self, items: list[int]) -> list[int]:
        self.groups.append(items)
        await self.release.wait()
        if self.fail:
            raise RuntimeError("broker away")
        return [item * 10 for item in items]


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_arrivals_during_a_commit_form_the_next_group_and_each_caller_gets_its_own_results() -> None:
    async def scenario() -> None:
        commit = Recorder()
        groups = GroupCommit(commit, max_items=100, in_flight=1, max_waiting=100)
        first = asyncio.ensure_future(groups.run([1]))
        await _settle()
        later = [asyncio.ensure_future(groups.run(items)) for items in ([2, 3], [4], [5, 6])]
        await _settle()
        assert commit.groups == [[1]], "the later ones wait while a group is in flight"
        commit.release.set()
        assert await first == [10]
        assert [await f for f in later] == [[20, 30], [40], [50, 60]]
        assert commit.groups == [[1], [2, 3, 4, 5, 6]]

    asyncio.run(scenario())


def test_a_group_holds_at_most_max_items_and_never_splits_a_caller() -> None:
    async def scenario() -> None:
        commit = Recorder()
        commit.release.set()
        groups = GroupCommit(commit, max_items=3, in_flight=1, max_waiting=100)
        calls = [asyncio.ensure_future(groups.run(items)) for items in ([1], [2, 3], [4, 5], [6, 7, 8, 9])]
        results = await asyncio.gather(*calls)
        assert results == [[10], [20, 30], [40, 50], [60, 70, 80, 90]]
        assert commit.groups == [[1], [2, 3], [4, 5], [6, 7, 8, 9]]

    asyncio.run(scenario())


def test_groups_run_side_by_side_up_to_in_flight() -> None:
    async def scenario() -> None:
        commit = Recorder()
        groups = GroupCommit(commit, max_items=100, in_flight=2, max_waiting=100)
        calls = [asyncio.ensure_future(groups.run([n])) for n in range(4)]
        await _settle()
        assert commit.groups == [[0], [1]], "two in flight; the rest wait together"
        commit.release.set()
        assert await asyncio.gather(*calls) == [[0], [10], [20], [30]]
        assert commit.groups == [[0], [1], [2, 3]]

    asyncio.run(scenario())


def test_a_failed_group_fails_every_caller_in_it_and_the_next_group_still_runs() -> None:
    async def scenario() -> None:
        commit = Recorder(fail=True)
        groups = GroupCommit(commit, max_items=100, in_flight=1, max_waiting=100)
        first = asyncio.ensure_future(groups.run([1]))
        await _settle()
        second, third = asyncio.ensure_future(groups.run([2])), asyncio.ensure_future(groups.run([3]))
        await _settle()
        commit.release.set()
        with pytest.raises(RuntimeError, match="broker away"):
            await first
        commit.fail = False
        assert await second == [20]
        assert await third == [30]

    asyncio.run(scenario())


def test_more_waiting_items_than_allowed_are_refused_at_once_and_memory_stays_bounded() -> None:
    async def scenario() -> None:
        commit = Recorder()
        groups = GroupCommit(commit, max_items=2, in_flight=1, max_waiting=3)
        running = asyncio.ensure_future(groups.run([1, 2]))  # the broker is slow: this group hangs
        await _settle()
        waiting = [asyncio.ensure_future(groups.run([n])) for n in (3, 4, 5)]
        await _settle()
        with pytest.raises(Full):  # at once: not after the hanging group
            await asyncio.wait_for(groups.run([6]), 1)
        commit.release.set()
        assert await running == [10, 20]
        assert [await w for w in waiting] == [[30], [40], [50]]

    asyncio.run(scenario())


def test_a_caller_that_goes_away_before_its_group_starts_leaves_nothing_to_commit() -> None:
    async def scenario() -> None:
        commit = Recorder()
        groups = GroupCommit(commit, max_items=100, in_flight=1, max_waiting=100)
        running = asyncio.ensure_future(groups.run([1]))
        await _settle()
        gone = asyncio.ensure_future(groups.run([2]))  # its client times out while the first group hangs
        stays = asyncio.ensure_future(groups.run([3]))
        await _settle()
        gone.cancel()
        await _settle()
        commit.release.set()
        await running
        assert await stays == [30]
        assert commit.groups == [[1], [3]], "the gone caller's item was committed after it had been answered"

    asyncio.run(scenario())
