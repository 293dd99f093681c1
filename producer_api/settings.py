"""API settings: `CommonSettings` plus the fields below, from the environment or `.env`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, PrivateAttr, field_validator, model_validator
from pydantic_settings import NoDecode

from producer_api.keys import Algorithm, KeyRing, load
from runtime.settings import CommonSettings

DEV_JWT_SECRET = "dev-only-secret-change-me-0123456789abcdef"  # noqa: S105 (refused outside dev/test)


class ApiSettings(CommonSettings):
    port: int = Field(3000, ge=1, le=65535, description="HTTP port (the seed's PORT).")
    host: str = Field("127.0.0.1", description="Address to listen on; 0.0.0.0 in containers.")
    api_workers: int = Field(
        1,
        ge=1,
        le=64,
        description="uvicorn worker processes sharing PORT. Above 1, /metrics adds up the values of all of"
        " them (prometheus_client's multiprocess mode, in PROMETHEUS_MULTIPROC_DIR or a temporary directory).",
    )
    jwt_algorithm: Algorithm = Field("HS256", description="Token signatures: HS256 (JWT_SECRET), RS256 or EdDSA.")
    jwt_secret: str = Field(DEV_JWT_SECRET, min_length=32, description="HS256 signing key (>= 32 chars).")
    jwt_private_key_file: Path | None = Field(
        None, description="RS256/EdDSA: PEM file of the current signing key (RSA >= 2048 bits, Ed25519 or Ed448)."
    )
    jwt_public_key_files: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="RS256/EdDSA: PEM files of previous public keys still accepted (comma-separated or a JSON list).",
    )
    jwt_leeway_s: int = Field(30, ge=0, le=60, description="Clock skew allowed on exp, nbf and iat.")
    jwt_issuer: str = Field("userq", description="`iss` of the tokens we issue and accept.")
    jwt_audience: str = Field("userq-api", description="`aud` of the tokens we issue and accept.")
    access_token_ttl_s: int = Field(900, ge=60, le=3600, description="Access token lifetime.")
    refresh_token_ttl_s: int = Field(14 * 86400, ge=3600, description="Refresh token lifetime.")
    max_body_bytes: int = Field(1 << 20, ge=1024, description="Largest HTTP body; larger gets 413.")
    max_payload_bytes: int = Field(64 << 10, ge=128, description="Largest payload of one request (413).")
    max_batch_requests: int = Field(100, ge=1, le=1000, description="Most requests in one batch.")
    produce_timeout_s: float = Field(10.0, gt=0, le=120, description="Broker ack wait before 503.")
    fault_kill_after_acks: int = Field(
        0,
        ge=0,
        description="Testing only: SIGKILL itself after this many acknowledged submissions, before their rows.",
    )
    fault_stop_in_rows_tx: int = Field(
        0,
        ge=0,
        description="Testing only: SIGSTOP itself once, after this many acknowledged submissions, inside the"
        " transaction that writes their rows (right after the insert, before the commit).",
    )
    producer_queue_max_messages: int = Field(
        10_000,
        ge=1,
        le=10_000_000,
        description="Records the Kafka producer holds waiting for the broker, at most; past it a submit gets 503"
        " at once (librdkafka's queue.buffering.max.messages). Bounds memory while the broker is slow or away.",
    )
    producer_queue_max_kbytes: int = Field(
        64 << 10,
        ge=1024,
        le=2_147_483_647,
        description="The same bound in KiB of record data (librdkafka's queue.buffering.max.kbytes).",
    )
    submit_rate_per_s: float = Field(200.0, gt=0, description="Requests a user may submit per second, sustained.")
    submit_burst: int = Field(400, ge=1, description="Requests a user may submit at once, above the rate.")
    max_pending_per_user: int = Field(10_000, ge=1, description="Requests of one user not yet terminal, at most.")
    login_max_failures: int = Field(10, ge=1, description="Wrong passwords per account and window before 429.")
    login_max_failures_per_address: int = Field(
        50, ge=1, description="Wrong passwords from one client address and window before 429."
    )
    login_window_s: int = Field(60, ge=1, le=86400, description="The login throttling window.")
    stream_heartbeat_s: float = Field(
        15.0, gt=0, le=300, description="A live stream sends a heartbeat and re-checks its session this often."
    )
    stream_max_duration_s: float = Field(
        3600.0, gt=0, description="A live stream ends after this; clients reconnect with Last-Event-ID."
    )
    max_streams_per_user: int = Field(5, ge=1, le=100, description="Live streams one user may hold open.")
    janitor_interval_s: float = Field(
        60.0, gt=0, description="How often drained queues of disconnected users are removed and old history deleted."
    )
    retention_days: int = Field(
        30, ge=1, description="Terminal requests (and their log) are kept this long; keep it above Kafka's retention."
    )
    grafana_url: str | None = Field(
        None, description="Grafana's address, linked from the operators' console when set (none: no link)."
    )
    kafka_ui_url: str | None = Field(
        None, description="Kafka UI's address, linked from the operators' console when set (none: no link)."
    )
    db_pool_min: int = Field(2, ge=1, description="PostgreSQL connections kept open.")
    db_pool_max: int = Field(20, ge=1, description="PostgreSQL connections at most.")
    db_pool_timeout_s: float = Field(5.0, gt=0, description="Wait for a free connection before 503.")

    _keys: KeyRing = PrivateAttr()

    @field_validator("jwt_public_key_files", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            if value.lstrip().startswith("["):
                return json.loads(value)
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _load_keys(self) -> ApiSettings:
        if self.jwt_algorithm == "HS256" and self.env not in ("dev", "test") and self.jwt_secret == DEV_JWT_SECRET:
            raise ValueError("JWT_SECRET must be set outside development (the default is public)")
        self._keys = load(self.jwt_algorithm, self.jwt_secret, self.jwt_private_key_file, self.jwt_public_key_files)
        return self

    @property
    def jwt_keys(self) -> KeyRing:
        """The keys tokens are signed and verified with, loaded (and checked) when the settings were."""
        return self._keys
