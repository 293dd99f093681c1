"""The consumer loop: poll a batch, process it, deliver what it produced, then commit its offsets.

Checkpoint order (never another): PostgreSQL commit → outgoing records delivered → offsets committed
synchronously. A batch is finished before the next poll, so when a rebalance revokes partitions (only
inside a poll) nothing of theirs is in flight. When PostgreSQL or Kafka fails mid-batch the batch is
rewound and read again after a pause; offsets never pass a record whose outcome is not recorded.

A commit refused because the group is rebalancing is kept pending, not rewound: the outcomes are
recorded, so the offsets are committed after the rebalance (or in the revoke callback, before the
partition moves), and the next owner does not read the batch again.
"""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import structlog
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from stream_worker.ordering import Position, TopicPartitionKey, commit_points, rewind_points
from stream_worker.processor import INFRASTRUCTURE_ERRORS, Inbound, Outgoing, Processor, read
from stream_worker.settings import WorkerSettings
from userq.kafka import producer_config

log = structlog.get_logger(__name__)

# The group moved on while we committed: commit again after the rebalance, or leave it to the next owner.
_REBALANCING = frozenset({KafkaError.ILLEGAL_GENERATION, KafkaError.REBALANCE_IN_PROGRESS})


class DeliveryFailed(RuntimeError):
    pass


class Worker:
    def __init__(self, settings: WorkerSettings, processor: Processor) -> None:
        self._settings = settings
        self._processor = processor
        self._stopping = threading.Event()
        self._conn: psycopg.Connection[Any] | None = None
        self._pending: dict[TopicPartitionKey, int] = {}  # recorded in PostgreSQL, not yet committed
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
                "isolation.level": "read_committed",
            }
        )
        self._producer = Producer(producer_config(settings, f"{settings.worker_id}-results"))

    def stop(self) -> None:
        """Ask the loop to finish the batch in hand, commit it and leave the group."""
        self._stopping.set()

    def run(self) -> None:
        self._consumer.subscribe(
            [self._settings.requests_topic], on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost
        )
        log.info("worker started", group=self._settings.group_id, topic=self._settings.requests_topic)
        try:
            while not self._stopping.is_set():
                messages = self._consumer.consume(self._settings.batch_max_records, self._settings.poll_timeout_s)
                self._commit_pending()
                batch = [self._inbound(m) for m in messages if self._is_record(m)]
                if batch:
                    self._checkpoint(batch)
        finally:
            self._consumer.close()  # leaves the group: partitions move at once, not after a timeout
            self._producer.flush(self._settings.delivery_timeout_s)
            if self._conn is not None:
                self._conn.close()
            log.info("worker stopped")

    def _checkpoint(self, batch: list[Inbound]) -> None:
        positions = [item.position for item in batch]
        try:
            outgoing = self._processor.process(self._connection(), batch)
            self._deliver(outgoing)
        except (*INFRASTRUCTURE_ERRORS, KafkaException, DeliveryFailed) as exc:
            log.warning("batch failed, will read it again", error=str(exc), records=len(batch))
            self._drop_connection()
            self._rewind(positions)
            self._stopping.wait(self._settings.infra_backoff_s)
            return
        self._pending.update(commit_points(positions))
        self._commit_pending()

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
        """Commit the pending offsets (of `only` these partitions); keep them when the group is rebalancing."""
        keys = [key for key in self._pending if only is None or key in only]
        if not keys:
            return
        offsets = [TopicPartition(topic, partition, self._pending[(topic, partition)]) for topic, partition in keys]
        try:
            committed = self._consumer.commit(offsets=offsets, asynchronous=False) or []
        except KafkaException as exc:
            if exc.args[0].code() not in _REBALANCING:
                raise
            log.info("commit deferred: the group is rebalancing", partitions=[p for _, p in keys])
            return
        for tp in committed:
            if tp.error is not None:
                raise KafkaException(tp.error)
        for key in keys:
            del self._pending[key]

    def _rewind(self, positions: list[Position]) -> None:
        assigned = {(tp.topic, tp.partition) for tp in self._consumer.assignment()}
        for (topic, partition), offset in rewind_points(positions).items():
            if (topic, partition) in assigned:
                self._consumer.seek(TopicPartition(topic, partition, offset))

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(
                self._settings.database_url,
                autocommit=True,
                application_name=self._settings.worker_id,
                connect_timeout=5,
            )
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

    @staticmethod
    def _inbound(message: Message) -> Inbound:
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        assert topic is not None and partition is not None and offset is not None  # set on every record
        headers = message.headers()
        return read(
            Position(topic, partition, offset),
            message.key(),
            message.value(),
            list(headers.items()) if isinstance(headers, dict) else headers,
        )

    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.info("partitions assigned", partitions=[p.partition for p in partitions])

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Callbacks run only inside a poll, between batches: nothing of these partitions is in flight,
        # but a commit that a rebalance refused may be pending. This is its last chance.
        revoked = {(p.topic, p.partition) for p in partitions}
        self._commit_pending(only=revoked)
        self._forget(revoked)
        log.info("partitions revoked", partitions=[p.partition for p in partitions])

    def _on_lost(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Another worker owns them already: it reads our uncommitted records again, harmlessly.
        self._forget({(p.topic, p.partition) for p in partitions})
        log.warning("partitions lost", partitions=[p.partition for p in partitions])

    def _forget(self, partitions: set[TopicPartitionKey]) -> None:
        for key in partitions & self._pending.keys():
            del self._pending[key]
