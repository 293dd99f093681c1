"""Built-in request types: demo.* for trying userq out, ledger.* to show exactly-once database effects."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel, ConfigDict, Field, RootModel

from request_types import Context, JSONObject, PermanentError, RecordContext, TransientError, handler, in_transaction
from schemas.payload import Integer, JsonObject

MAX_AMOUNT = 10**12


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class AnyObject(RootModel[JsonObject]):
    """Any JSON object that every hop can carry (see `schemas.payload`)."""


class Sleep(_Strict):
    ms: Integer = Field(ge=0, le=10_000)


class Flaky(_Strict):
    fail_times: Integer = Field(ge=0, le=100)
    retry_after_s: float | None = Field(None, ge=0, le=3600, description="the delay each failure asks for")


class Empty(_Strict):
    pass


class Amount(_Strict):
    amount: Integer = Field(gt=0, le=MAX_AMOUNT, description="in the smallest unit of the currency")


@handler("demo.echo", AnyObject)
async def echo(ctx: Context, payload: AnyObject) -> JSONObject:
    return payload.root


@handler("demo.sleep", Sleep)  # waits like a call to another service would, holding nothing
async def sleep(ctx: Context, payload: Sleep) -> JSONObject:
    await asyncio.sleep(payload.ms / 1000)
    return {"slept_ms": payload.ms}


@handler("demo.flaky", Flaky)  # a plain def: runs in the worker's handler threads
def flaky(ctx: Context, payload: Flaky) -> JSONObject:
    if ctx.attempt <= payload.fail_times:
        raise TransientError(f"demo.flaky fails attempt {ctx.attempt} of {payload.fail_times}", payload.retry_after_s)
    return {"attempts": ctx.attempt}


@handler("demo.poison", Empty)
async def poison(ctx: Context, payload: Empty) -> JSONObject:
    raise PermanentError("demo.poison always fails")


@in_transaction("ledger.deposit", Amount)  # the effect commits with the request's outcome, once
def deposit(ctx: RecordContext, payload: Amount) -> JSONObject:
    row = ctx.db.execute(
        """insert into ledger_accounts (user_id, balance) values (%s, %s)
           on conflict (user_id) do update set balance = ledger_accounts.balance + excluded.balance
           returning balance""",
        (ctx.user_id, payload.amount),
    ).fetchone()
    assert row is not None
    return _entry(ctx, payload.amount, row[0])


@in_transaction("ledger.withdraw", Amount)
def withdraw(ctx: RecordContext, payload: Amount) -> JSONObject:
    row = ctx.db.execute("select balance from ledger_accounts where user_id = %s for update", (ctx.user_id,)).fetchone()
    balance = row[0] if row else 0
    if balance < payload.amount:
        return {"ok": False, "reason": "insufficient_funds", "balance": balance}
    ctx.db.execute(
        "update ledger_accounts set balance = balance - %s where user_id = %s", (payload.amount, ctx.user_id)
    )
    return _entry(ctx, -payload.amount, balance - payload.amount)


def _entry(ctx: RecordContext, amount: int, balance: int) -> JSONObject:
    ctx.db.execute(
        "insert into ledger_entries (request_id, user_id, amount, balance_after) values (%s, %s, %s, %s)",
        (ctx.request_id, ctx.user_id, amount, balance),
    )
    return {"ok": True, "balance": balance}
