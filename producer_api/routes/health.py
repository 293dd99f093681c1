"""GET /healthz (the process answers) and GET /readyz (PostgreSQL and Kafka answer too)."""

from __future__ import annotations

from anyio import to_thread
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from producer_api.models import Health
from producer_api.state import State

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}})
async def readyz(state: State) -> JSONResponse:
    checks = {
        "postgres": await _postgres(state),
        "kafka": await to_thread.run_sync(state.producer.reachable, state.settings.requests_topic, 2.0),
    }
    ready = all(checks.values())
    body = Health(status="ok" if ready else "unavailable", checks=checks)
    return JSONResponse(body.model_dump(), 200 if ready else 503)


async def _postgres(state: State) -> bool:
    try:
        async with state.pool.connection(timeout=2.0) as conn:
            await conn.execute("select 1")
    except Exception:
        return False
    return True
