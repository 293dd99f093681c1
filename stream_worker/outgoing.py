"""The records a tick publishes (pure): result events, dead letters with their headers, wake-ups."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import structlog

from schemas import records as wire
from schemas.lifecycle import RequestRow, Status
from schemas.records import Headers, Outgoing, request_of, result_of, wakeup_of
from stream_worker.inbound import Inbound
from stream_worker.offsets import Position

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Topics:
    requests: str
    retry: str
    results: str
    dead_letters: str

    def announcements(self, row: RequestRow) -> list[Outgoing]:
        """The result event of a terminal request, and its dead letter when it has one."""
        assert row.processed_seq is not None
        assert row.completed_at is not None
        out = [result_of(row, self.results)]
        if row.status is Status.DEAD_LETTERED:
            error = row.error or {}
            origin = Position(self.requests, row.kafka_partition or 0, row.sequence or 0)
            out.append(
                self.dead_letter(
                    row.user_id,
                    origin,
                    str(row.user_id).encode(),
                    wire.encode(request_of(row)),
                    wire.standard_headers(wire.REQUEST_CONTENT_TYPE, row.trace_id),
                    str(error.get("cause", "permanent")),
                    str(error.get("message", "")),
                    row.attempts,
                    row.first_failed_at,
                    row.last_failed_at,
                )
            )
        return out

    def wakeup(self, row: RequestRow) -> Outgoing:
        return wakeup_of(row, self.retry)

    def unreadable(self, item: Inbound) -> Outgoing:
        """The dead letter of a record that could not be read: its bytes as they came, and why."""
        log.warning(
            "unreadable record dead-lettered",
            topic=item.position.topic,
            partition=item.position.partition,
            offset=item.position.offset,
            problem=item.problem,
        )
        return self.dead_letter(
            None, item.position, item.key, item.value, item.headers, "unprocessable", item.problem or "", 0, None, None
        )

    def dead_letter(
        self,
        user_id: UUID | None,
        origin: Position,
        key: bytes | None,
        value: bytes | None,
        headers: Headers,
        cause: str,
        error: str,
        attempts: int,
        first_failed_at: datetime | None,
        last_failed_at: datetime | None,
    ) -> Outgoing:
        def when(moment: datetime | None) -> bytes:
            return (moment.isoformat() if moment else "").encode()

        return Outgoing(
            self.dead_letters,
            key,
            value,
            [
                *headers,
                (wire.DLQ_CAUSE, cause.encode()),
                (wire.DLQ_ERROR, error.encode()[:1000]),
                (wire.DLQ_ATTEMPTS, str(attempts).encode()),
                (wire.DLQ_FIRST_FAILED_AT, when(first_failed_at)),
                (wire.DLQ_LAST_FAILED_AT, when(last_failed_at)),
                (wire.DLQ_ORIGIN_TOPIC, origin.topic.encode()),
                (wire.DLQ_ORIGIN_PARTITION, str(origin.partition).encode()),
                (wire.DLQ_ORIGIN_OFFSET, str(origin.offset).encode()),
            ],
            user_id,
        )
