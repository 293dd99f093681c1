"""Settings that the API and the workers share. One typed object, read from the environment and `.env`.

Each service extends `CommonSettings` with its own fields (see `producer_api.settings`,
`stream_worker.settings`); every field is documented where it is declared.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    env: Literal["dev", "test", "prod"] = Field(
        "dev", description="Deployment kind; 'prod' refuses development defaults such as the JWT secret."
    )
    database_url: str = Field(
        "postgresql://userq:userq@127.0.0.1:55432/userq", description="PostgreSQL connection URL."
    )
    kafka_bootstrap_servers: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers.")
    topic_prefix: str = Field(
        "userq", pattern=r"^[A-Za-z0-9._-]{1,100}$", description="Prefix of every topic and the group id."
    )
    request_partitions: int = Field(
        12,
        ge=1,
        le=10_000,
        description="Partitions of the requests topic. Fixed for a topic's life: adding partitions later"
        " moves users to other partitions and breaks their order.",
    )
    replication_factor: int = Field(1, ge=1, le=7, description="Replication factor of userq's topics.")
    handler_modules: list[str] = Field(
        ["request_types.builtin"],
        description="Modules that register request types, imported by the API and the workers alike.",
    )
    log_level: str = Field("INFO", description="Log level: DEBUG, INFO, WARNING, ERROR.")
    log_format: Literal["json", "console"] = Field("json", description="JSON lines, or coloured console.")

    @property
    def requests_topic(self) -> str:
        return f"{self.topic_prefix}.requests"

    @property
    def retry_topic(self) -> str:
        return f"{self.topic_prefix}.requests.retry"

    @property
    def dlq_topic(self) -> str:
        return f"{self.topic_prefix}.requests.dlq"

    @property
    def results_topic(self) -> str:
        return f"{self.topic_prefix}.results"

    @property
    def group_id(self) -> str:
        return f"{self.topic_prefix}-workers"

    @model_validator(mode="after")
    def _level_is_known(self) -> CommonSettings:
        if self.log_level.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError(f"log_level must be DEBUG, INFO, WARNING or ERROR, not {self.log_level!r}")
        return self
