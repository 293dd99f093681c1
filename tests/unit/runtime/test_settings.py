"""`CommonSettings`: what both services derive from the prefix, and what they refuse at start-up."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from runtime.settings import CommonSettings


def test_topics_and_the_group_follow_the_prefix() -> None:
    settings = CommonSettings(topic_prefix="acme.q")
    assert (settings.requests_topic, settings.retry_topic) == ("acme.q.requests", "acme.q.requests.retry")
    assert (settings.dlq_topic, settings.results_topic) == ("acme.q.requests.dlq", "acme.q.results")
    assert settings.group_id == "acme.q-workers"


@pytest.mark.parametrize("prefix", ["", "has space", "slash/es", "x" * 101, "ümlaut"])
def test_a_prefix_kafka_would_not_take_is_refused(prefix: str) -> None:
    with pytest.raises(ValidationError, match="topic_prefix"):
        CommonSettings(topic_prefix=prefix)


@pytest.mark.parametrize("level", ["debug", "INFO", "Warning", "ERROR"])
def test_the_four_log_levels_in_any_case_are_taken(level: str) -> None:
    assert CommonSettings(log_level=level).log_level == level


@pytest.mark.parametrize("level", ["TRACE", "CRITICAL", "verbose", ""])
def test_any_other_log_level_is_refused_by_name(level: str) -> None:
    with pytest.raises(ValidationError, match="log_level must be DEBUG, INFO, WARNING or ERROR"):
        CommonSettings(log_level=level)


@pytest.mark.parametrize(("field", "value"), [("request_partitions", 0), ("replication_factor", 8)])
def test_partitions_and_replicas_out_of_range_are_refused(field: str, value: int) -> None:
    with pytest.raises(ValidationError, match=field):
        CommonSettings(**{field: value})  # type: ignore[arg-type]


def test_settings_are_read_from_the_environment_and_frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOPIC_PREFIX", "from-env")
    monkeypatch.setenv("REQUEST_PARTITIONS", "3")
    monkeypatch.setenv("HANDLER_MODULES", '["request_types.builtin", "tests.support.handlers"]')
    settings = CommonSettings()
    assert (settings.topic_prefix, settings.request_partitions) == ("from-env", 3)
    assert settings.handler_modules == ["request_types.builtin", "tests.support.handlers"]
    with pytest.raises(ValidationError, match="frozen"):
        settings.topic_prefix = "changed"  # type: ignore[misc]
