"""The consumer loop: read records into lanes, record what the handlers did, commit offsets behind it.

The loop never waits on a handler. Records join their user's lane (`stream_worker.lanes`); a *tick*
(`Processor.tick`, one short PostgreSQL transaction) walks the lanes with something new, records the
outcomes that finished and claims what runs next; after its commit the runner (`stream_worker.runner`)
gets the claimed chains, and the loop goes on reading. Checkpoint order (never another): PostgreSQL
commit → outgoing records delivered → offsets committed synchronously. A partition's commit point is its
oldest record not settled yet, so it never passes a request whose outcome is not recorded, however long
a handler takes; a user with a slow handler keeps only its own lane waiting.

The worker reads the requests topic and the retry topic in one group. Wake-ups from the retry topic wait
in memory until due (`wakeups.Schedule`); their partition's commit point stays at the oldest one not done.

When PostgreSQL fails mid-tick the tick is rolled back and run again after a pause, with the outcomes
the handlers came to kept in memory. A commit refused because the group is rebalancing is kept pending:
the outcomes are recorded, so the offsets are committed after the rebalance (or in the revoke callback,
before the partition moves). On a revoke, what finished is recorded first; the chains still running are
given up and everything still in hand is read again from the commit points (their requests run again).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from typing import Any
from uuid import UUID

import psycopg
import structlog
from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from schemas.records import Outgoing
from store.requests import Accepted, count_claim, release
from stream_worker import fencing, metrics
from stream_worker.commits import Commits
from stream_worker.connection import Connection
from stream_worker.inbound import Inbound, read
from stream_worker.lanes import Lanes
from stream_worker.offsets import OffsetTracker, Position, TopicPartitionKey, source
from stream_worker.processor import INFRASTRUCTURE_ERRORS, Processor
from stream_worker.publisher import DeliveryFailed, Publisher
from stream_worker.runner import Attempt, Runner
from stream_worker.settings import WorkerSettings
from stream_worker.suspects import Gate
from stream_worker.wakeups import Schedule

log = structlog.get_logger(__name__)

# A wake-up that PostgreSQL says is early waits at least this long (clocks of two machines may differ).
_MIN_DEFER_S = 0.05
# While chains run and nothing else is to do, the loop looks for finished outcomes this often.
_OUTCOME_POLL_S = 0.002


class Worker:
    def __init__(self, settings: WorkerSettings, processor: Processor, runner: Runner) -> None:
        self._settings = settings
        self._processor = processor
        self._runner = runner
        self._stopping = threading.Event()
        self._tracker = OffsetTracker()
        self._schedule: Schedule[Inbound] = Schedule()
        self._lanes = Lanes(settings.chain_max_records, settings.tick_max_rows)
        self._gate: Gate[list[Attempt]] = Gate()  # claimed chains to start; a suspect runs alone
        self._epochs: dict[TopicPartitionKey, int] = {}  # partitions we own in partition_owners
        self._paused = False
        self._read_again_needed = False
        self._db_commits = 0
        self._next_sweep = 0.0
        self._consumer = Consumer(
            {
                "bootstrap.servers": settings.kafka_bootstrap_servers,
                "group.id": settings.group_id,
                "client.id": settings.worker_id,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                "partition.assignment.strategy": "cooperative-sticky",
                "session.timeout.ms": settings.session_timeout_ms,
                "heartbeat.interval.ms": min(3000, settings.session_timeout_ms // 3),
                "max.poll.interval.ms": settings.max_poll_interval_ms,
                "statistics.interval.ms": int(settings.lag_interval_s * 1000),
                "stats_cb": lambda report: metrics.record_lag(report, self._assigned()),
            }
        )
        self._commits = Commits(self._consumer)
        self._db = Connection(settings)
        self._publisher = Publisher(settings)

    def stop(self) -> None:
        """Ask the loop to stop reading, finish what it has in hand (within SHUTDOWN_GRACE_S), commit it
        and leave the group."""
        self._stopping.set()

    def run(self) -> None:
        topics = [self._settings.requests_topic, self._settings.retry_topic]
        self._consumer.subscribe(topics, on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost)
        log.info("worker started", group=self._settings.group_id, topics=topics)
        try:
            while not self._stopping.is_set():
                self._step()
            self._finish()
        finally:
            self._consumer.close()  # leaves the group: partitions move at once, not after a timeout
            self._publisher.close()
            self._db.drop()
            self._runner.close()
            log.info("worker stopped")

    def _step(self) -> None:
        """One turn of the loop: read, collect outcomes, tick when there is something to record."""
        messages = self._poll()
        if self._read_again_needed:
            self._read_again()
            messages = []  # the seek goes back to before them: they come again
        self._commits.commit()
        self._admit(messages)
        self._record_finished()
        self._start_chains()
        self._flow_control()
        self._sweep_outbox()

    def _record_finished(self) -> None:
        """Take what the handlers finished into the lanes, and tick when any lane has something new."""
        for done in self._runner.take():
            self._lanes.finished(done)
            if done.last:
                self._gate.ended(done.chain)
        if self._lanes.dirty():
            self._tick()

    def _finish(self) -> None:
        """SIGTERM: read nothing more; record what the lanes hold until they are empty or time is up."""
        self._consumer.pause(self._consumer.assignment())
        deadline = time.monotonic() + self._settings.shutdown_grace_s
        while (len(self._lanes) or self._lanes.running) and time.monotonic() < deadline:
            self._step()
        if len(self._lanes):
            log.warning("stopping with records in hand; the next owner reads them again", records=len(self._lanes))

    def _poll(self) -> list[Message]:
        """Wait for the first record (not at all when a tick is due), then take what else is already
        fetched, BATCH_MAX_RECORDS at a time, while the lanes have room: a tick records what all of it
        brought, without waiting for batches to fill."""
        first = self._consumer.poll(self._poll_timeout())
        if first is None:
            return []
        messages = [first]
        room = self._settings.max_in_flight_records - len(self._lanes)
        while len(messages) < room:
            more = self._consumer.consume(min(self._settings.batch_max_records, room - len(messages)), 0)
            messages += more
            if len(more) < self._settings.batch_max_records:
                break
        return messages

    def _poll_timeout(self) -> float:
        if self._lanes.dirty() or self._runner.has_finished():
            return 0.0
        wait = _OUTCOME_POLL_S if self._lanes.running else self._settings.poll_timeout_s
        due = self._schedule.next_due()
        return wait if due is None else min(wait, max(0.0, due - time.time()))

    def _admit(self, messages: list[Message]) -> None:
        """New records into their users' lanes (wake-ups not due yet into the schedule, unless they are due
        beyond the horizon: the tick keeps those in PostgreSQL), then the wake-ups whose time has come."""
        now = time.time()
        horizon = now + self._settings.wakeup_horizon_s
        assigned = self._assigned() if messages else set()
        for message in messages:
            if not self._is_record(message):
                continue
            item = self._inbound(message)
            if item.position.key not in assigned:
                continue  # revoked by a rebalance inside this poll: its new owner reads it
            self._tracker.read(item.position)
            if item.wakeup is not None and now < item.wakeup.due_at.timestamp() <= horizon:
                self._schedule.add(item.wakeup.due_at.timestamp(), item.position, item)
            else:
                self._lanes.add(_lane_of(item), item)
        for item in self._schedule.pop_due(now, self._settings.batch_max_records):
            self._lanes.add(_lane_of(item), item)

    def _tick(self) -> None:
        """Record what the dirty lanes have to show in one transaction; then deliver, start the chains it
        claimed and commit the offsets it settled."""
        walks = list(self._lanes.walks())
        partitions = {item.position.key for _, walk, _, _ in walks for item in walk.items}
        outcomes = {key: done for _, _, lane_outcomes, _ in walks for key, done in lane_outcomes.items()}
        unchecked = [item for _, _, _, fresh in walks for item in fresh]
        try:
            conn = self._db.get()
            self._claim(conn, partitions)
            with metrics.BATCH_SECONDS.time():
                processed = self._processor.tick(
                    conn,
                    [walk for _, walk, _, _ in walks],
                    outcomes,
                    {key: self._epochs[key] for key in partitions},
                    self._db.clock,
                    [
                        Accepted(item.record, item.position.partition, item.position.offset)
                        for item in unchecked
                        if item.record and item.wakeup is None
                    ],
                )
        except fencing.Fenced as exc:
            metrics.BATCH_FAILURES.labels("fenced").inc()
            log.warning("fenced: another worker took these partitions over; nothing written", error=str(exc))
            self._read_again_needed = True
            return
        except INFRASTRUCTURE_ERRORS as exc:
            metrics.BATCH_FAILURES.labels(type(exc).__name__).inc()
            log.warning("recording failed, will try again", error=str(exc), lanes=len(walks))
            self._db.drop()
            self._stopping.wait(self._settings.infra_backoff_s)
            return
        if processed.used:
            self._after_db_commit()
        self._publish(conn, processed.outgoing, processed.outbox_ids)
        used = set(processed.used)
        deferred = {item.position: due for item, due in processed.deferred}
        settled: list[Inbound] = []
        for key, walk, _, fresh in walks:
            settled += walk.items[: walk.settled]
            chain, stop = self._lanes.settle(key, walk, used, fresh)
            if chain is not None:
                self._gate.add(chain, walk.chain, walk.suspect)
            if stop is not None:
                self._runner.stop(stop)
        self._start_chains()
        for item in settled:
            due = deferred.get(item.position)
            if due is None:
                self._tracker.done(item.position)
            else:
                self._schedule.add(max(due.timestamp(), time.time() + _MIN_DEFER_S), item.position, item)
        metrics.record(processed)
        metrics.batch_done(settled)
        self._commits.add(self._tracker.commit_points(partitions))
        with metrics.COMMIT_SECONDS.time():
            self._commits.commit()

    def _start_chains(self) -> None:
        """Start the claimed chains the gate lets go: the ordinary ones at once, a suspect alone, after its
        crash counter is committed (`stream_worker.suspects`)."""
        ready, suspect = self._gate.next()
        self._runner.submit(ready)
        if suspect is None:
            return
        chain_id, attempts = suspect
        try:
            count_claim(self._db.get(), attempts[0].request_id)
        except INFRASTRUCTURE_ERRORS as exc:
            log.warning("counting a suspect's run failed, will try again", error=str(exc))
            self._db.drop()
            return
        log.warning("running alone a request whose worker died while it ran", request_id=str(attempts[0].request_id))
        self._gate.started(chain_id)
        self._runner.submit([suspect])

    def _publish(self, conn: psycopg.Connection[Any], outgoing: list[Outgoing], outbox_ids: list[int]) -> None:
        """Deliver what a tick wrote to the outbox and delete its rows; when the broker fails, the rows
        stay: the user's next tick, or the sweep, publishes them (before anything newer of that user)."""
        try:
            self._publisher.publish(conn, outgoing, outbox_ids)
        except (*INFRASTRUCTURE_ERRORS, KafkaException, DeliveryFailed) as exc:
            metrics.BATCH_FAILURES.labels(type(exc).__name__).inc()
            log.warning("publishing failed; the outbox keeps the records", error=str(exc), records=len(outgoing))
            self._stopping.wait(self._settings.infra_backoff_s)

    def _sweep_outbox(self) -> None:
        """Now and then, publish what dead workers left in the outbox for users nobody touches since, and
        the wake-ups of retries kept in PostgreSQL whose time comes within the horizon."""
        now = time.monotonic()
        if now < self._next_sweep:
            return
        self._next_sweep = now + self._settings.outbox_sweep_interval_s
        try:
            self._publisher.sweep(self._db.get())
            self._publisher.rearm(self._db.get())
        except (*INFRASTRUCTURE_ERRORS, KafkaException, DeliveryFailed) as exc:
            log.warning("outbox sweep failed; will try again", error=str(exc))
            self._db.drop()

    def _read_again(self) -> None:
        """Drop all we hold (lanes, chains, wake-ups) and read every partition we still own again from its
        commit point (the oldest record not settled): after a fence or a revoke, nothing is half-known."""
        self._read_again_needed = False
        self._runner.cancel_all()
        self._lanes.clear()
        self._gate.clear()
        self._commits.commit()
        assigned = self._assigned()
        points = self._tracker.commit_points(assigned)
        self._forget(set(self._epochs) | assigned)
        for (topic, partition), offset in points.items():
            try:
                self._consumer.seek(TopicPartition(topic, partition, offset))
            except KafkaException as exc:  # not fetching yet: it starts from the committed offset anyway
                log.info("seek skipped", topic=topic, partition=partition, reason=str(exc))

    def _assigned(self) -> set[TopicPartitionKey]:
        return {(tp.topic, tp.partition) for tp in self._consumer.assignment()}

    def _claim(self, conn: psycopg.Connection[Any], partitions: set[TopicPartitionKey]) -> None:
        unclaimed = sorted(partitions - self._epochs.keys())
        if unclaimed:
            with conn.transaction():
                self._epochs.update(fencing.claim_partitions(conn, unclaimed, self._settings.worker_id))

    def _after_db_commit(self) -> None:
        """Fault injection for the tests (off unless FAULT_KILL_AFTER_DB_COMMITS is set): die right here,
        after a commit that recorded outcomes, before their offsets are committed."""
        self._db_commits += 1
        if self._db_commits == self._settings.fault_kill_after_db_commits:
            log.warning("fault injection: SIGKILL between the PostgreSQL commit and the offset commit")
            os.kill(os.getpid(), signal.SIGKILL)

    def _flow_control(self) -> None:
        """Bounded memory: stop reading new records while the lanes hold MAX_IN_FLIGHT_RECORDS, and wake-ups
        while MAX_SCHEDULED_WAKEUPS wait in memory; read again below half of each."""
        metrics.SCHEDULED.set(len(self._schedule))
        metrics.IN_FLIGHT.set(len(self._lanes))
        if self._stopping.is_set():
            return
        full = len(self._lanes) >= self._settings.max_in_flight_records
        if full != self._paused and (full or len(self._lanes) < self._settings.max_in_flight_records // 2):
            self._paused = full
            (self._consumer.pause if full else self._consumer.resume)(self._consumer.assignment())
            log.info("reading paused: the lanes are full" if full else "reading resumed", records=len(self._lanes))
        if self._paused:
            return
        retry_partitions = [tp for tp in self._consumer.assignment() if tp.topic == self._settings.retry_topic]
        if len(self._schedule) >= self._settings.max_scheduled_wakeups:
            self._consumer.pause(retry_partitions)
        elif len(self._schedule) < self._settings.max_scheduled_wakeups // 2:
            self._consumer.resume(retry_partitions)

    def _is_record(self, message: Message) -> bool:
        error = message.error()
        if error is None:
            return True
        if error.fatal():
            raise KafkaException(error)
        log.warning("consumer error", error=str(error))
        return False

    def _inbound(self, message: Message) -> Inbound:
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        assert topic is not None and partition is not None and offset is not None  # set on every record
        headers = message.headers()
        return read(
            Position(topic, partition, offset),
            message.key(),
            message.value(),
            list(headers.items()) if isinstance(headers, dict) else headers,
            self._settings.retry_topic,
            self._settings.max_record_bytes,
        )

    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        metrics.REBALANCES.labels("assigned").inc(len(partitions))
        if self._paused or self._stopping.is_set():
            self._consumer.pause(partitions)
        log.info("partitions assigned", partitions=[f"{p.topic}[{p.partition}]" for p in partitions])

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Callbacks run only inside a poll. Record what the handlers finished, then commit: a commit that a
        # rebalance refused may be pending, and this is its last chance. What is still running is given up.
        revoked = {(p.topic, p.partition) for p in partitions}
        metrics.REBALANCES.labels("revoked").inc(len(partitions))
        self._record_finished()
        self._commits.commit(only=revoked)
        self._release_runs()
        self._forget(revoked)
        self._read_again_needed = True
        log.info("partitions revoked", partitions=[f"{p.topic}[{p.partition}]" for p in partitions])

    def _release_runs(self) -> None:
        """What runs is given up (`_read_again` cancels every chain): say so while every partition is still
        ours, so that those requests run again as usual, not alone as a crash's suspects. Best effort: when
        it fails they run alone once."""
        request_ids = self._lanes.requests_of(self._gate.running())
        if not request_ids or not self._epochs:
            return
        try:
            conn = self._db.get()
            with conn.transaction():
                fencing.check_epochs(conn, self._epochs)
                release(conn, sorted(request_ids), [source(key) for key in self._epochs])
        except (fencing.Fenced, psycopg.Error) as exc:
            log.warning("releasing the runs given up failed; they run alone once", error=str(exc))
            self._db.drop()
            return
        log.info("runs given up, released", requests=len(request_ids))

    def _on_lost(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Another worker owns them already: it reads our uncommitted records again, harmlessly.
        metrics.REBALANCES.labels("lost").inc(len(partitions))
        self._forget({(p.topic, p.partition) for p in partitions})
        self._read_again_needed = True
        log.warning("partitions lost", partitions=[f"{p.topic}[{p.partition}]" for p in partitions])

    def _forget(self, partitions: set[TopicPartitionKey]) -> None:
        self._commits.forget(partitions)
        for key in partitions & self._epochs.keys():
            del self._epochs[key]
        self._tracker.forget(partitions)
        self._schedule.drop(partitions)
        for topic, partition in partitions:
            with contextlib.suppress(KeyError):
                metrics.LAG.remove(topic, str(partition))


def _lane_of(item: Inbound) -> UUID | None:
    """A record's lane: its user's (unreadable records share a lane of their own)."""
    return item.record.user_id if item.record else None
