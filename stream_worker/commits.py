"""Committing offsets to the group: synchronously, only what PostgreSQL has recorded, and kept when refused."""

from __future__ import annotations

import structlog
from confluent_kafka import Consumer, KafkaException, TopicPartition

from stream_worker.offsets import TopicPartitionKey

log = structlog.get_logger(__name__)


class Commits:
    """The offsets to commit: each partition's commit point once the tick that settled it committed."""

    def __init__(self, consumer: Consumer) -> None:
        self._consumer = consumer
        self._points: dict[TopicPartitionKey, int] = {}  # recorded in PostgreSQL, not yet committed

    def add(self, points: dict[TopicPartitionKey, int]) -> None:
        self._points.update(points)

    def forget(self, partitions: set[TopicPartitionKey]) -> None:
        """Drop what is pending for partitions we no longer own: their next owner reads those records again."""
        for key in partitions & self._points.keys():
            del self._points[key]

    def commit(self, only: set[TopicPartitionKey] | None = None) -> None:
        """Commit the pending offsets (of `only` these partitions).

        A commit the group refuses (it is rebalancing, the coordinator moved, the broker restarted and
        forgot us) stays pending: it is tried again after the next poll, when we rejoined, or dropped when
        the partition is revoked or lost (the next owner then reads those records again, harmlessly).
        """
        keys = [key for key in self._points if only is None or key in only]
        if not keys:
            return
        offsets = [TopicPartition(topic, partition, self._points[(topic, partition)]) for topic, partition in keys]
        try:
            committed = self._consumer.commit(offsets=offsets, asynchronous=False) or []
        except KafkaException as exc:
            if exc.args[0].fatal():
                raise
            log.info("commit deferred", reason=exc.args[0].str(), partitions=[p for _, p in keys])
            return
        for tp in committed:
            if tp.error is None:
                self._points.pop((tp.topic, tp.partition), None)
            else:
                log.info("commit deferred", reason=str(tp.error), partition=tp.partition)
