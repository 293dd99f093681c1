"""An asyncio face on confluent-kafka's Producer.

One thread calls `poll()` for the life of the producer; each delivery report resolves its future on the
event loop with `call_soon_threadsafe`. A `send` returns only once the broker has acknowledged the record
from all in-sync replicas (idempotent producer, acks=all), or raises `NotDelivered`. Memory is bounded:
records waiting for the broker are capped (librdkafka's `queue.buffering.max.*`); past the cap a `send`
raises `QueueFull` at once instead of waiting.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from producer_api import metrics
from producer_api.errors import ApiError
from schemas.records import Headers


class NotDelivered(ApiError):
    """The record is not known to be in Kafka: the request was not accepted."""


class QueueFull(NotDelivered):
    """The producer already holds as many records as it may, waiting for the broker: not even queued."""


@dataclass(frozen=True)
class Delivered:
    partition: int
    offset: int


class AsyncProducer:
    def __init__(self, config: dict[str, Any]) -> None:
        self._producer = Producer(config)
        self._closing = threading.Event()
        self._poller = threading.Thread(target=self._poll_forever, name="kafka-poll", daemon=True)
        self._poller.start()

    def _poll_forever(self) -> None:
        while not self._closing.is_set():
            self._producer.poll(0.1)

    async def send(self, topic: str, key: bytes, value: bytes, headers: Headers) -> Delivered:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Delivered] = loop.create_future()

        def settle(err: KafkaError | None, msg: Message) -> None:
            if future.done():
                return
            if err is not None:
                future.set_exception(NotDelivered(err.str()))
            else:
                partition, offset = msg.partition(), msg.offset()
                assert partition is not None and offset is not None  # set on every delivered message
                future.set_result(Delivered(partition, offset))

        def on_delivery(err: KafkaError | None, msg: Message) -> None:
            loop.call_soon_threadsafe(settle, err, msg)

        started, outcome = time.perf_counter(), "failed"
        try:
            try:
                self._producer.produce(topic, value, key, headers=headers, on_delivery=on_delivery)
            except BufferError:  # queue.buffering.max.messages or .max.kbytes reached
                outcome = "queue_full"
                raise QueueFull("the producer's queue is full") from None
            except KafkaException as exc:
                raise NotDelivered(str(exc)) from None
            delivered = await future
            outcome = "delivered"
            return delivered
        finally:
            metrics.produced(outcome, started)

    def reachable(self, topic: str, timeout: float) -> bool:
        """Blocking metadata request: does the cluster answer and know `topic`?"""
        try:
            metadata = self._producer.list_topics(topic, timeout=timeout)
        except KafkaException:
            return False
        found = metadata.topics.get(topic)
        return found is not None and found.error is None

    def close(self, timeout: float) -> None:
        self._producer.flush(timeout)
        self._closing.set()
        self._poller.join()
