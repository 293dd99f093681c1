-- Sessions: every token pair belongs to one. Logout revokes the session (access and refresh tokens stop
-- working at once); a refresh token works once (rotation); presenting an old one revokes the session.
create table sessions (
    session_id     uuid primary key,
    user_id        uuid not null references users on delete cascade,
    refresh_jti    text not null,  -- the one refresh token of this session that still works
    created_at     timestamptz not null default now(),
    expires_at     timestamptz not null,
    revoked_at     timestamptz,
    revoked_reason text
);
create index sessions_user on sessions (user_id);
