-- Failures without losing order: per-user holds, parked requests, retry schedule, dead letters, fencing.

-- One row per user that has used the queue. `held_by` is the request that holds the user's later
-- requests back: one waiting for its retry ('retrying'), or one dead-lettered under the 'halt' policy
-- ('halted'). Every worker decision about a user is taken under this row's lock.
create table user_queues (
    user_id     uuid primary key references users on delete cascade,
    held_by     uuid,  -- a request of this user (no foreign key: deleting the user deletes both)
    hold_reason text check (hold_reason in ('retrying', 'halted')),
    check ((held_by is null) = (hold_reason is null))
);

alter table requests
    -- read from Kafka while its user was held: waits in PostgreSQL (its offset is committed)
    add column parked          boolean not null default false,
    add column next_attempt_at timestamptz,
    add column first_failed_at timestamptz,
    add column last_failed_at  timestamptz,
    -- set when an operator discards a dead letter: it leaves the dead-letter list
    add column discarded_at    timestamptz,
    -- attempts made before the last redrive: a redriven request gets a fresh retry budget
    add column attempts_before_redrive integer not null default 0;

create index requests_parked on requests (user_id, sequence) where parked;
create index requests_dead_letters on requests (user_id, sequence)
    where status = 'dead_lettered' and discarded_at is null;

-- Fencing: a worker bumps the epoch of a partition when it starts to process it and checks, inside
-- every batch transaction, that the epoch is still its own. A worker that was paused while its
-- partitions moved on (a zombie) finds a newer epoch and writes nothing.
create table partition_owners (
    topic     text not null,
    partition integer not null,
    epoch     bigint not null,
    owner     text not null,
    primary key (topic, partition)
);

-- Transactional outbox: every record a batch publishes (results, dead letters, wake-ups) is written here
-- in the batch's transaction and deleted once Kafka has it. A worker that dies in between leaves the rows
-- behind: the next transaction that touches the user publishes them first (so the user's events stay in
-- order), and a periodic sweep publishes the rows of users nobody touches.
create table outbox (
    id            bigserial primary key,
    user_id       uuid,
    topic         text not null,
    key           bytea,
    value         bytea,
    header_names  text[] not null,
    header_values bytea[] not null,
    created_at    timestamptz not null default clock_timestamp()  -- when written, not when the batch began
);
create index outbox_user on outbox (user_id, id);
create index outbox_created on outbox (created_at);
