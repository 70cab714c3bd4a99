-- One profile per user, created on first access from the token's claims
-- (no cross-service write at registration). version counts updates, for
-- optimistic concurrency (ETag / If-Match at the edge).
CREATE TABLE profiles (
    user_id      uuid        PRIMARY KEY,
    username     text        NOT NULL,
    display_name text        NOT NULL DEFAULT '',
    bio          text        NOT NULL DEFAULT '',
    avatar_url   text        NOT NULL DEFAULT '',
    locale       text        NOT NULL DEFAULT '',
    version      bigint      NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT profiles_display_name_len CHECK (char_length(display_name) <= 64),
    CONSTRAINT profiles_bio_len CHECK (char_length(bio) <= 500),
    CONSTRAINT profiles_avatar_len CHECK (length(avatar_url) <= 2048),
    CONSTRAINT profiles_locale_len CHECK (length(locale) <= 35)
);
