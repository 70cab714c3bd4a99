-- Administration (AdminListUsers, the last-admin rule). Listing pages by
-- username in byte order (COLLATE "C", whatever the database's collation)
-- and prefix searches on username or email, which a "C" index serves.
CREATE INDEX users_username_c ON users (username COLLATE "C");
CREATE INDEX users_email_c ON users (email COLLATE "C");
-- The active admins, locked and counted before one is demoted or disabled.
CREATE INDEX users_active_admins ON users (id)
    WHERE role = 'admin' AND status = 'active';
