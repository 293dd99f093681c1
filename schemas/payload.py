"""What a request payload may hold: JSON that every hop (Kafka record, PostgreSQL jsonb, result) carries.

PostgreSQL's jsonb refuses the NUL character in strings; our JSON encoder (orjson) refuses integers
beyond 64 bits and unpaired surrogates. `JsonObject` is the pydantic type of a free-form payload that
keeps to that (its JSON schema says so; integers beyond 64 bits become floats, as JSON numbers are);
`problem` says what breaks it in any payload, whatever its model. `Integer` is an int field that takes
3.0 for 3, as JSON Schema does (JSON has one number type), also in a strict model.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from pydantic import BeforeValidator, Field, GetJsonSchemaHandler, StringConstraints
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema
from typing_extensions import TypeAliasType

NO_NUL = r"^[^\x00]*$"


class _KeysAreText:
    """JSON schema of a dict with constrained keys: `propertyNames`, not pydantic's `patternProperties`
    (which would leave other keys unconstrained)."""

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        json_schema = handler(schema)
        [(pattern, values)] = json_schema.pop("patternProperties").items()
        return {**json_schema, "propertyNames": {"pattern": pattern}, "additionalProperties": values}


def _integral(value: object) -> object:
    return int(value) if isinstance(value, float) and value.is_integer() else value


Integer = Annotated[int, BeforeValidator(_integral)]
Text = Annotated[str, StringConstraints(pattern=NO_NUL)]
Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
JsonValue = TypeAliasType(
    "JsonValue",
    "Text | Int64 | float | bool | list[JsonValue] | Annotated[dict[Text, JsonValue], _KeysAreText()] | None",
)
JsonObject = Annotated[dict[Text, JsonValue], _KeysAreText()]


def problem(payload: dict[str, Any]) -> str | None:
    """Why `payload` cannot travel, or None."""
    try:
        orjson.dumps(payload)
    except orjson.JSONEncodeError as exc:
        return str(exc)
    if _has_nul(payload):
        return "strings may not contain the NUL character (\\u0000)"
    return None


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any("\x00" in key or _has_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False
