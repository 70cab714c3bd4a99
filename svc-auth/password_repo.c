/* SQL of the password flows; see password_repo.h. */
#include <stdio.h>
#include <string.h>

#include "auth_metrics.h"
#include "outbox_repo.h"
#include "password_repo.h"

/* Copies the first row's id, username and email. */
static void
read_reset_user(const PGresult *r, auth_reset_user *u)
{
	snprintf(u->id, sizeof(u->id), "%s", PQgetvalue(r, 0, 0));
	snprintf(u->username, sizeof(u->username), "%s", PQgetvalue(r, 0, 1));
	snprintf(u->email, sizeof(u->email), "%s", PQgetvalue(r, 0, 2));
}

/* Runs sql (n params) that selects at most one row of id, username and
 * email into *u; *found says whether it did. */
static core_status
one_reset_user(core_pg *pg, const char *sql, int n, const char *const *params,
    auth_reset_user *u, bool *found)
{
	PGresult *r = NULL;
	*found = false;
	core_status st = core_pg_exec(pg, sql, n, params, &r);
	if (st != CORE_OK) {
		return st;
	}
	if (PQntuples(r) == 1) {
		read_reset_user(r, u);
		*found = true;
	}
	PQclear(r);
	return CORE_OK;
}

core_status
auth_reset_find_by_email(
    core_pg *pg, const char *email, auth_reset_user *u, bool *found)
{
	const char *params[] = {email};
	return one_reset_user(pg,
	    "SELECT id::text, username, email FROM users "
	    "WHERE email = $1 AND status = 'active'",
	    1, params, u, found);
}

core_status
auth_reset_token_write(core_pg *pg, const auth_reset_user *u,
    const auth_users_mail *mail, bool *done)
{
	char tp[CORE_TRACEPARENT_LEN + 1];
	char ttl[24];
	snprintf(ttl, sizeof(ttl), "%d", mail->token_ttl_s);
	const char *params[] = {u->id, u->email, mail->token_hash_hex, ttl,
	    mail->subject, mail->text, mail->html, auth_outbox_trace(tp)};
	core_status st = core_pg_exec_found(pg,
	    "WITH u AS (SELECT id FROM users WHERE id = $1::uuid AND "
	    "email = $2 AND status = 'active' FOR UPDATE), "
	    "t AS (INSERT INTO one_time_tokens "
	    "(token_hash, user_id, purpose, expires_at) "
	    "SELECT decode($3, 'hex'), u.id, 'reset_password', "
	    "now() + make_interval(secs => $4::int) FROM u "
	    "ON CONFLICT (user_id, purpose) DO UPDATE SET "
	    "token_hash = EXCLUDED.token_hash, "
	    "expires_at = EXCLUDED.expires_at, created_at = now()), "
	    "o AS (INSERT INTO outbox (recipient, subject, body_text, "
	    "body_html, traceparent) SELECT $2, $5, $6, $7, $8 FROM u) "
	    "SELECT 1 FROM u",
	    8, params, done);
	return auth_metrics_mail_queued(st, done, 1);
}

core_status
auth_reset_token_peek(
    core_pg *pg, const char *hash_hex, auth_reset_user *u, bool *found)
{
	const char *params[] = {hash_hex};
	return one_reset_user(pg,
	    "SELECT u.id::text, u.username, u.email FROM one_time_tokens t "
	    "JOIN users u ON u.id = t.user_id "
	    "WHERE t.token_hash = decode($1, 'hex') AND "
	    "t.purpose = 'reset_password' AND t.expires_at > now() AND "
	    "u.status = 'active'",
	    1, params, u, found);
}

core_status
auth_reset_token_use(core_pg *pg, const char *hash_hex, const char *user_id,
    const char *password_hash, const auth_users_mail *notice, bool *done)
{
	char tp[CORE_TRACEPARENT_LEN + 1];
	const char *params[] = {hash_hex, user_id, password_hash,
	    notice->subject, notice->text, notice->html,
	    auth_outbox_trace(tp)};
	/* The token is deleted even when it has expired meanwhile: spent
	 * either way. */
	core_status st = core_pg_exec_found(pg,
	    "WITH t AS (DELETE FROM one_time_tokens "
	    "WHERE token_hash = decode($1, 'hex') AND "
	    "purpose = 'reset_password' AND user_id = $2::uuid "
	    "RETURNING user_id, expires_at), "
	    "u AS (UPDATE users SET password_hash = $3, updated_at = now() "
	    "FROM t WHERE users.id = t.user_id AND t.expires_at > now() AND "
	    "users.status = 'active' RETURNING users.email), "
	    "o AS (INSERT INTO outbox (recipient, subject, body_text, "
	    "body_html, traceparent) SELECT u.email, $4, $5, $6, $7 FROM u) "
	    "SELECT 1 FROM u",
	    7, params, done);
	return auth_metrics_mail_queued(st, done, 1);
}

core_status
auth_password_set(core_pg *pg, const char *user_id, const char *password_hash,
    const auth_users_mail *notice, bool *done)
{
	char tp[CORE_TRACEPARENT_LEN + 1];
	const char *params[] = {user_id, password_hash, notice->subject,
	    notice->text, notice->html, auth_outbox_trace(tp)};
	/* A reset link asked for before the change would set the password
	 * back to the asker's choice: it goes. */
	core_status st = core_pg_exec_found(pg,
	    "WITH u AS (UPDATE users SET password_hash = $2, "
	    "updated_at = now() WHERE id = $1::uuid AND status = 'active' "
	    "RETURNING id, email), "
	    "t AS (DELETE FROM one_time_tokens WHERE user_id IN "
	    "(SELECT id FROM u) AND purpose = 'reset_password'), "
	    "o AS (INSERT INTO outbox (recipient, subject, body_text, "
	    "body_html, traceparent) SELECT u.email, $3, $4, $5, $6 FROM u) "
	    "SELECT 1 FROM u",
	    6, params, done);
	return auth_metrics_mail_queued(st, done, 1);
}
