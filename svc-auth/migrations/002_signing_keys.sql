-- Ed25519 signing keys. The private half is sealed with the key-encryption
-- key from the configuration (crypto_secretbox); the public half is
-- published in the JWKS until retire_after.
CREATE TABLE signing_keys (
    kid          text        PRIMARY KEY,
    public_key   bytea       NOT NULL CHECK (length(public_key) = 32),
    sealed_key   bytea       NOT NULL,
    nonce        bytea       NOT NULL,
    active       boolean     NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    retire_after timestamptz
);
-- At most one active key.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (active) WHERE active;
