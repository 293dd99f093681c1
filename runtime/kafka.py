"""Kafka plumbing: client configuration, idempotent topic creation, the workers' consumer lag."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import structlog
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from runtime.settings import CommonSettings

log = structlog.get_logger(__name__)


def producer_config(settings: CommonSettings, client_id: str, **overrides: Any) -> dict[str, Any]:
    """A durable producer: idempotent (librdkafka defaults it to off), acks from all in-sync replicas."""
    return {
        "bootstrap.servers": settings.kafka_bootstrap_servers,
        "client.id": client_id,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 2,
        "compression.type": "lz4",
        **overrides,
    }


def ensure_topics(settings: CommonSettings, timeout: float = 60.0) -> None:
    """Create userq's topics when missing; wait for the cluster to answer first (a metadata request)."""
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    deadline = time.monotonic() + timeout
    while True:
        try:
            existing = admin.list_topics(timeout=5).topics
            break
        except KafkaException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    keyed = settings.request_partitions  # co-partitioned: a user has the same partition in each
    wanted = {
        settings.requests_topic: keyed,
        settings.retry_topic: keyed,
        settings.dlq_topic: keyed,
        settings.results_topic: keyed,
    }
    for name, partitions in wanted.items():
        if name in existing and len(existing[name].partitions) != partitions:
            log.warning(
                "topic has another partition count than configured",
                topic=name,
                actual=len(existing[name].partitions),
                configured=partitions,
            )
    missing = [
        NewTopic(
            name,
            num_partitions=partitions,
            replication_factor=settings.replication_factor,
            config={"min.insync.replicas": str(min(2, settings.replication_factor))},
        )
        for name, partitions in wanted.items()
        if name not in existing
    ]
    if not missing:
        return
    for name, future in admin.create_topics(missing, operation_timeout=30).items():
        try:
            future.result()
            log.info("topic created", topic=name)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise


@dataclass(frozen=True)
class PartitionLag:
    """Where the workers' group stands on one partition: `lag` records written and not yet committed."""

    topic: str
    partition: int
    end_offset: int  # the high watermark: records written to it so far
    committed: int  # the group's committed offset (0 when it never committed)

    @property
    def lag(self) -> int:
        return max(self.end_offset - self.committed, 0)


def consumer_lag(settings: CommonSettings, timeout: float = 10.0) -> list[PartitionLag]:
    """The workers' group on every partition of the requests and retry topics, read from the broker."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "group.id": settings.group_id,
            "enable.auto.commit": False,
        }
    )
    try:
        found = []
        for topic in (settings.requests_topic, settings.retry_topic):
            partitions = consumer.list_topics(topic, timeout=timeout).topics[topic].partitions
            committed = consumer.committed([TopicPartition(topic, p) for p in sorted(partitions)], timeout=timeout)
            for tp in committed:
                _low, high = consumer.get_watermark_offsets(TopicPartition(topic, tp.partition), timeout=timeout)
                found.append(PartitionLag(topic, tp.partition, high, max(tp.offset, 0)))
        return found
    finally:
        consumer.close()
