-- Per-user submit rate: a token bucket per user, shared by every API process.
create table submit_buckets (
    user_id     uuid primary key references users on delete cascade,
    tokens      double precision not null,
    refilled_at timestamptz not null
);
