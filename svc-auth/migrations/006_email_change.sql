-- Email change: the token of a change carries the address it moves the
-- account to (the link goes to that address; the row of users changes only
-- when the link is used). The purposes of a one-time token are set anew
-- whatever an earlier migration allowed: every CHECK that lists the
-- purposes (purpose IN (...), which PostgreSQL keeps as purpose = ANY
-- (...), or purpose = '...' for one value) is replaced by one that lists
-- them all.
DO $$
DECLARE
    c name;
BEGIN
    FOR c IN
        SELECT conname FROM pg_constraint
        WHERE conrelid = 'one_time_tokens'::regclass AND contype = 'c'
          AND pg_get_constraintdef(oid) LIKE 'CHECK ((purpose = %'
    LOOP
        EXECUTE format('ALTER TABLE one_time_tokens DROP CONSTRAINT %I', c);
    END LOOP;
END
$$;

ALTER TABLE one_time_tokens
    ADD CONSTRAINT one_time_tokens_purpose_check
        CHECK (purpose IN ('verify_email', 'reset_password', 'change_email'));

-- The pending address of a change_email token (lower-cased, as
-- users.email); no other purpose has one.
ALTER TABLE one_time_tokens
    ADD COLUMN new_email text CHECK (length(new_email) <= 254),
    ADD CONSTRAINT one_time_tokens_change_email_check
        CHECK ((purpose = 'change_email') = (new_email IS NOT NULL));
