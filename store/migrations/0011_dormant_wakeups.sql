-- Retries due later than WAKEUP_HORIZON_S (issue 15): their wake-up is not held in a worker's memory,
-- which would keep the retry partition's commit point behind it. The request's `next_attempt_at` is the
-- authority; this row says that no wake-up of it waits anywhere, so a worker's sweep publishes a new one
-- when `due_at` comes within the horizon (store/dormant.py).
create table dormant_wakeups (
    request_id uuid primary key,
    due_at timestamptz not null
);
create index dormant_wakeups_due on dormant_wakeups (due_at);
