-- Sessions are checked in each API process's memory (issue 14): every change that can end a session's
-- access notifies `userq_sessions` with the user's id, and each API process forgets what it knew of
-- that user's sessions. A trigger is the one place that sees every such change: a logout or a
-- revocation, a role changed, a user or a session deleted, whichever code path made it.
create function notify_session_change() returns trigger language plpgsql as $$
begin
    perform pg_notify('userq_sessions', old.user_id::text);
    return null;
end
$$;

create trigger sessions_changed after update of revoked_at or delete on sessions
    for each row execute function notify_session_change();
create trigger users_changed after update of role or delete on users
    for each row execute function notify_session_change();

-- The submit limits moved into the API processes (a token bucket each, and a pending count refreshed
-- at most once a second per user): nothing per request in PostgreSQL, and PostgreSQL away stops no
-- acceptance.
drop function admit_submission(uuid, int, double precision, double precision, bigint);
drop table submit_buckets;
