-- The submit limits in one statement (they were five: begin, refill, count, take, commit): refill the
-- user's token bucket, count their pending requests, and take `p_count` tokens only when both allow it.
-- The bucket's row lock orders one user's concurrent submissions; what is refused takes nothing.
create function admit_submission(
    p_user uuid, p_count int, p_rate double precision, p_burst double precision, p_max_pending bigint,
    out tokens double precision, out pending bigint, out admitted boolean
) language plpgsql as $$
begin
    insert into submit_buckets (user_id, tokens, refilled_at) values (p_user, p_burst, clock_timestamp())
        on conflict (user_id) do nothing;
    select least(p_burst, b.tokens + extract(epoch from clock_timestamp() - b.refilled_at) * p_rate)
      into tokens
      from submit_buckets b where b.user_id = p_user for update;
    select count(*) into pending from requests
     where user_id = p_user and status in ('queued', 'processing', 'retrying');
    admitted := tokens >= p_count and pending + p_count <= p_max_pending;
    update submit_buckets
       set tokens = admit_submission.tokens - case when admitted then p_count else 0 end,
           refilled_at = clock_timestamp()
     where user_id = p_user;
end
$$;
