/* SQL for two-factor login; see mfa_repo.h. */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "auth_metrics.h"
#include "mfa_repo.h"
#include "outbox_repo.h"

/* The bytea literal of b (n bytes) for a text parameter: "\x" and hex. */
static void
bytea_text(const uint8_t *b, size_t n, char *out, size_t outlen)
{
	out[0] = '\\';
	out[1] = 'x';
	sodium_bin2hex(out + 2, outlen - 2, b, n);
}

/* hashes as a text[] literal: {h1,h2,...}. */
static void
hash_array(char hashes[AUTH_RECOVERY_CODES][65],
    char out[AUTH_RECOVERY_CODES * 66 + 2])
{
	size_t o = 0;
	out[o++] = '{';
	for (int i = 0; i < AUTH_RECOVERY_CODES; i++) {
		if (i > 0) {
			out[o++] = ',';
		}
		memcpy(out + o, hashes[i], 64);
		o += 64;
	}
	out[o++] = '}';
	out[o] = '\0';
}

core_status
auth_mfa_totp_get(core_pg *pg, const char *user_id, auth_mfa_totp *out)
{
	const char *params[] = {user_id};
	PGresult *r = NULL;
	core_status st = core_pg_exec(pg,
	    "SELECT encode(secret_sealed, 'hex'), enabled, last_step, "
	    "extract(epoch FROM now() - created_at)::bigint "
	    "FROM user_totp WHERE user_id = $1::uuid",
	    1, params, &r);
	if (st == CORE_INVALID_ARGUMENT) {
		return CORE_NOT_FOUND; /* not a UUID */
	}
	if (st != CORE_OK) {
		return st;
	}
	if (PQntuples(r) != 1) {
		PQclear(r);
		return CORE_NOT_FOUND;
	}
	size_t n = 0;
	const char *hex = PQgetvalue(r, 0, 0);
	if (sodium_hex2bin(out->sealed, sizeof(out->sealed), hex, strlen(hex),
	        NULL, &n, NULL) != 0 ||
	    n != sizeof(out->sealed)) {
		PQclear(r);
		return CORE_INTERNAL;
	}
	out->enabled = PQgetvalue(r, 0, 1)[0] == 't';
	out->last_step = core_pg_int64(r, 0, 2);
	out->age_s = core_pg_int64(r, 0, 3);
	PQclear(r);
	return CORE_OK;
}

core_status
auth_mfa_status(
    core_pg *pg, const char *user_id, bool *enabled, int *codes_left)
{
	const char *params[] = {user_id};
	PGresult *r = NULL;
	*enabled = false;
	*codes_left = 0;
	core_status st = core_pg_exec(pg,
	    "SELECT coalesce((SELECT enabled FROM user_totp WHERE user_id = "
	    "$1::uuid), false), (SELECT count(*) FROM mfa_recovery_codes "
	    "WHERE user_id = $1::uuid AND used_at IS NULL)",
	    1, params, &r);
	if (st != CORE_OK) {
		return st;
	}
	if (PQntuples(r) == 1) {
		*enabled = PQgetvalue(r, 0, 0)[0] == 't';
		*codes_left = (int) core_pg_int64(r, 0, 1);
	}
	PQclear(r);
	return CORE_OK;
}

core_status
auth_mfa_enroll(core_pg *pg, const char *user_id,
    const uint8_t sealed[AUTH_TOTP_SEALED_BYTES])
{
	char sealed_text[2 * AUTH_TOTP_SEALED_BYTES + 3];
	bytea_text(
	    sealed, AUTH_TOTP_SEALED_BYTES, sealed_text, sizeof(sealed_text));
	const char *params[] = {user_id, sealed_text};
	bool written = false;
	core_status st = core_pg_exec_found(pg,
	    "INSERT INTO user_totp (user_id, secret_sealed) "
	    "VALUES ($1::uuid, $2::bytea) ON CONFLICT (user_id) DO UPDATE "
	    "SET secret_sealed = EXCLUDED.secret_sealed, last_step = 0, "
	    "created_at = now() WHERE NOT user_totp.enabled RETURNING 1",
	    2, params, &written);
	if (st != CORE_OK) {
		return st;
	}
	return written ? CORE_OK : CORE_FAILED_PRECONDITION;
}

