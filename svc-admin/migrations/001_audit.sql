-- The audit log: one row per AdminService call, allowed or refused.
-- Append-only, enforced here rather than trusted to the service: triggers
-- refuse UPDATE, DELETE and TRUNCATE for every role, superusers included,
-- and svc-admin runs its sessions as microcore_admin_app, which may only
-- read and insert.
CREATE TABLE audit_log (
    id             bigserial   PRIMARY KEY,
    time           timestamptz NOT NULL DEFAULT now(),
    actor_id       uuid,
    actor_username text        NOT NULL DEFAULT '',
    action         text        NOT NULL,
    target         text        NOT NULL DEFAULT '',
    outcome        text        NOT NULL
                               CHECK (outcome IN ('ok', 'denied', 'failed')),
    request_id     text        NOT NULL DEFAULT '',
    client_ip      text        NOT NULL DEFAULT '',
    detail         jsonb       NOT NULL DEFAULT '{}'::jsonb,
    CONSTRAINT audit_log_action_len CHECK (length(action) BETWEEN 1 AND 64),
    CONSTRAINT audit_log_fields_len CHECK (
        length(actor_username) <= 64 AND length(target) <= 128 AND
        length(request_id) <= 64 AND length(client_ip) <= 64)
);

-- ListAudit pages newest first by id; each filter has an index that ends in
-- id, so a filtered page is an index range scan, not a sort.
CREATE INDEX audit_log_actor_id_idx ON audit_log (actor_id, id);
CREATE INDEX audit_log_actor_username_idx ON audit_log (actor_username, id);
CREATE INDEX audit_log_target_idx ON audit_log (target, id);
CREATE INDEX audit_log_action_idx ON audit_log (action, id);
CREATE INDEX audit_log_time_idx ON audit_log (time);

CREATE FUNCTION audit_log_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

-- Statement-level, so even a statement that matches no row fails.
CREATE TRIGGER audit_log_no_update_delete
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
-- ALWAYS: they fire under session_replication_role = replica too.
ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_log_no_update_delete;
ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_log_no_truncate;

-- The role svc-admin's sessions run as (SET ROLE after connecting). Roles
-- belong to the cluster, not the database: another database's migration may
-- have made it already, or be making it right now.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles
                   WHERE rolname = 'microcore_admin_app') THEN
        BEGIN
            CREATE ROLE microcore_admin_app NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
    END IF;
    -- A superuser may SET ROLE to anything; any other user that connects
    -- for svc-admin must be a member of the role.
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
       AND NOT pg_has_role(current_user, 'microcore_admin_app', 'MEMBER') THEN
        EXECUTE format('GRANT microcore_admin_app TO %I', current_user);
    END IF;
END
$$;

REVOKE ALL ON audit_log FROM PUBLIC;
REVOKE ALL ON SEQUENCE audit_log_id_seq FROM PUBLIC;
GRANT SELECT, INSERT ON audit_log TO microcore_admin_app;
GRANT USAGE ON SEQUENCE audit_log_id_seq TO microcore_admin_app;
