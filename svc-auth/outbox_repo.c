/* SQL for the outbox and the one-time tokens; see outbox_repo.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_metrics.h"
#include "outbox_repo.h"

core_status
auth_tokens_verify_email(
    core_pg *pg, const char *hash_hex, bool *ok, char user_id[37])
{
	const char *params[] = {hash_hex};
	PGresult *r = NULL;
	*ok = false;
	core_status st = core_pg_exec(pg,
	    "WITH t AS (DELETE FROM one_time_tokens "
	    "WHERE token_hash = decode($1, 'hex') AND purpose = "
	    "'verify_email' RETURNING user_id, expires_at) "
	    "UPDATE users SET email_verified = true, updated_at = now() "
	    "FROM t WHERE users.id = t.user_id AND t.expires_at > now() "
	    "RETURNING users.id::text",
	    1, params, &r);
	if (st != CORE_OK) {
		return st;
	}
	if (PQntuples(r) == 1) {
		*ok = true;
		snprintf(user_id, 37, "%s", PQgetvalue(r, 0, 0));
	}
	PQclear(r);
	return CORE_OK;
}

core_status
auth_tokens_resend_verification(
    core_pg *pg, const auth_user *u, const auth_users_mail *mail, bool *done)
{
	char tp[CORE_TRACEPARENT_LEN + 1];
	char ttl[24];
	snprintf(ttl, sizeof(ttl), "%d", mail->token_ttl_s);
	const char *params[] = {u->id, u->email, mail->token_hash_hex, ttl,
	    mail->subject, mail->text, mail->html, auth_outbox_trace(tp)};
	core_status st = core_pg_exec_found(pg,
	    "WITH u AS (SELECT id FROM users WHERE id = $1::uuid AND "
	    "email = $2 AND NOT email_verified AND status = 'active' "
	    "FOR UPDATE), "
	    "t AS (INSERT INTO one_time_tokens "
	    "(token_hash, user_id, purpose, expires_at) "
	    "SELECT decode($3, 'hex'), u.id, 'verify_email', "
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

const char *
auth_outbox_trace(char *buf)
{
	return core_trace_traceparent(buf) ? buf : NULL;
}

core_status
auth_outbox_claim(core_pg *pg, int lease_s, auth_outbox_row *row, bool *found)
{
	char lease[24];
	snprintf(lease, sizeof(lease), "%d", lease_s);
	const char *params[] = {lease};
	PGresult *r = NULL;
	*found = false;
	memset(row, 0, sizeof(*row));
	/* A live sender's lease is longer than its SMTP timeout, so its row
	 * is never taken by another while it sends. */
	core_status st = core_pg_exec(pg,
	    "UPDATE outbox SET state = 'sending', attempts = attempts + 1, "
	    "lease_until = now() + make_interval(secs => $1::int) "
	    "WHERE id = (SELECT id FROM outbox "
	    "WHERE (state = 'queued' AND next_attempt_at <= now()) "
	    "OR (state = 'sending' AND lease_until < now()) "
	    "ORDER BY next_attempt_at LIMIT 1 FOR UPDATE SKIP LOCKED) "
	    "RETURNING id, attempts, recipient, subject, body_text, "
	    "body_html, traceparent",
	    1, params, &r);
	if (st != CORE_OK) {
		return st;
	}
	if (PQntuples(r) != 1) {
		PQclear(r);
		return CORE_OK;
	}
	row->r = r;
	row->id = core_pg_int64(r, 0, 0);
	row->attempts = (int) core_pg_int64(r, 0, 1);
	row->recipient = PQgetvalue(r, 0, 2);
	row->subject = PQgetvalue(r, 0, 3);
	row->text = PQgetvalue(r, 0, 4);
	row->html = PQgetvalue(r, 0, 5);
	row->traceparent = PQgetisnull(r, 0, 6) ? NULL : PQgetvalue(r, 0, 6);
	*found = true;
	return CORE_OK;
}

void
auth_outbox_row_free(auth_outbox_row *row)
{
	PQclear(row->r);
	memset(row, 0, sizeof(*row));
}

core_status
auth_outbox_sent(core_pg *pg, int64_t id)
{
	char ids[24];
	snprintf(ids, sizeof(ids), "%lld", (long long) id);
	const char *params[] = {ids};
	return core_pg_command(pg,
	    "UPDATE outbox SET state = 'sent', sent_at = now(), "
	    "lease_until = NULL, last_error = NULL, body_text = '', "
	    "body_html = '' WHERE id = $1::bigint",
	    1, params);
}

core_status
auth_outbox_failed(
    core_pg *pg, int64_t id, int retry_s, bool dead, const char *error)
{
	char ids[24], retry[24];
	snprintf(ids, sizeof(ids), "%lld", (long long) id);
	snprintf(retry, sizeof(retry), "%d", retry_s);
	const char *params[] = {ids, retry, dead ? "dead" : "queued", error};
	return core_pg_command(pg,
	    "UPDATE outbox SET state = $3, lease_until = NULL, "
	    "last_error = left($4, 500), "
	    "next_attempt_at = now() + make_interval(secs => $2::int) "
	    "WHERE id = $1::bigint",
	    4, params);
}

core_status
auth_outbox_counts(core_pg *pg, int64_t counts[AUTH_OUTBOX_N_STATES])
{
	static const char *const states[] = AUTH_OUTBOX_STATES;
	PGresult *r = NULL;
	core_status st = core_pg_exec(pg,
	    "SELECT state, count(*) FROM outbox GROUP BY state", 0, NULL, &r);
	if (st != CORE_OK) {
		return st;
	}
	memset(counts, 0, sizeof(int64_t) * AUTH_OUTBOX_N_STATES);
	for (int i = 0; i < PQntuples(r); i++) {
		for (int k = 0; k < AUTH_OUTBOX_N_STATES; k++) {
			if (strcmp(PQgetvalue(r, i, 0), states[k]) == 0) {
				counts[k] = core_pg_int64(r, i, 1);
			}
		}
	}
	PQclear(r);
	return CORE_OK;
}

