"""Request types for tests only, registered when a test lists this module in `HANDLER_MODULES`.

`test.charge` is the shape of a real handler with an effect: it calls another service (here: it notes its
run in a file and waits), then its database step applies the effect inside the recording transaction
(a ledger deposit, as `ledger.deposit` makes it).
"""

from __future__ import annotations

import asyncio
import os
import random
import string
from pathlib import Path

from pydantic import BaseModel, Field

from request_types import Context, JSONObject, RecordContext, handler
from request_types.builtin import Amount, deposit

RUNS_FILE = "USERQ_TEST_RUNS_FILE"  # where `test.charge` notes each of its runs: one line, the request_id


class Charge(BaseModel):
    amount: int = Field(gt=0)
    wait_ms: int = Field(ge=0, le=60_000)


def _apply(ctx: RecordContext, payload: Charge, result: JSONObject) -> JSONObject:
    return {**result, **deposit(ctx, Amount(amount=payload.amount))}  # the built-in ledger's own effect


@handler("test.charge", Charge, record=_apply)
async def charge(ctx: Context, payload: Charge) -> JSONObject:
    await asyncio.to_thread(_note_run, ctx)
    await asyncio.sleep(payload.wait_ms / 1000)
    return {"charged": payload.amount}


def _note_run(ctx: Context) -> None:
    with Path(os.environ[RUNS_FILE]).open("a") as runs:
        runs.write(f"{ctx.request_id}\n")


class Sized(BaseModel):
    bytes: int = Field(ge=0, le=4 << 20)


@handler("test.sized", Sized)
def sized(ctx: Context, payload: Sized) -> JSONObject:
    """A result of about `bytes` bytes of JSON, random letters (they do not compress away)."""
    return {"blob": "".join(random.choices(string.ascii_letters, k=payload.bytes))}
