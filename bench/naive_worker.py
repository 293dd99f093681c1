"""`python -m bench.naive_worker`: the worker everyone writes first, as the floor of the worker's figure.

One record at a time: poll one, decode it (the same wire format), insert its result, commit, commit its
offset synchronously. Correct (an offset is committed only after its row), and as slow as two round
trips per record make it. It reads the same topic as the real worker in a group of its own and writes a
table of its own, so the real rows are untouched. Prints one JSON object: records, seconds, per second.
"""

from __future__ import annotations

import argparse
import sys
import time

import orjson
import psycopg
from confluent_kafka import Consumer
from psycopg.types.json import Jsonb

from schemas import records as wire
from schemas.records import RequestRecord


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.naive_worker", description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--records", type=int, required=True, help="stop after this many")
    parser.add_argument("--max-seconds", type=float, required=True, help="or after this long")
    args = parser.parse_args(argv)
    consumer = Consumer(
        {
            "bootstrap.servers": args.bootstrap,
            "group.id": args.group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([args.topic])
    done, first, last = 0, 0.0, 0.0
    deadline = time.monotonic() + args.max_seconds
    with psycopg.connect(args.database_url) as conn:
        conn.execute(
            """create table if not exists bench_naive_results (
                   request_id uuid primary key, user_id uuid not null, result jsonb not null,
                   done_at timestamptz not null default now())"""
        )
        conn.commit()
        while done < args.records and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error() is not None:
                continue
            record = wire.decode(RequestRecord, message.value())
            if not first:
                first = time.monotonic()
            conn.execute(
                "insert into bench_naive_results (request_id, user_id, result) values (%s, %s, %s)"
                " on conflict do nothing",
                (record.request_id, record.user_id, Jsonb(record.payload)),
            )
            conn.commit()
            consumer.commit(message=message, asynchronous=False)
            done += 1
            last = time.monotonic()
    consumer.close()
    seconds = last - first
    print(
        orjson.dumps(
            {"records": done, "seconds": round(seconds, 3), "per_s": round(done / seconds, 1) if seconds else None}
        ).decode()
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
