"""Records outcomes: one short transaction (a *tick*) for whatever the worker's users have to show.

Handlers never run here (they run in `stream_worker.runner`, outside any transaction). A tick checks its
partitions' epochs (`fencing`), locks its users' queue rows and its requests' rows (`store`), lets
`stream_worker.decisions` walk each lane on those rows, and writes back what changed in a few set-based
statements, the outbox rows and the request log, then commits: a handful of round trips, whatever its
size. A type's database step runs in a savepoint of the tick, with the handler's result: its writes
commit with the request's terminal state, once, however often the handler ran.

The caller commits offsets only after the tick committed and the outgoing records it returned are
delivered. Replaying a record is harmless: a terminal request is not run again, only announced again; a
stale wake-up finds nothing to do; a request claimed by a worker that died runs again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import psycopg
from psycopg.pq import TransactionStatus

from request_types.errors import PermanentError
from request_types.registry import RecordContext, Registry, RequestType
from schemas.lifecycle import Event, Queue, RequestRow, Status
from store import dormant, outbox, request_log, requests
from store import queues as queue_rows
from store.requests import Accepted
from stream_worker import fencing
from stream_worker.clock import Clock
from stream_worker.db_failures import DatabaseFailure, classify
from stream_worker.decisions import Decisions, Walk
from stream_worker.offsets import TopicPartitionKey
from stream_worker.outcomes import Outcome, Succeeded, decide, recordable
from stream_worker.outgoing import Topics
from stream_worker.recorder import Effects, Policies
from stream_worker.runner import Finished

# Our own infrastructure failing: the tick is rolled back and run again, nothing is dead-lettered. A type's
# database step is judged finer (`db_failures.classify`): a statement refused in a healthy connection is
# its request's outcome, never a reason to run the tick again.
INFRASTRUCTURE_ERRORS = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    psycopg.errors.IdleInTransactionSessionTimeout,  # the tick outlived DB_IDLE_IN_TRANSACTION_TIMEOUT_S
)


@dataclass
class Processed(Effects):
    outbox_ids: list[int] = field(default_factory=list)  # the outgoing records' rows, deleted once delivered


class Processor:
    def __init__(self, registry: Registry, policies: Policies, topics: Topics, actor: str) -> None:
        self.registry = registry
        self.policies = policies
        self.topics = topics
        self.actor = actor  # who made the transitions, in the request log: the worker's id

    def tick(
        self,
        conn: requests.Conn,
        walks: list[Walk],
        outcomes: Mapping[tuple[UUID, int], Finished],
        epochs: dict[TopicPartitionKey, int],
        clock: Clock,
        unchecked: list[Accepted],
    ) -> Processed:
        """Walk these lanes with the outcomes that finished, in one transaction; what to publish and defer.

        `unchecked`: records of the requests topic met for the first time: their rows are written from
        them where the API has not written them yet (`requests.ensure`).
        """
        with conn.transaction():
            if epochs:
                fencing.check_epochs(conn, epochs)
            written = requests.ensure(conn, unchecked) if unchecked else set()
            records = [item.record for walk in walks for item in walk.items if item.record]
            queues = queue_rows.lock(conn, [r.user_id for r in records])
            earlier = outbox.pending(conn, list(queues))  # a dead worker's: they go out first
            rows = requests.lock(conn, [r.request_id for r in records])
            db = _Transaction(conn, self.policies)
            decisions = Decisions(self.registry, self.policies, self.topics, db, queues, rows, clock, outcomes)
            for walk in walks:
                decisions.walk(walk)
            db.write(*decisions.changes())
            effects = decisions.effects
            dormant.keep(conn, effects.dormant)
            effects.events[:0] = _queued(unchecked, written)  # before what became of them
            ids = [*earlier.ids, *outbox.add(conn, effects.outgoing)]
            request_log.record(conn, effects.events, self.actor)
        processed = Processed(**vars(effects), outbox_ids=ids)
        processed.outgoing = [*earlier.records, *effects.outgoing]
        return processed


class _Transaction:
    """The `decisions.Database` of a tick: its transaction."""

    def __init__(self, conn: requests.Conn, policies: Policies) -> None:
        self.conn = conn
        self.policies = policies

    def write(self, rows: list[RequestRow], queues: list[Queue]) -> None:
        requests.write(self.conn, rows, queues)

    def parked(self, user_id: UUID, limit: int) -> list[RequestRow]:
        return requests.parked(self.conn, user_id, limit)

    def record(
        self, row: RequestRow, request_type: RequestType[Any], attempt: int, payload: Any, result: dict[str, Any]
    ) -> Outcome:
        """Run the step in a savepoint: a failed step leaves no effect behind, and is the attempt's outcome."""
        assert request_type.record is not None
        context = RecordContext(row.request_id, row.user_id, attempt, self.conn)
        policy = self.policies.retry.for_type(request_type.max_attempts)
        try:
            with self.conn.transaction():
                final = recordable(request_type.record(context, payload, result), self.policies.max_result_bytes)
                if self.conn.info.transaction_status is TransactionStatus.INERROR:
                    raise StepLeftTransactionAborted(_ABORTED)  # rolled back to the savepoint on the way out
        except psycopg.Error as exc:
            failure = classify(exc.sqlstate, self.conn.closed or self.conn.broken)
            if failure.rerun:
                raise  # our own connection failed, or the tick lost a race: the tick runs again
            transient = failure is DatabaseFailure.TRANSIENT
            return decide(exc, attempt - row.attempts_before_redrive, policy, transient=transient)
        except Exception as exc:  # the step's failure, whatever it is, is an outcome
            return decide(exc, attempt - row.attempts_before_redrive, policy)
        return Succeeded(final)


class StepLeftTransactionAborted(PermanentError):
    """A database step returned normally after one of its statements failed (it caught the error)."""


_ABORTED = (
    "the database step returned after a statement of it failed; catch nothing from ctx.db, or roll back to a savepoint"
)


def _queued(accepted: list[Accepted], written: set[UUID]) -> list[Event]:
    """The request log's `queued` entries of the rows this tick wrote from their records (once each)."""
    out: dict[UUID, Event] = {}
    for a in accepted:
        r = a.record
        if r.request_id in written and r.request_id not in out:
            out[r.request_id] = Event(r.user_id, r.request_id, Status.QUEUED, 0, r.accepted_at)
    return list(out.values())
