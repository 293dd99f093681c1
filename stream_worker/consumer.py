"""The consumer loop: poll a batch, process it, deliver what it produced, then commit its offsets.

Checkpoint order (never another): PostgreSQL commit → outgoing records delivered → offsets committed
synchronously. A batch is finished before the next poll, so when a rebalance revokes partitions (only
inside a poll) nothing of theirs is in flight. When PostgreSQL or Kafka fails mid-batch the batch is
rewound and read again after a pause; offsets never pass a record whose outcome is not recorded.

The worker reads the requests topic and the retry topic in one group. Wake-ups from the retry topic wait
in memory until due (`retry.Schedule`); their partition's commit point stays at the oldest one not done.

A commit refused because the group is rebalancing is kept pending, not rewound: the outcomes are
recorded, so the offsets are committed after the rebalance (or in the revoke callback, before the
partition moves), and the next owner does not read the batch again.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from typing import Any

import orjson
import psycopg
import structlog
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from stream_worker import metrics, outbox, store
from stream_worker.ordering import OffsetTracker, Position, TopicPartitionKey, rewind_points
from stream_worker.outbox import Outgoing
from stream_worker.processor import INFRASTRUCTURE_ERRORS, Inbound, Processor, read
from stream_worker.retry import Schedule
from stream_worker.settings import WorkerSettings
from userq.db import use_orjson
from userq.kafka import producer_config

log = structlog.get_logger(__name__)

# A wake-up that PostgreSQL says is early waits at least this long (clocks of two machines may differ).
_MIN_DEFER_S = 0.05


class DeliveryFailed(RuntimeError):
    pass


class Worker:
    def __init__(self, settings: WorkerSettings, processor: Processor) -> None:
        self._settings = settings
        self._processor = processor
        self._stopping = threading.Event()
        self._conn: psycopg.Connection[Any] | None = None
        self._tracker = OffsetTracker()
        self._schedule: Schedule[Inbound] = Schedule()
        self._pending: dict[TopicPartitionKey, int] = {}  # recorded in PostgreSQL, not yet committed
        self._epochs: dict[TopicPartitionKey, int] = {}  # partitions we own in partition_owners
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
                "stats_cb": self._on_stats,
            }
        )
        self._producer = Producer(producer_config(settings, f"{settings.worker_id}-out"))

    def stop(self) -> None:
        """Ask the loop to finish the batch in hand, commit it and leave the group."""
        self._stopping.set()

    def run(self) -> None:
        topics = [self._settings.requests_topic, self._settings.retry_topic]
        self._consumer.subscribe(topics, on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost)
        log.info("worker started", group=self._settings.group_id, topics=topics)
        try:
            while not self._stopping.is_set():
                messages = self._poll()
                self._commit_pending()
                batch = self._take(messages)
                if batch:
                    self._checkpoint(batch)
                self._flow_control()
                self._sweep_outbox()
        finally:
            self._consumer.close()  # leaves the group: partitions move at once, not after a timeout
            self._producer.flush(self._settings.delivery_timeout_s)
            self._drop_connection()
            self._processor.close()
            log.info("worker stopped")

    def _poll(self) -> list[Message]:
        """Wait for the first record, then take what else is already fetched: batches without waiting for
        them to fill (`consume(n, timeout)` waits the whole timeout when fewer than n records come)."""
        first = self._consumer.poll(self._poll_timeout())
        if first is None:
            return []
        more = self._settings.batch_max_records - 1
        return [first, *self._consumer.consume(more, 0)] if more else [first]

    def _poll_timeout(self) -> float:
        due = self._schedule.next_due()
        if due is None:
            return self._settings.poll_timeout_s
        return min(self._settings.poll_timeout_s, max(0.0, due - time.time()))

    def _take(self, messages: list[Message]) -> list[Inbound]:
        """New records in partition order, then the wake-ups whose time has come."""
        batch = []
        now = time.time()
        assigned = self._assigned() if messages else set()
        for message in messages:
            if not self._is_record(message):
                continue
            item = self._inbound(message)
            if item.position.key not in assigned:
                continue  # revoked by a rebalance inside this poll: its new owner reads it
            self._tracker.read(item.position)
            if item.wakeup is not None and item.wakeup.due_at.timestamp() > now:
                self._schedule.add(item.wakeup.due_at.timestamp(), item.position, item)
            else:
                batch.append(item)
        room = self._settings.batch_max_records - len(batch)
        return batch + (self._schedule.pop_due(now, room) if room > 0 else [])

    def _checkpoint(self, batch: list[Inbound]) -> None:
        partitions = {item.position.key for item in batch}
        try:
            conn = self._connection()
            self._claim(conn, partitions)
            with metrics.BATCH_SECONDS.time():
                processed = self._processor.process(conn, batch, {key: self._epochs[key] for key in partitions})
            self._after_db_commit()
            self._deliver(processed.outgoing)
            outbox.delete(conn, processed.outbox_ids)
        except store.Fenced as exc:
            metrics.BATCH_FAILURES.labels("fenced").inc()
            log.warning("fenced: another worker took these partitions over; nothing written", error=str(exc))
            self._read_again(partitions)
            return
        except (*INFRASTRUCTURE_ERRORS, KafkaException, DeliveryFailed) as exc:
            metrics.BATCH_FAILURES.labels(type(exc).__name__).inc()
            log.warning("batch failed, will run it again", error=str(exc), records=len(batch))
            self._drop_connection()
            self._again(batch)
            self._stopping.wait(self._settings.infra_backoff_s)
            return
        deferred = {item.position for item, _ in processed.deferred}
        for item in batch:
            if item.position not in deferred:
                self._tracker.done(item.position)
        for item, due in processed.deferred:
            self._schedule.add(max(due.timestamp(), time.time() + _MIN_DEFER_S), item.position, item)
        metrics.record(processed)
        metrics.batch_done(batch)
        self._pending.update(self._tracker.commit_points(partitions))
        with metrics.COMMIT_SECONDS.time():
            self._commit_pending()

    def _sweep_outbox(self) -> None:
        """Now and then, publish what dead workers left in the outbox for users nobody touches since."""
        now = time.monotonic()
        if now < self._next_sweep:
            return
        self._next_sweep = now + self._settings.outbox_sweep_interval_s
        try:
            conn = self._connection()
            with conn.transaction():  # the users' queue locks are held until the rows are delivered
                stale = outbox.claim_stale(
                    conn, self._settings.outbox_sweep_interval_s, self._settings.batch_max_records
                )
                if stale.ids:
                    log.info("publishing records a stopped worker left in the outbox", records=len(stale.ids))
                    self._deliver(stale.records)
                    outbox.delete(conn, stale.ids)
        except (*INFRASTRUCTURE_ERRORS, KafkaException, DeliveryFailed) as exc:
            log.warning("outbox sweep failed; will try again", error=str(exc))
            self._drop_connection()

    def _on_stats(self, report: str) -> None:
        """librdkafka's statistics (every LAG_INTERVAL_S, inside a poll): the consumer lag of each partition
        we own, the high watermark minus the group's committed offset. Asking the brokers for it would
        wait behind our own fetches, on the consumer's thread."""
        assigned = self._assigned()
        for topic, stats in orjson.loads(report).get("topics", {}).items():
            for partition, figures in stats.get("partitions", {}).items():
                lag = _lag(figures)
                if lag is not None and (topic, int(partition)) in assigned:
                    metrics.LAG.labels(topic, partition).set(lag)

    def _again(self, batch: list[Inbound]) -> None:
        """Run the batch again after the pause: records of the retry topic (wake-ups, and unreadable ones)
        from memory; records of the requests topic by reading them again from the batch's first offset."""
        retry_at = time.time() + self._settings.infra_backoff_s
        fresh = []
        for item in batch:
            if item.position.topic == self._settings.retry_topic:
                self._schedule.add(retry_at, item.position, item)
            else:
                fresh.append(item.position)
        assigned = self._assigned()
        for (topic, partition), offset in rewind_points(fresh).items():
            self._tracker.forget([(topic, partition)])
            if (topic, partition) in assigned:
                self._consumer.seek(TopicPartition(topic, partition, offset))

    def _read_again(self, partitions: set[TopicPartitionKey]) -> None:
        """Drop all we hold of these partitions and, where the group still gives them to us, read them
        again from their commit point (the oldest record not done, wake-ups waiting in memory included)."""
        points = self._tracker.commit_points(partitions)
        self._forget(partitions)
        assigned = self._assigned()
        for (topic, partition), offset in points.items():
            if (topic, partition) in assigned:
                self._consumer.seek(TopicPartition(topic, partition, offset))

    def _assigned(self) -> set[TopicPartitionKey]:
        return {(tp.topic, tp.partition) for tp in self._consumer.assignment()}

    def _claim(self, conn: psycopg.Connection[Any], partitions: set[TopicPartitionKey]) -> None:
        unclaimed = sorted(partitions - self._epochs.keys())
        if unclaimed:
            with conn.transaction():
                self._epochs.update(store.claim_partitions(conn, unclaimed, self._settings.worker_id))

    def _after_db_commit(self) -> None:
        """Fault injection for the tests (off unless FAULT_KILL_AFTER_DB_COMMITS is set): die right here."""
        self._db_commits += 1
        if self._db_commits == self._settings.fault_kill_after_db_commits:
            log.warning("fault injection: SIGKILL between the PostgreSQL commit and the offset commit")
            os.kill(os.getpid(), signal.SIGKILL)

    def _deliver(self, outgoing: list[Outgoing]) -> None:
        failures: list[KafkaError] = []

        def on_delivery(err: KafkaError | None, _msg: Message) -> None:
            if err is not None:
                failures.append(err)

        for out in outgoing:
            while True:
                try:
                    self._producer.produce(out.topic, out.value, out.key, headers=out.headers, on_delivery=on_delivery)
                    break
                except BufferError:
                    self._producer.poll(0.1)
        remaining = self._producer.flush(self._settings.delivery_timeout_s)
        if remaining or failures:
            raise DeliveryFailed(f"{remaining} undelivered, {len(failures)} failed: {failures[:1]}")

    def _commit_pending(self, only: set[TopicPartitionKey] | None = None) -> None:
        """Commit the pending offsets (of `only` these partitions).

        A commit the group refuses (it is rebalancing, the coordinator moved, the broker restarted and
        forgot us) stays pending: it is tried again after the next poll, when we rejoined, or dropped when
        the partition is revoked or lost (the next owner then reads those records again, harmlessly).
        """
        keys = [key for key in self._pending if only is None or key in only]
        if not keys:
            return
        offsets = [TopicPartition(topic, partition, self._pending[(topic, partition)]) for topic, partition in keys]
        try:
            committed = self._consumer.commit(offsets=offsets, asynchronous=False) or []
        except KafkaException as exc:
            if exc.args[0].fatal():
                raise
            log.info("commit deferred", reason=exc.args[0].str(), partitions=[p for _, p in keys])
            return
        for tp in committed:
            if tp.error is None:
                self._pending.pop((tp.topic, tp.partition), None)
            else:
                log.info("commit deferred", reason=str(tp.error), partition=tp.partition)

    def _flow_control(self) -> None:
        """Stop reading wake-ups while too many wait in memory; the schedule's size stays bounded."""
        metrics.SCHEDULED.set(len(self._schedule))
        retry_partitions = [tp for tp in self._consumer.assignment() if tp.topic == self._settings.retry_topic]
        if not retry_partitions:
            return
        if len(self._schedule) >= self._settings.max_scheduled_wakeups:
            self._consumer.pause(retry_partitions)
        elif len(self._schedule) < self._settings.max_scheduled_wakeups // 2:
            self._consumer.resume(retry_partitions)

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            timeout_ms = int(self._settings.db_idle_in_transaction_timeout_s * 1000)
            self._conn = psycopg.connect(
                self._settings.database_url,
                autocommit=True,
                application_name=self._settings.worker_id,
                connect_timeout=5,
                # a worker frozen mid-transaction (a zombie) must not hold users' locks for ever
                options=f"-c idle_in_transaction_session_timeout={timeout_ms}",
            )
            use_orjson(self._conn)
        return self._conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

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
        log.info("partitions assigned", partitions=[f"{p.topic}[{p.partition}]" for p in partitions])

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Callbacks run only inside a poll, between batches: nothing of these partitions is in flight,
        # but a commit that a rebalance refused may be pending. This is its last chance.
        revoked = {(p.topic, p.partition) for p in partitions}
        metrics.REBALANCES.labels("revoked").inc(len(partitions))
        self._commit_pending(only=revoked)
        self._forget(revoked)
        log.info("partitions revoked", partitions=[f"{p.topic}[{p.partition}]" for p in partitions])

    def _on_lost(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Another worker owns them already: it reads our uncommitted records again, harmlessly.
        metrics.REBALANCES.labels("lost").inc(len(partitions))
        self._forget({(p.topic, p.partition) for p in partitions})
        log.warning("partitions lost", partitions=[f"{p.topic}[{p.partition}]" for p in partitions])

    def _forget(self, partitions: set[TopicPartitionKey]) -> None:
        for key in partitions & self._pending.keys():
            del self._pending[key]
        for key in partitions & self._epochs.keys():
            del self._epochs[key]
        self._tracker.forget(partitions)
        self._schedule.drop(partitions)
        for topic, partition in partitions:
            with contextlib.suppress(KeyError):
                metrics.LAG.remove(topic, str(partition))


def _lag(figures: dict[str, int]) -> int | None:
    """A partition's lag in librdkafka's statistics; from the log's start when the group never committed
    (it starts there: `auto.offset.reset` is earliest). None while the watermarks are not known yet."""
    if figures.get("consumer_lag", -1) >= 0:
        return figures["consumer_lag"]
    high, low = figures.get("hi_offset", -1), figures.get("lo_offset", -1)
    return high - max(low, 0) if high >= 0 else None
