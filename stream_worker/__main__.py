"""`python -m stream_worker`: one worker process of the consumer group. SIGTERM/SIGINT drain and leave."""

from __future__ import annotations

import signal
import sys
from types import FrameType

import structlog

from request_types.registry import load, registry
from runtime.kafka import ensure_topics
from runtime.logs import configure_logging
from store.db import migrate
from stream_worker import metrics
from stream_worker.consumer import Worker
from stream_worker.outcomes import RetryPolicy
from stream_worker.outgoing import Topics
from stream_worker.processor import Processor
from stream_worker.recorder import Policies
from stream_worker.runner import Runner
from stream_worker.settings import WorkerSettings


def main() -> int:
    settings = WorkerSettings()
    configure_logging(settings.log_level, settings.log_format, worker=settings.worker_id)
    load(settings.handler_modules)
    migrate(settings.database_url)
    ensure_topics(settings)
    retry = RetryPolicy(settings.max_attempts, settings.retry_base_delay_s, settings.retry_max_delay_s)
    processor = Processor(
        registry,
        Policies(
            retry,
            settings.dead_letter_policy,
            settings.drain_limit,
            settings.max_result_bytes,
            settings.wakeup_horizon_s,
            settings.max_record_crashes,
        ),
        Topics(
            requests=settings.requests_topic,
            retry=settings.retry_topic,
            results=settings.results_topic,
            dead_letters=settings.dlq_topic,
        ),
        actor=settings.worker_id,
    )
    runner = Runner(
        registry,
        retry,
        settings.dead_letter_policy,
        settings.handler_timeout_s,
        settings.handler_threads,
        settings.max_result_bytes,
        timed=lambda type_, seconds: metrics.HANDLER_SECONDS.labels(type_).observe(seconds),
    )
    worker = Worker(settings, processor, runner)
    metrics.serve(settings, registry.names())

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        structlog.get_logger(__name__).info("stopping", signal=signal.Signals(signum).name)
        worker.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    worker.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
