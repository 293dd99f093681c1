-- A crash counter per request (issue 15): how many times its current attempt was handed to a handler (its
-- claim) without an outcome recorded. A tick writes it when it claims the request, so it is committed
-- before the handler runs and outlives a worker that dies running it; an outcome sets it back to 0. A
-- request claimed MAX_RECORD_CRASHES times is dead-lettered (cause `crashed_worker`) instead of run again.
alter table requests add column claims int not null default 0;