core_status
auth_mfa_confirm(core_pg *pg, const char *user_id, int64_t step, int max_age_s,
    char hashes[AUTH_RECOVERY_CODES][65], const auth_mfa_mail *mail,
    bool *done)
{
	char tp[CORE_TRACEPARENT_LEN + 1];
	char step_text[24], age[24], arr[AUTH_RECOVERY_CODES * 66 + 2];
	snprintf(step_text, sizeof(step_text), "%lld", (long long) step);
	snprintf(age, sizeof(age), "%d", max_age_s);
	hash_array(hashes, arr);
	const char *params[] = {user_id, step_text, age, arr, mail->subject,
	    mail->text, mail->html, auth_outbox_trace(tp)};
	/* The old codes (of an earlier time two-factor login was on) go;
	 * their hashes differ from the new ones, so the delete and the
	 * insert of one statement do not meet. */
	core_status st = core_pg_exec_found(pg,
	    "WITH t AS (UPDATE user_totp SET enabled = true, enabled_at = "
	    "now(), last_step = $2::bigint WHERE user_id = $1::uuid AND NOT "
	    "enabled AND created_at > now() - make_interval(secs => "
	    "$3::int) RETURNING user_id), "
	    "d AS (DELETE FROM mfa_recovery_codes WHERE user_id IN "
	    "(SELECT user_id FROM t)), "
	    "i AS (INSERT INTO mfa_recovery_codes (user_id, code_hash) "
	    "SELECT t.user_id, decode(h, 'hex') FROM t, "
	    "unnest($4::text[]) AS h), "
	    "o AS (INSERT INTO outbox (recipient, subject, body_text, "
	    "body_html, traceparent) SELECT u.email, $5, $6, $7, $8 FROM users u JOIN t ON "
	    "u.id = t.user_id) "
	    "SELECT 1 FROM t",
	    8, params, done);
	return auth_metrics_mail_queued(st, done, 1);
}

core_status
auth_mfa_use_step(core_pg *pg, const char *user_id, int64_t step, bool *ok)
{
	char step_text[24];
	snprintf(step_text, sizeof(step_text), "%lld", (long long) step);
	const char *params[] = {user_id, step_text};
	return core_pg_exec_found(pg,
	    "UPDATE user_totp SET last_step = $2::bigint WHERE user_id = "
	    "$1::uuid AND enabled AND last_step < $2::bigint RETURNING 1",
	    2, params, ok);
}

core_status
auth_mfa_use_recovery(
    core_pg *pg, const char *user_id, const char *hash_hex, bool *ok)
{
	const char *params[] = {user_id, hash_hex};
	return core_pg_exec_found(pg,
	    "UPDATE mfa_recovery_codes SET used_at = now() WHERE user_id = "
	    "$1::uuid AND code_hash = decode($2, 'hex') AND used_at IS NULL "
	    "AND EXISTS (SELECT 1 FROM user_totp WHERE user_id = $1::uuid "
	    "AND enabled) RETURNING 1",
	    2, params, ok);
}

core_status
auth_mfa_replace_codes(core_pg *pg, const char *user_id,
    char hashes[AUTH_RECOVERY_CODES][65], const auth_mfa_mail *mail,
    bool *done)
{
	char tp[CORE_TRACEPARENT_LEN + 1];
	char arr[AUTH_RECOVERY_CODES * 66 + 2];
	hash_array(hashes, arr);
	const char *params[] = {user_id, arr, mail->subject, mail->text,
	    mail->html, auth_outbox_trace(tp)};
	core_status st = core_pg_exec_found(pg,
	    "WITH t AS (SELECT user_id FROM user_totp WHERE user_id = "
	    "$1::uuid AND enabled FOR UPDATE), "
	    "d AS (DELETE FROM mfa_recovery_codes WHERE user_id IN "
	    "(SELECT user_id FROM t)), "
	    "i AS (INSERT INTO mfa_recovery_codes (user_id, code_hash) "
	    "SELECT t.user_id, decode(h, 'hex') FROM t, "
	    "unnest($2::text[]) AS h), "
	    "o AS (INSERT INTO outbox (recipient, subject, body_text, "
	    "body_html, traceparent) SELECT u.email, $3, $4, $5, $6 FROM users u JOIN t ON "
	    "u.id = t.user_id) "
	    "SELECT 1 FROM t",
	    6, params, done);
	return auth_metrics_mail_queued(st, done, 1);
}

core_status
auth_mfa_remove(core_pg *pg, const char *user_id, const auth_mfa_mail *mail,
    bool *was_enabled)
{
	char tp[CORE_TRACEPARENT_LEN + 1];
	const char *params[] = {user_id, mail->subject, mail->text, mail->html,
	    auth_outbox_trace(tp)};
	PGresult *r = NULL;
	*was_enabled = false;
	core_status st = core_pg_exec(pg,
	    "WITH t AS (DELETE FROM user_totp WHERE user_id = $1::uuid "
	    "RETURNING enabled), "
	    "d AS (DELETE FROM mfa_recovery_codes WHERE user_id = $1::uuid), "
	    "o AS (INSERT INTO outbox (recipient, subject, body_text, "
	    "body_html, traceparent) SELECT email, $2, $3, $4, $5 FROM users WHERE id = "
	    "$1::uuid AND EXISTS (SELECT 1 FROM t WHERE enabled)) "
	    "SELECT enabled FROM t",
	    5, params, &r);
	if (st != CORE_OK) {
		return st;
	}
	*was_enabled = PQntuples(r) == 1 && PQgetvalue(r, 0, 0)[0] == 't';
	PQclear(r);
	return auth_metrics_mail_queued(CORE_OK, was_enabled, 1);
}
