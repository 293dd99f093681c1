"""`python -m bench.bare_api`: the accept path's ceilings, FastAPI and the JWT check and (nearly) nothing else.

`POST /v1/requests` takes the same body model and decodes the bearer token with the same
`producer_api.security.decode` and settings as the API, then answers 202 without PostgreSQL or Kafka.
`POST /v1/kafka` (when `BENCH_ACCEPT_TOPIC` names a topic) does the same and then what acceptance needs
at the least: produce the request's record with the API's producer settings (idempotent, `acks=all`)
and wait for the broker's acknowledgement. No PostgreSQL: the "Kafka-only accept" of issue 14.
`POST /noop` answers 202 without even that: the load generator's own ceiling on this machine. Served by
uvicorn with the API's options and process count (`API_WORKERS`), so the ratio compares like with like.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import uvicorn
from fastapi import Depends, FastAPI, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from producer_api.__main__ import uvicorn_options
from producer_api.app import api_producer_config
from producer_api.models import NewRequest
from producer_api.producer import AsyncProducer
from producer_api.security import InvalidToken, decode
from producer_api.settings import ApiSettings
from schemas import records as wire
from schemas.records import RequestRecord

_bearer = HTTPBearer(auto_error=False)


def create_app() -> FastAPI:
    settings = ApiSettings()
    topic = os.environ.get("BENCH_ACCEPT_TOPIC")
    producer: list[AsyncProducer] = []

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if topic:
            producer.append(AsyncProducer(api_producer_config(settings, "bench-kafka-accept")))
        yield
        for each in producer:
            each.close(settings.produce_timeout_s)

    app = FastAPI(title="userq bench: bare endpoint", lifespan=lifespan)

    def user_of(credentials: HTTPAuthorizationCredentials | None) -> uuid.UUID:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise HTTPException(401)
        try:
            return decode(settings, credentials.credentials, "access").user_id
        except InvalidToken:
            raise HTTPException(401) from None

    @app.post("/v1/kafka", status_code=202)
    async def kafka_accept(
        body: NewRequest, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> dict[str, Any]:
        user_id = user_of(credentials)
        if not producer or topic is None:
            raise HTTPException(404)
        record = RequestRecord(
            request_id=uuid.uuid4(),
            user_id=user_id,
            type=body.type,
            payload=body.payload,
            accepted_at=datetime.now(UTC),
            trace_id="bench",
        )
        delivered = await producer[0].send(
            topic,
            str(user_id).encode(),
            wire.encode(record),
            wire.standard_headers(wire.REQUEST_CONTENT_TYPE, record.trace_id),
        )
        return {"request_id": str(record.request_id), "sequence": delivered.offset, "status": "queued"}

    @app.post("/v1/requests", status_code=202)
    async def submit(
        body: NewRequest, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> dict[str, Any]:
        return {"user_id": str(user_of(credentials)), "type": body.type, "status": "queued"}

    @app.post("/noop", status_code=202)
    async def noop() -> dict[str, Any]:
        return {}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> int:
    settings = ApiSettings()
    options = uvicorn_options(settings)
    if settings.api_workers == 1:
        uvicorn.run(create_app(), **options)
    else:
        uvicorn.run("bench.bare_api:create_app", factory=True, workers=settings.api_workers, **options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
