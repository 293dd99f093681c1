"""Request types for tests only, registered when a test lists this module in `HANDLER_MODULES`.

`test.charge` is the shape of a real handler with an effect: it calls another service (here: it notes its
run in a file and waits), then its database step applies the effect inside the recording transaction
(a ledger deposit, as `ledger.deposit` makes it).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import string
from pathlib import Path
from typing import Literal

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


class Misbehave(BaseModel):
    """`test.misbehave`: a handler or a database step whose output PostgreSQL or the wire refuses, or that
    takes its worker down (`how`); `text`, the payload's text a step writes (`refused_index_row`)."""

    how: Literal[
        "nul_result",
        "nul_error",
        "surrogate_error",
        "swallowed_db_error",
        "refused_index_row",
        "cancelled_statement",
        "lock_timeout",
        "kill_worker",
    ]
    text: str = ""


NOTES_TABLE = "create table if not exists test_notes (note text primary key)"  # a handler's own table, indexed


def _misbehave_step(ctx: RecordContext, payload: Misbehave, result: JSONObject) -> JSONObject:
    if payload.how == "swallowed_db_error":
        with contextlib.suppress(Exception):  # the mistake under test: the step carries on after it
            ctx.db.execute("select 1 / 0")
    elif payload.how == "refused_index_row":
        ctx.db.execute("insert into test_notes (note) values (%s)", (payload.text,))
    elif payload.how == "cancelled_statement":
        ctx.db.execute("set local statement_timeout = '50ms'")
        ctx.db.execute("select pg_sleep(1)")
    elif payload.how == "lock_timeout":
        ctx.db.execute("set local lock_timeout = '50ms'")
        ctx.db.execute("lock table test_notes in access exclusive mode")
    return result


@handler("test.misbehave", Misbehave, record=_misbehave_step, max_attempts=2)
async def misbehave(ctx: Context, payload: Misbehave) -> JSONObject:
    if payload.how == "nul_result":
        return {"text": "a\x00b"}
    if payload.how == "nul_error":
        raise ValueError("a\x00b")
    if payload.how == "surrogate_error":
        raise ValueError("half a pair: \ud800")
    if payload.how == "kill_worker":
        os.kill(os.getpid(), signal.SIGKILL)  # the worker dies while the handler runs: nothing is recorded
    return {"how": payload.how}
