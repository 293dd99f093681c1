"""Fencing: each partition has an epoch in PostgreSQL, bumped by whoever takes the partition over.

A tick checks (and holds, shared) its partitions' epochs before it writes anything: a worker that lost a
partition without knowing it (a zombie) is refused, not trusted to notice.
"""

from __future__ import annotations

from typing import Any

import psycopg

from stream_worker.offsets import TopicPartitionKey

Conn = psycopg.Connection[Any]


class Fenced(Exception):
    """Another worker took one of the batch's partitions over: this worker must write nothing."""


def claim_partitions(conn: Conn, partitions: list[TopicPartitionKey], owner: str) -> dict[TopicPartitionKey, int]:
    """Bump each partition's epoch and make it ours; an older owner's next batch is then refused."""
    rows = conn.execute(
        """insert into partition_owners (topic, partition, epoch, owner)
           select t, p, 1, %s from unnest(%s::text[], %s::int[]) as x(t, p)
           on conflict (topic, partition)
           do update set epoch = partition_owners.epoch + 1, owner = excluded.owner
           returning topic, partition, epoch""",
        (owner, [t for t, _ in partitions], [p for _, p in partitions]),
    ).fetchall()
    return {(topic, partition): epoch for topic, partition, epoch in rows}


def check_epochs(conn: Conn, epochs: dict[TopicPartitionKey, int]) -> None:
    """Raise `Fenced` unless every partition is still at our epoch; hold them so until we commit."""
    keys = sorted(epochs)
    rows = conn.execute(
        """select o.topic, o.partition, o.epoch
             from partition_owners o join unnest(%s::text[], %s::int[]) as x(t, p)
               on o.topic = x.t and o.partition = x.p
            order by o.topic, o.partition
              for share of o""",
        ([t for t, _ in keys], [p for _, p in keys]),
    ).fetchall()
    current = {(topic, partition): epoch for topic, partition, epoch in rows}
    moved = [key for key in keys if current.get(key) != epochs[key]]
    if moved:
        raise Fenced(f"partitions {moved} have a newer owner")
