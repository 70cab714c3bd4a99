-- Account lifecycle: whether the email address is proven, the one-time
-- tokens sent by mail, and the outbox the mail waits in.
ALTER TABLE users ADD COLUMN email_verified boolean NOT NULL DEFAULT false;

-- A one-time token is stored only as its SHA-256; the token itself is in
-- the mail alone. One live token per user and purpose: a new one replaces
-- the previous (the unique index), a use deletes it.
CREATE TABLE one_time_tokens (
    token_hash bytea       PRIMARY KEY CHECK (length(token_hash) = 32),
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    text        NOT NULL CHECK (purpose IN ('verify_email')),
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX one_time_tokens_user_purpose
    ON one_time_tokens (user_id, purpose);

-- Mail to send, written in the transaction of the change that causes it.
-- queued: waits for next_attempt_at; sending: claimed by a sender until
-- lease_until (after it, another sender takes it again); sent: delivered
-- (the bodies are then cleared: they may hold a token); dead: gave up after
-- the configured attempts (re-queue: docs/operations.md).
CREATE TABLE outbox (
    id              bigserial   PRIMARY KEY,
    recipient       text        NOT NULL CHECK (length(recipient) <= 254),
    subject         text        NOT NULL,
    body_text       text        NOT NULL,
    body_html       text        NOT NULL,
    state           text        NOT NULL DEFAULT 'queued'
                                CHECK (state IN ('queued', 'sending', 'sent', 'dead')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_until     timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);
CREATE INDEX outbox_pending ON outbox (next_attempt_at)
    WHERE state IN ('queued', 'sending');
