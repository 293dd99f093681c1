"""GET /v1/types: the registered request types and the JSON Schema of each one's payload."""

from __future__ import annotations

from fastapi import APIRouter

from producer_api.auth import CurrentUser
from producer_api.models import RequestTypes, RequestTypeView
from request_types.registry import registry

router = APIRouter(prefix="/v1/types", tags=["requests"])


@router.get("", response_model=RequestTypes)
async def list_types(user: CurrentUser) -> RequestTypes:
    """What `POST /v1/requests` accepts: each type's name and its payload's schema, as the API validates it."""
    return RequestTypes(
        types=[
            RequestTypeView(
                type=name,
                payload_schema=registry.payload_schema(name),
                payload_required=registry.payload_required(name),
            )
            for name in registry.names()
        ]
    )
