"""The consumer loop: poll a batch, process it, deliver what it produced, then commit its offsets.

Checkpoint order (never another): PostgreSQL commit → outgoing records delivered → offsets committed
synchronously. A batch is finished before the next poll, so when a rebalance revokes partitions (only
inside a poll) nothing of theirs is in flight. When PostgreSQL or Kafka fails mid-batch the batch is
rewound and read again after a pause; offsets never pass a record whose outcome is not recorded.
"""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import structlog
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from stream_worker.ordering import Position, commit_points, rewind_points
from stream_worker.processor import INFRASTRUCTURE_ERRORS, Inbound, Outgoing, Processor, read
from stream_worker.settings import WorkerSettings
from userq.kafka import producer_config

log = structlog.get_logger(__name__)


class DeliveryFailed(RuntimeError):
    pass


class Worker:
    def __init__(self, settings: WorkerSettings, processor: Processor) -> None:
        self._settings = settings
        self._processor = processor
        self._stopping = threading.Event()
        self._conn: psycopg.Connection[Any] | None = None
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
            self._commit(positions)
        except (*INFRASTRUCTURE_ERRORS, KafkaException, DeliveryFailed) as exc:
            log.warning("batch failed, will read it again", error=str(exc), records=len(batch))
            self._drop_connection()
            self._rewind(positions)
            self._stopping.wait(self._settings.infra_backoff_s)

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

    def _commit(self, positions: list[Position]) -> None:
        offsets = [TopicPartition(t, p, o) for (t, p), o in commit_points(positions).items()]
        for tp in self._consumer.commit(offsets=offsets, asynchronous=False) or []:
            if tp.error is not None:
                raise KafkaException(tp.error)

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
        # Every batch is committed before the next poll, and callbacks run only inside a poll.
        log.info("partitions revoked", partitions=[p.partition for p in partitions])

    def _on_lost(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.warning("partitions lost", partitions=[p.partition for p in partitions])
