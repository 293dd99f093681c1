"""`python -m bench.bare_api`: the accept path's ceiling, FastAPI and the JWT check and nothing else.

`POST /v1/requests` takes the same body model and decodes the bearer token with the same
`producer_api.security.decode` and settings as the API, then answers 202 without PostgreSQL or Kafka.
`POST /noop` answers 202 without even that: the load generator's own ceiling on this machine. Served by
uvicorn with the API's options and process count (`API_WORKERS`), so the ratio compares like with like.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import uvicorn
from fastapi import Depends, FastAPI, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from producer_api.__main__ import uvicorn_options
from producer_api.models import NewRequest
from producer_api.security import InvalidToken, decode
from producer_api.settings import ApiSettings

_bearer = HTTPBearer(auto_error=False)


def create_app() -> FastAPI:
    settings = ApiSettings()
    app = FastAPI(title="userq bench: bare endpoint")

    @app.post("/v1/requests", status_code=202)
    async def submit(
        body: NewRequest, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> dict[str, Any]:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise HTTPException(401)
        try:
            claims = decode(settings, credentials.credentials, "access")
        except InvalidToken:
            raise HTTPException(401) from None
        return {"user_id": str(claims.user_id), "type": body.type, "status": "queued"}

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
