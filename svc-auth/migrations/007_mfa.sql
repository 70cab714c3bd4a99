-- Two-factor login: a TOTP secret per user (RFC 6238) and single-use
-- recovery codes.
--
-- The secret is sealed with the key-encryption key, as the signing keys
-- are (crypto_secretbox: 24-byte nonce, then the 20-byte secret with its
-- 16-byte tag). A row with enabled = false is an enrolment waiting for
-- its first code; it is replaced by a new enrolment and ignored once
-- older than the enrolment window. last_step is the time step of the last
-- code accepted: a code is accepted only for a later step, in one UPDATE,
-- so a code works once however many replicas see it.
CREATE TABLE user_totp (
    user_id       uuid        PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret_sealed bytea       NOT NULL CHECK (length(secret_sealed) = 60),
    enabled       boolean     NOT NULL DEFAULT false,
    last_step     bigint      NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    enabled_at    timestamptz
);

-- Only a hash of each code is stored (SHA-256 over the user id and the
-- normalised code); a use sets used_at in one UPDATE, so a code works once
-- however many callers present it at the same time.
CREATE TABLE mfa_recovery_codes (
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  bytea       NOT NULL CHECK (length(code_hash) = 32),
    used_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, code_hash)
);
