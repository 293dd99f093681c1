"""API settings: `CommonSettings` plus the fields below, from the environment or `.env`."""

from __future__ import annotations

from pydantic import Field, model_validator

from userq.settings import CommonSettings

DEV_JWT_SECRET = "dev-only-secret-change-me-0123456789abcdef"  # noqa: S105 (refused outside dev/test)


class ApiSettings(CommonSettings):
    port: int = Field(3000, ge=1, le=65535, description="HTTP port (the seed's PORT).")
    host: str = Field("127.0.0.1", description="Address to listen on; 0.0.0.0 in containers.")
    jwt_secret: str = Field(DEV_JWT_SECRET, min_length=32, description="HS256 signing key (>= 32 chars).")
    jwt_issuer: str = Field("userq", description="`iss` of the tokens we issue and accept.")
    jwt_audience: str = Field("userq-api", description="`aud` of the tokens we issue and accept.")
    access_token_ttl_s: int = Field(900, ge=60, le=3600, description="Access token lifetime.")
    refresh_token_ttl_s: int = Field(14 * 86400, ge=3600, description="Refresh token lifetime.")
    max_body_bytes: int = Field(1 << 20, ge=1024, description="Largest HTTP body; larger gets 413.")
    max_payload_bytes: int = Field(64 << 10, ge=128, description="Largest payload of one request (413).")
    max_batch_requests: int = Field(100, ge=1, le=1000, description="Most requests in one batch.")
    produce_timeout_s: float = Field(10.0, gt=0, le=120, description="Broker ack wait before 503.")
    submit_rate_per_s: float = Field(200.0, gt=0, description="Requests a user may submit per second, sustained.")
    submit_burst: int = Field(400, ge=1, description="Requests a user may submit at once, above the rate.")
    max_pending_per_user: int = Field(10_000, ge=1, description="Requests of one user not yet terminal, at most.")
    login_max_failures: int = Field(10, ge=1, description="Wrong passwords per account and window before 429.")
    login_max_failures_per_address: int = Field(
        50, ge=1, description="Wrong passwords from one client address and window before 429."
    )
    login_window_s: int = Field(60, ge=1, le=86400, description="The login throttling window.")
    db_pool_min: int = Field(2, ge=1, description="PostgreSQL connections kept open.")
    db_pool_max: int = Field(20, ge=1, description="PostgreSQL connections at most.")
    db_pool_timeout_s: float = Field(5.0, gt=0, description="Wait for a free connection before 503.")

    @model_validator(mode="after")
    def _no_dev_secret_in_prod(self) -> ApiSettings:
        if self.env == "prod" and self.jwt_secret == DEV_JWT_SECRET:
            raise ValueError("JWT_SECRET must be set outside development (the default is public)")
        return self
