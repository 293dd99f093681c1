-- userq's first schema: users, the life of every request, and the demo ledger.

create table users (
    user_id         uuid primary key,
    username        text not null unique,
    password_hash   text not null,
    role            text not null default 'user' check (role in ('user', 'admin')),
    created_at      timestamptz not null default now(),
    -- how many of the user's requests are terminal; the next terminal one gets processed_count + 1
    processed_count bigint not null default 0
);

create table requests (
    request_id      uuid primary key,
    user_id         uuid not null references users on delete cascade,
    type            text not null,
    payload         jsonb not null,
    status          text not null check (status in
                        ('queued', 'processing', 'retrying', 'succeeded', 'dead_lettered', 'cancelled')),
    attempts        integer not null default 0,
    result          jsonb,
    error           jsonb,
    accepted_at     timestamptz not null,
    started_at      timestamptz,
    completed_at    timestamptz,
    -- the record's offset in its partition of the requests topic: one user lives in one partition,
    -- so it strictly increases with acceptance order within a user. Null only inside the accepting
    -- transaction, before the broker has acknowledged the record.
    sequence        bigint,
    kafka_partition integer,
    processed_seq   bigint,
    idempotency_key text,
    body_hash       bytea,
    trace_id        text not null,
    unique (user_id, idempotency_key),
    check ((processed_seq is null) = (status not in ('succeeded', 'dead_lettered', 'cancelled')))
);
create index requests_user_sequence on requests (user_id, sequence);
create index requests_user_status_sequence on requests (user_id, status, sequence);
-- a terminal-state counter value is given once per user: a double completion cannot commit
create unique index requests_user_processed_seq on requests (user_id, processed_seq)
    where processed_seq is not null;

create table ledger_accounts (
    user_id uuid primary key references users on delete cascade,
    balance bigint not null default 0 check (balance >= 0)
);

-- one row per applied ledger request: its primary key makes a second application impossible
create table ledger_entries (
    request_id    uuid primary key references requests on delete cascade,
    user_id       uuid not null references users on delete cascade,
    amount        bigint not null,
    balance_after bigint not null,
    created_at    timestamptz not null default now()
);
