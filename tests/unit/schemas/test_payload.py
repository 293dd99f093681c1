from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from schemas.payload import Integer, JsonObject, problem

OBJECT: TypeAdapter[dict[str, Any]] = TypeAdapter(JsonObject)


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True)
    n: Integer


def test_a_payload_that_cannot_travel_says_why() -> None:
    assert problem({"a": [1, "b", {"c": None}]}) is None
    assert "64-bit" in (problem({"a": 2**70}) or "")
    assert "NUL" in (problem({"a": ["x\x00"]}) or "")
    assert "NUL" in (problem({"a\x00": 1}) or "")
    assert problem({"a": "\ud800"}) is not None  # an unpaired surrogate is no UTF-8


def test_a_free_form_object_refuses_nul_and_keeps_numbers_json() -> None:
    assert OBJECT.validate_python({"a": [1, 1.5, True, None, {"b": "c"}]}) == {"a": [1, 1.5, True, None, {"b": "c"}]}
    assert OBJECT.validate_python({"big": 2**70}) == {"big": float(2**70)}  # a JSON number, as a double
    for bad in ({"a": "x\x00"}, {"a\x00": 1}, {"a": [{"b": "\x00"}]}):
        with pytest.raises(ValidationError):
            OBJECT.validate_python(bad)
    schema = OBJECT.json_schema()
    assert schema["propertyNames"] == {"pattern": r"^[^\x00]*$"}
    assert "patternProperties" not in schema


def test_an_integer_takes_an_integral_float_even_when_strict() -> None:
    assert _Strict.model_validate({"n": 3.0}).n == 3
    for bad in (3.5, "3"):
        with pytest.raises(ValidationError):
            _Strict.model_validate({"n": bad})
