-- Handlers run outside any transaction (issue 12): a request a worker has handed to its handler is
-- `processing`, and `claimed_from` says which partition's record drives it ('topic:partition'). A
-- parked request claimed by a drain that another partition's record drives is left to that one: two
-- workers never run a user's parked requests side by side. The partition's next owner, reading the
-- same record again, takes the claim over (see stream_worker/processor.py, `drain`).
alter table requests add column claimed_from text;
