-- The request log is written by every batch, two rows per request. Its foreign keys made each row check
-- (and lock) its user's and its request's row: most of the time a batch spent recording its events.
-- The log's integrity does not need them: an event is inserted in the transaction that changed its
-- request (which exists, locked), and the janitor deletes a request's log with the request.
alter table request_events
    drop constraint request_events_user_id_fkey,
    drop constraint request_events_request_id_fkey;
