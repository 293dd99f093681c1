"""GET /v1/stream: the caller's request state changes as Server-Sent Events, resumable."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import StreamingResponse

from producer_api.auth import CurrentUser
from producer_api.errors import TooManyStreams
from producer_api.openapi import refusals
from producer_api.state import State

router = APIRouter(prefix="/v1/stream", tags=["stream"])

_EVENT_STREAM = {
    "description": "`text/event-stream`: `id` is the user's event number, `event: request`, `data` a"
    " `StreamEvent` as JSON; `: heartbeat` comments in between",
    "content": {
        "text/event-stream": {
            "schema": {  # one event, as OpenAPI before 3.2 describes a stream
                "type": "object",
                "required": ["event", "data"],
                "properties": {
                    "event": {"const": "request"},
                    "id": {"type": "string", "pattern": "^[0-9]+$"},
                    "retry": {"type": "integer"},
                    "data": {
                        "type": "string",
                        "contentMediaType": "application/json",
                        "contentSchema": {"$ref": "#/components/schemas/StreamEvent"},
                    },
                },
            }
        }
    },
}


@router.get(
    "",
    response_class=StreamingResponse,
    responses={200: _EVENT_STREAM, **refusals(TooManyStreams)},
)
async def stream(
    user: CurrentUser,
    state: State,
    last_event_id: Annotated[
        str,
        Header(
            pattern="^[0-9]{0,18}$",
            description="resume after this event id (SSE clients send it on reconnection); empty: from the start",
        ),
    ] = "",
) -> StreamingResponse:
    """Every state change of the caller's requests, in order, from the one after `Last-Event-ID` (or from
    the start of the retained history). The stream ends when the session does."""
    after = int(last_event_id) if last_event_id else 0
    events = await state.streams.open(user.user_id, user.session_id, after)
    return StreamingResponse(
        events, media_type="text/event-stream", headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
