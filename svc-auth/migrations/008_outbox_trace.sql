-- The W3C traceparent of the call that queued a mail (NULL: queued outside
-- one), so that the sender's log lines about it carry that call's trace id
-- (docs/operations.md "Following a request"). Version 00 is 55 characters.
ALTER TABLE outbox ADD COLUMN traceparent text
    CHECK (traceparent IS NULL OR length(traceparent) <= 55);
