-- The queue manager and the request log: pause/resume, queue life, every state transition, live streams.

-- A queue is created on its user's first request and removed (this row deleted) once it is drained and
-- its user has disconnected. A paused queue accepts requests but starts none; `paused_by` says who may
-- resume it (a user cannot resume what an operator paused).
alter table user_queues
    add column created_at timestamptz not null default now(),
    add column paused_at  timestamptz,
    add column paused_by  text check (paused_by in ('user', 'admin')),
    add check ((paused_at is null) = (paused_by is null));

-- Requests not yet terminal, in each user's order: queue views, the overview and the pending cap.
create index requests_pending on requests (user_id, sequence)
    where status in ('queued', 'processing', 'retrying');

-- Each user's state changes are numbered 1, 2, 3… in commit order: the `id` of the live stream's
-- events, so a client that reconnects with `Last-Event-ID` misses none. The counter row is locked only
-- from the statement that numbers a transaction's events until its commit (always a transaction's last
-- statement), so accepting a request never waits for a batch of the same user in progress.
create table event_counters (
    user_id  uuid primary key references users on delete cascade,
    last_seq bigint not null
);

-- The request log: one row per state transition, with the attempt, who made it and the error.
create table request_events (
    user_id    uuid not null references users on delete cascade,
    seq        bigint not null,
    request_id uuid not null references requests on delete cascade,
    status     text not null check (status in
                   ('queued', 'processing', 'retrying', 'succeeded', 'dead_lettered', 'cancelled')),
    attempt    integer not null,
    at         timestamptz not null,
    actor      text not null,  -- 'api', 'admin' or the worker's id
    error      jsonb,
    primary key (user_id, seq)
);
create index request_events_request on request_events (request_id);
create index request_events_at on request_events (at);

-- Open live streams, refreshed by their heartbeats: a user with one is connected.
create unlogged table streams (
    stream_id uuid primary key,
    user_id   uuid not null references users on delete cascade,
    opened_at timestamptz not null default now(),
    seen_at   timestamptz not null default now()
);
create index streams_user on streams (user_id);

-- Numbers and inserts the events of one transaction (given in order) and notifies live streams.
create function record_events(
    p_user_ids uuid[], p_request_ids uuid[], p_statuses text[], p_attempts int[], p_at timestamptz[],
    p_errors jsonb[], p_actor text
) returns void language sql as $$
    with e as (
        select * from unnest(p_user_ids, p_request_ids, p_statuses, p_attempts, p_at, p_errors)
            with ordinality as x(user_id, request_id, status, attempt, at, error, n)
    ), counts as (
        select user_id, count(*) as k from e group by user_id
    ), numbered as (
        insert into event_counters as c (user_id, last_seq)
        select user_id, k from counts order by user_id
        on conflict (user_id) do update set last_seq = c.last_seq + excluded.last_seq
        returning user_id, last_seq
    ), inserted as (
        insert into request_events (user_id, seq, request_id, status, attempt, at, actor, error)
        select e.user_id, b.last_seq - c.k + row_number() over (partition by e.user_id order by e.n),
               e.request_id, e.status, e.attempt, e.at, p_actor, e.error
          from e join counts c using (user_id) join numbered b using (user_id)
        returning user_id
    )
    -- only users with an open stream: NOTIFY serialises commits, most users never listen (a stream that
    -- opens meanwhile reads the events at its next heartbeat at the latest)
    select pg_notify('userq_events', u.user_id::text) from (select distinct user_id from inserted) as u
     where exists (select 1 from streams s where s.user_id = u.user_id);
$$;

-- "System metrics" in the database, per minute and request type.
create view throughput_per_minute as
select date_trunc('minute', e.at) as minute, r.type,
       count(*) filter (where e.status = 'queued') as accepted,
       count(*) filter (where e.status = 'processing') as attempts,
       count(*) filter (where e.status = 'succeeded') as succeeded,
       count(*) filter (where e.status = 'dead_lettered') as dead_lettered,
       count(*) filter (where e.status = 'cancelled') as cancelled
  from request_events e join requests r using (request_id)
 group by 1, 2;

create view latency_per_minute as
select date_trunc('minute', completed_at) as minute, type, count(*) as completed,
       percentile_cont(0.5) within group (order by extract(epoch from completed_at - accepted_at)) * 1000
           as end_to_end_p50_ms,
       percentile_cont(0.99) within group (order by extract(epoch from completed_at - accepted_at)) * 1000
           as end_to_end_p99_ms,
       percentile_cont(0.5) within group (order by extract(epoch from started_at - accepted_at)) * 1000
           as wait_p50_ms,
       max(extract(epoch from completed_at - accepted_at)) * 1000 as end_to_end_max_ms
  from requests
 where status in ('succeeded', 'dead_lettered') and started_at is not null
 group by 1, 2;

create view failures_per_minute as
select date_trunc('minute', e.at) as minute, r.type,
       count(*) filter (where e.status = 'retrying') as retries,
       count(*) filter (where e.status = 'dead_lettered') as dead_lettered,
       count(distinct e.request_id) as requests
  from request_events e join requests r using (request_id)
 where e.status in ('retrying', 'dead_lettered')
 group by 1, 2;

-- Retention: terminal requests older than the retention setting are deleted (with their log).
create index requests_completed_at on requests (completed_at) where completed_at is not null;

-- A user is connected while a session's access token is still valid (it was issued or refreshed within
-- ACCESS_TOKEN_TTL_S) or a live stream is open; then their drained queue stays.
alter table sessions add column access_expires_at timestamptz;
