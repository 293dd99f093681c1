-- Failed logins per account and per client address, in fixed windows (shared by every API process).
create table login_failures (
    key        text primary key,  -- 'user:<username>' or 'addr:<client address>'
    window_end timestamptz not null,
    failures   integer not null
);
