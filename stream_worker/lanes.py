"""The worker's lanes (pure, no I/O): one per user with records in hand, oldest first.

A record joins its user's lane when it is read and leaves it once a tick has settled it (its offset may
then be committed). A lane is *dirty* when something new is there for a tick to record: a record that
arrived, an outcome that finished, a chain that ended. While a chain of a lane is with the runner the
tick claims nothing new for it; what the chain finishes is recorded as it comes.

Bounds: a chain takes `chain_max` records of a lane at most; a tick reads `tick_max_rows` rows at most;
the records in all lanes are bounded by the consumer (MAX_IN_FLIGHT_RECORDS: reading pauses above it).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field
from uuid import UUID

from stream_worker.decisions import Walk
from stream_worker.inbound import Inbound
from stream_worker.offsets import Position
from stream_worker.runner import Finished

LaneKey = Hashable  # a user's id; unreadable records share a lane of their own (None)
OutcomeKey = tuple[UUID, int]  # (request_id, attempt)


@dataclass
class Lane:
    items: list[Inbound] = field(default_factory=list)
    outcomes: dict[OutcomeKey, Finished] = field(default_factory=dict)  # finished, not recorded yet
    chain: int | None = None  # the chain with the runner
    members: set[UUID] = field(default_factory=set)  # its requests that have not finished yet
    checked: set[Position] = field(default_factory=set)  # items whose rows a tick has read


class Lanes:
    def __init__(self, chain_max: int, tick_max_rows: int) -> None:
        self._chain_max = chain_max
        self._tick_max_rows = tick_max_rows
        self._lanes: dict[LaneKey, Lane] = {}
        self._dirty: dict[LaneKey, None] = {}  # the lanes a tick should walk, oldest first
        self._chains: dict[int, LaneKey] = {}
        self._next_chain = 0
        self._records = 0

    def __len__(self) -> int:
        """Records in all lanes."""
        return self._records

    @property
    def running(self) -> int:
        """Chains with the runner."""
        return len(self._chains)

    def dirty(self) -> bool:
        return bool(self._dirty)

    def add(self, key: LaneKey, item: Inbound) -> None:
        lane = self._lanes.setdefault(key, Lane())
        lane.items.append(item)
        self._dirty[key] = None
        self._records += 1

    def finished(self, done: Finished) -> None:
        """An outcome from the runner; one of a chain that is no longer ours is dropped."""
        key = self._chains.get(done.chain)
        if key is None:
            return
        lane = self._lanes[key]
        lane.members.discard(done.request_id)
        if done.outcome is not None:
            lane.outcomes[(done.request_id, done.attempt)] = done
        self._dirty[key] = None
        if done.last:
            del self._chains[done.chain]
            lane.chain = None
            lane.members.clear()

    def walks(self) -> Iterator[tuple[LaneKey, Walk, dict[OutcomeKey, Finished], list[Inbound]]]:
        """The dirty lanes for one tick, each as a walk of its head, with its outcomes and the items whose
        rows are read for the first time; `tick_max_rows` rows in all at most (at least one lane)."""
        rows = 0
        for key in self._dirty:
            lane = self._lanes[key]
            running = lane.chain is not None
            head = len(lane.outcomes) + 1 + (0 if running else self._chain_max)
            walk = Walk(lane.items[:head], running, lane.checked)
            read = walk.items
            if rows and rows + len(read) > self._tick_max_rows:
                return
            rows += len(read)
            unchecked = [item for item in read if item.position not in lane.checked]
            yield key, walk, lane.outcomes, unchecked

    def settle(
        self, key: LaneKey, walk: Walk, used: set[OutcomeKey], checked: list[Inbound]
    ) -> tuple[int | None, int | None]:
        """What a committed tick made of a lane: its settled items leave, its recorded outcomes are gone.
        Returns the id of the chain the walk claimed (to start), and of the running chain to stop: one
        whose next requests the walk settled without an outcome (cancelled, or parked by a pause)."""
        lane = self._lanes[key]
        lane.checked.update(item.position for item in checked)
        gone = lane.items[: walk.settled]
        lane.items = lane.items[walk.settled :]
        self._records -= len(gone)
        lane.checked -= {item.position for item in gone}
        recorded = used & lane.outcomes.keys()
        for outcome in recorded:
            del lane.outcomes[outcome]
        stop = None
        if lane.chain is not None and lane.members:
            ran = {request_id for request_id, _ in recorded}
            skipped = {item.record.request_id for item in gone if item.record} - ran
            stop = lane.chain if skipped & lane.members else None
        # walked up to where it must wait; dirty again only when the walk stopped at the bound of its head
        if not (walk.settled == len(walk.items) and lane.items and not walk.chain):
            self._dirty.pop(key, None)
        chain = None
        if walk.chain:
            chain = self._next_chain
            self._next_chain += 1
            lane.chain = chain
            lane.members = {attempt.request_id for attempt in walk.chain}
            self._chains[chain] = key
        if not lane.items and lane.chain is None:
            del self._lanes[key]
        return chain, stop

    def requests_of(self, chains: set[int]) -> set[UUID]:
        """The requests of these chains that have no outcome recorded yet: what giving them up loses."""
        return {
            request_id
            for chain, key in self._chains.items()
            if chain in chains
            for request_id in self._lanes[key].members | {request_id for request_id, _ in self._lanes[key].outcomes}
        }

    def clear(self) -> None:
        """Forget every lane and chain (the partitions are read again from their commit points)."""
        self._lanes.clear()
        self._dirty.clear()
        self._chains.clear()
        self._records = 0