core_status
auth_outbox_backlog(core_pg *pg, int64_t *n, int64_t *oldest_ms)
{
	PGresult *r = NULL;
	core_status st = core_pg_exec(pg,
	    "SELECT count(*), coalesce((extract(epoch FROM "
	    "now() - min(created_at)) * 1000)::bigint, 0) FROM outbox "
	    "WHERE state IN ('queued', 'sending')",
	    0, NULL, &r);
	if (st != CORE_OK) {
		return st;
	}
	*n = core_pg_int64(r, 0, 0);
	*oldest_ms = core_pg_int64(r, 0, 1);
	PQclear(r);
	return CORE_OK;
}

core_status
auth_outbox_queue(core_pg *pg, const char *recipient, const auth_mail_msg *m)
{
	char tp[CORE_TRACEPARENT_LEN + 1];
	const char *params[] = {
	    recipient, m->subject, m->text, m->html, auth_outbox_trace(tp)};
	static const bool one = true;
	core_status st = core_pg_command(pg,
	    "INSERT INTO outbox (recipient, subject, body_text, body_html, "
	    "traceparent) VALUES ($1, $2, $3, $4, $5)",
	    5, params);
	return auth_metrics_mail_queued(st, &one, 1);
}

core_status
auth_tokens_change_email(core_pg *pg, const auth_email_change *ch, bool *done)
{
	char tp[CORE_TRACEPARENT_LEN + 1];
	char ttl[24];
	snprintf(ttl, sizeof(ttl), "%d", ch->token_ttl_s);
	const char *params[] = {ch->user_id, ch->new_email, ch->token_hash_hex,
	    ttl, ch->to_new->subject, ch->to_new->text, ch->to_new->html,
	    ch->to_old->subject, ch->to_old->text, ch->to_old->html,
	    auth_outbox_trace(tp)};
	/* One statement, so one transaction: the token (or the voiding of
	 * the previous one) and both mails exist together or not at all. */
	core_status st = core_pg_exec_found(pg,
	    "WITH u AS (SELECT id, email FROM users WHERE id = $1::uuid "
	    "AND status = 'active' FOR UPDATE), "
	    "d AS (DELETE FROM one_time_tokens WHERE $3::text IS NULL "
	    "AND purpose = 'change_email' AND user_id IN (SELECT id FROM u)), "
	    "t AS (INSERT INTO one_time_tokens "
	    "(token_hash, user_id, purpose, new_email, expires_at) "
	    "SELECT decode($3, 'hex'), u.id, 'change_email', $2, "
	    "now() + make_interval(secs => $4::int) FROM u "
	    "WHERE $3::text IS NOT NULL "
	    "ON CONFLICT (user_id, purpose) DO UPDATE SET "
	    "token_hash = EXCLUDED.token_hash, "
	    "new_email = EXCLUDED.new_email, "
	    "expires_at = EXCLUDED.expires_at, created_at = now()), "
	    "n AS (INSERT INTO outbox (recipient, subject, body_text, "
	    "body_html, traceparent) SELECT $2, $5, $6, $7, $11 FROM u), "
	    "o AS (INSERT INTO outbox (recipient, subject, body_text, "
	    "body_html, traceparent) SELECT u.email, $8, $9, $10, $11 FROM u) "
	    "SELECT 1 FROM u",
	    11, params, done);
	return auth_metrics_mail_queued(st, done, 2);
}

core_status
auth_tokens_confirm_email_change(core_pg *pg, const char *hash_hex,
    auth_email_confirm *outcome, char user_id[37])
{
	const char *params[] = {hash_hex};
	PGresult *r = NULL;
	*outcome = AUTH_EMAIL_CONFIRM_BAD_TOKEN;
	/* The use deletes the token whatever follows; the account moves only
	 * while no other account has the address (the unique index decides
	 * a race with a registration: the statement then fails whole with
	 * ALREADY_EXISTS). The account's other one-time tokens went to, or
	 * were meant for, the old address: they go too. */
	core_status st = core_pg_exec(pg,
	    "WITH t AS (DELETE FROM one_time_tokens "
	    "WHERE token_hash = decode($1, 'hex') AND purpose = "
	    "'change_email' RETURNING user_id, new_email, "
	    "expires_at > now() AS live), "
	    "u AS (UPDATE users SET email = t.new_email, "
	    "email_verified = true, updated_at = now() FROM t "
	    "WHERE users.id = t.user_id AND t.live AND NOT EXISTS "
	    "(SELECT 1 FROM users o WHERE o.email = t.new_email "
	    "AND o.id <> t.user_id) RETURNING users.id), "
	    "x AS (DELETE FROM one_time_tokens o USING u "
	    "WHERE o.user_id = u.id AND o.token_hash <> decode($1, 'hex')) "
	    "SELECT (SELECT live FROM t), (SELECT id::text FROM u)",
	    1, params, &r);
	if (st != CORE_OK) {
		return st;
	}
	if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 1)) {
		*outcome = AUTH_EMAIL_CONFIRM_CHANGED;
		snprintf(user_id, 37, "%s", PQgetvalue(r, 0, 1));
	} else if (PQntuples(r) == 1 && PQgetvalue(r, 0, 0)[0] == 't') {
		*outcome = AUTH_EMAIL_CONFIRM_TAKEN;
	}
	PQclear(r);
	return CORE_OK;
}
