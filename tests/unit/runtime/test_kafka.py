"""`producer_config`: every producer of userq is durable unless a caller says otherwise."""

from __future__ import annotations

from runtime.kafka import producer_config
from runtime.settings import CommonSettings


def test_a_producer_is_idempotent_and_waits_for_every_in_sync_replica() -> None:
    config = producer_config(CommonSettings(kafka_bootstrap_servers="k1:9092,k2:9092"), "api-1")
    assert config["enable.idempotence"] is True  # librdkafka's default is false
    assert config["acks"] == "all"
    assert (config["bootstrap.servers"], config["client.id"]) == ("k1:9092,k2:9092", "api-1")


def test_a_caller_overrides_only_what_it_names() -> None:
    base = producer_config(CommonSettings(), "worker-out")
    config = producer_config(CommonSettings(), "worker-out", **{"linger.ms": 0, "queue.buffering.max.messages": 8})
    assert config == {**base, "linger.ms": 0, "queue.buffering.max.messages": 8}
