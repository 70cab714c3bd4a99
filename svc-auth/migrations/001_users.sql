-- Accounts. Usernames and emails are stored normalised (lower-case), so the
-- unique constraints are case-insensitive in effect.
CREATE TABLE users (
    id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    username      text        NOT NULL,
    email         text        NOT NULL,
    password_hash text        NOT NULL,
    role          text        NOT NULL DEFAULT 'user'
                              CHECK (role IN ('user', 'admin')),
    status        text        NOT NULL DEFAULT 'active'
                              CHECK (status IN ('active', 'disabled')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_username_key UNIQUE (username),
    CONSTRAINT users_email_key UNIQUE (email),
    CONSTRAINT users_username_shape CHECK (username ~ '^[a-z0-9_.-]{3,32}$'),
    CONSTRAINT users_email_shape CHECK (length(email) BETWEEN 3 AND 254)
);
