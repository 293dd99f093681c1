"""Publishing what ticks wrote to the outbox: deliver to Kafka, then delete the delivered rows.

A record is deleted from the outbox only once the broker acknowledged it. When delivery fails the rows
stay: the user's next tick publishes them before anything newer of that user, and the sweep publishes
what stopped workers left behind for users nobody touches any more. The wake-ups of retries kept in
PostgreSQL beyond the horizon (`store.dormant`) go out the same way when their time comes near.
"""

from __future__ import annotations

from typing import Any

import psycopg
import structlog
from confluent_kafka import KafkaError, Message, Producer

from runtime.kafka import producer_config
from schemas.records import Outgoing, wakeup_of
from store import dormant, outbox
from stream_worker.settings import WorkerSettings

log = structlog.get_logger(__name__)


class DeliveryFailed(RuntimeError):
    pass


class Publisher:
    def __init__(self, settings: WorkerSettings) -> None:
        self._settings = settings
        self._producer = Producer(producer_config(settings, f"{settings.worker_id}-out"))

    def publish(self, conn: psycopg.Connection[Any], outgoing: list[Outgoing], outbox_ids: list[int]) -> None:
        """Deliver what a tick wrote to the outbox, then delete its rows (`DeliveryFailed` when the broker
        does not acknowledge everything within DELIVERY_TIMEOUT_S: the rows stay)."""
        self.deliver(outgoing)
        outbox.delete(conn, outbox_ids)

    def sweep(self, conn: psycopg.Connection[Any]) -> None:
        """Publish what stopped workers left in the outbox for users no transaction holds now."""
        with conn.transaction():  # the users' queue locks are held until the rows are delivered
            stale = outbox.claim_stale(conn, self._settings.outbox_sweep_interval_s, self._settings.batch_max_records)
            if stale.ids:
                log.info("publishing records a stopped worker left in the outbox", records=len(stale.ids))
                self.publish(conn, stale.records, stale.ids)

    def rearm(self, conn: psycopg.Connection[Any]) -> None:
        """Publish a wake-up for each retry kept in PostgreSQL (`store.dormant`) that falls due within
        WAKEUP_HORIZON_S; written to the outbox with the keeping's end, so none is lost on the way."""
        with conn.transaction():
            due = dormant.take_due(conn, self._settings.wakeup_horizon_s, self._settings.batch_max_records)
            wakeups = [wakeup_of(row, self._settings.retry_topic) for row in due]
            ids = outbox.add(conn, wakeups)
        if ids:
            log.info("wake-ups of retries kept in PostgreSQL published", wakeups=len(ids))
            self.publish(conn, wakeups, ids)

    def deliver(self, outgoing: list[Outgoing]) -> None:
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

    def close(self) -> None:
        self._producer.flush(self._settings.delivery_timeout_s)
