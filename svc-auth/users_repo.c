#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_metrics.h"
#include "auth_validate.h"
#include "outbox_repo.h"
#include "users_repo.h"

/* Key for pg_advisory_xact_lock (keys.c uses the one before it): every
 * change of a user's role or status holds it, so two admins demoting each
 * other at the same moment are decided one after the other, the second
 * seeing the first's result. */
#define ACCESS_LOCK_ID "7166512089012233218"

#define USER_COLUMNS                                                          \
	"id::text, username, email, role, status, "                           \
	"(extract(epoch FROM created_at) * 1000000)::bigint, "                \
	"(extract(epoch FROM updated_at) * 1000000)::bigint, email_verified"

/* Copies row i of a result selecting USER_COLUMNS. */
static void
read_user_row(const PGresult *r, int i, auth_user *u)
{
	snprintf(u->id, sizeof(u->id), "%s", PQgetvalue(r, i, 0));
	snprintf(u->username, sizeof(u->username), "%s", PQgetvalue(r, i, 1));
	snprintf(u->email, sizeof(u->email), "%s", PQgetvalue(r, i, 2));
	snprintf(u->role, sizeof(u->role), "%s", PQgetvalue(r, i, 3));
	snprintf(u->status, sizeof(u->status), "%s", PQgetvalue(r, i, 4));
	u->created_us = core_pg_int64(r, i, 5);
	u->updated_us = core_pg_int64(r, i, 6);
	u->email_verified = PQgetvalue(r, i, 7)[0] == 't';
}

static void
read_user(const PGresult *r, auth_user *u)
{
	read_user_row(r, 0, u);
}

core_status
auth_users_insert(core_pg *pg, const char *username, const char *email,
    const char *password_hash, const auth_users_mail *mail, auth_user *out)
{
	char tp[CORE_TRACEPARENT_LEN + 1];
	char ttl[24];
	snprintf(ttl, sizeof(ttl), "%d", mail->token_ttl_s);
	const char *params[] = {username, email, password_hash,
	    mail->token_hash_hex, ttl, mail->subject, mail->text, mail->html,
	    auth_outbox_trace(tp)};
	PGresult *r = NULL;
	/* One statement, so one transaction: the user, its verification
	 * token and the mail exist together or not at all. */
	core_status st = core_pg_exec(pg,
	    "WITH u AS (INSERT INTO users (username, email, password_hash) "
	    "VALUES ($1, $2, $3) RETURNING " USER_COLUMNS "), "
	    "t AS (INSERT INTO one_time_tokens "
	    "(token_hash, user_id, purpose, expires_at) "
	    "SELECT decode($4, 'hex'), u.id::uuid, 'verify_email', "
	    "now() + make_interval(secs => $5::int) FROM u), "
	    "o AS (INSERT INTO outbox (recipient, subject, body_text, "
	    "body_html, traceparent) SELECT $2, $6, $7, $8, $9 FROM u) "
	    "SELECT * FROM u",
	    9, params, &r);
	if (st != CORE_OK) {
		return st;
	}
	if (PQntuples(r) != 1) {
		PQclear(r);
		return CORE_INTERNAL;
	}
	read_user(r, out);
	PQclear(r);
	auth_metrics_mail(AUTH_MAIL_QUEUED, 1); /* with the user */
	return CORE_OK;
}

core_status
auth_users_taken(core_pg *pg, const char *username, const char *email,
    bool *name_taken, bool *email_taken)
{
	const char *params[] = {username, email};
	PGresult *r = NULL;
	/* Each side is served by its unique index. */
	core_status st = core_pg_exec(pg,
	    "SELECT EXISTS (SELECT 1 FROM users WHERE username = $1), "
	    "EXISTS (SELECT 1 FROM users WHERE email = $2)",
	    2, params, &r);
	if (st != CORE_OK) {
		return st;
	}
	if (PQntuples(r) != 1) {
		PQclear(r);
		return CORE_INTERNAL;
	}
	*name_taken = PQgetvalue(r, 0, 0)[0] == 't';
	*email_taken = PQgetvalue(r, 0, 1)[0] == 't';
	PQclear(r);
	return CORE_OK;
}

/* Runs a one-parameter query selecting USER_COLUMNS (and, when hash is
 * not NULL, password_hash after them) that matches at most one row. */
static core_status
one_user(core_pg *pg, const char *sql, const char *param, auth_user *out,
    char *hash, size_t hashlen)
{
	const char *params[] = {param};
	PGresult *r = NULL;
	core_status st = core_pg_exec(pg, sql, 1, params, &r);
	if (st != CORE_OK) {
		return st;
	}
	if (PQntuples(r) != 1) {
		PQclear(r);
		return CORE_NOT_FOUND;
	}
	read_user(r, out);
	if (hash != NULL) {
		snprintf(hash, hashlen, "%s", PQgetvalue(r, 0, 8));
	}
	PQclear(r);
	return CORE_OK;
}

core_status
auth_users_find_by_username(core_pg *pg, const char *username, auth_user *out,
    char *hash, size_t hashlen)
{
	return one_user(pg,
	    "SELECT " USER_COLUMNS ", password_hash FROM users "
	    "WHERE username = $1",
	    username, out, hash, hashlen);
}

core_status
auth_users_find_by_id(core_pg *pg, const char *id, auth_user *out)
{
	if (!auth_uuid_valid(id)) {
		return CORE_NOT_FOUND; /* the cast would be an SQL error */
	}
	return one_user(pg,
	    "SELECT " USER_COLUMNS " FROM users WHERE id = $1::uuid", id, out,
	    NULL, 0);
}

/* The filters of auth_users_filter but "after": $1 like, $2 status, $3
 * role. */
#define USERS_WHERE                                                           \
	"WHERE ($1::text IS NULL "                                            \
	"       OR username COLLATE \"C\" LIKE $1 ESCAPE '\\' "               \
	"       OR email COLLATE \"C\" LIKE $1 ESCAPE '\\') "                 \
	"  AND ($2::text IS NULL OR status = $2) "                            \
	"  AND ($3::text IS NULL OR role = $3) "

core_status
auth_users_count(core_pg *pg, const auth_users_filter *f, int64_t *total)
{
	const char *params[] = {f->like, f->status, f->role};
	PGresult *r = NULL;
	core_status st = core_pg_exec(
	    pg, "SELECT count(*) FROM users " USERS_WHERE, 3, params, &r);
	if (st != CORE_OK) {
		return st;
	}
	*total = core_pg_int64(r, 0, 0);
	PQclear(r);
	return CORE_OK;
}

core_status
auth_users_list(core_pg *pg, const auth_users_filter *f, int limit,
    auth_user *out, size_t *n)
{
	char lim[16];
	if (limit < 1 || limit > AUTH_USERS_LIST_MAX) {
		return CORE_INVALID_ARGUMENT;
	}
	snprintf(lim, sizeof(lim), "%d", limit);
	const char *params[] = {f->like, f->status, f->role, f->after, lim};
	PGresult *r = NULL;
	/* COLLATE "C": byte order, the same for ORDER BY and ">", served by
	 * the indexes of migration 003. */
	core_status st = core_pg_exec(pg,
	    "SELECT " USER_COLUMNS " FROM users " USERS_WHERE
	    "  AND ($4::text IS NULL OR username COLLATE \"C\" > $4) "
	    "ORDER BY username COLLATE \"C\" LIMIT $5::int",
	    5, params, &r);
	if (st != CORE_OK) {
		return st;
	}
	int rows = PQntuples(r);
	if (rows > limit) {
		PQclear(r);
		return CORE_INTERNAL;
	}
	for (int i = 0; i < rows; i++) {
		read_user_row(r, i, &out[i]);
	}
	*n = (size_t) rows;
	PQclear(r);
	return CORE_OK;
}

static core_status
exec0(core_pg *pg, const char *sql, int nparams, const char *const *params,
    int *rows)
{
	PGresult *r = NULL;
	core_status st = core_pg_exec(pg, sql, nparams, params, &r);
	if (st == CORE_OK && rows != NULL) {
		*rows = PQntuples(r);
	}
	PQclear(r);
	return st;
}

static bool
active_admin(const auth_user *u)
{
	return strcmp(u->role, "admin") == 0 &&
	       strcmp(u->status, "active") == 0;
}

/* Refuses a change that takes away the target's active admin rights when
 * no other active admin would remain. The active admins' rows are locked
 * until the end of the transaction. */
static core_status
keep_an_admin(core_pg *pg, const auth_user *before, const auth_user *after)
{
	if (!active_admin(before) || active_admin(after)) {
		return CORE_OK;
	}
	const char *params[] = {before->id};
	int others = 0;
	core_status st = exec0(pg,
	    "SELECT id FROM users WHERE role = 'admin' AND status = 'active' "
	    "AND id <> $1::uuid ORDER BY id FOR UPDATE",
	    1, params, &others);
	if (st != CORE_OK) {
		return st;
	}
	return others > 0 ? CORE_OK : CORE_FAILED_PRECONDITION;
}

/* The first steps of a transaction that changes who may act (access_tx,
 * delete_tx): the access lock, then, when actor_id is given, that the
 * actor is an active admin now (PERMISSION_DENIED otherwise). */
static core_status
lock_and_check_actor(core_pg *pg, const char *actor_id)
{
	core_status st;
	int rows = 0;
	if ((st = exec0(pg, "SELECT pg_advisory_xact_lock(" ACCESS_LOCK_ID ")",
	         0, NULL, NULL)) != CORE_OK) {
		return st;
	}
	if (actor_id == NULL) {
		return CORE_OK;
	}
	const char *params[] = {actor_id};
	st = exec0(pg,
	    "SELECT 1 FROM users WHERE id = $1::uuid AND "
	    "role = 'admin' AND status = 'active'",
	    1, params, &rows);
	if (st != CORE_OK) {
		return st;
	}
	return rows == 1 ? CORE_OK : CORE_PERMISSION_DENIED;
}

/* The body of the access transaction; by_sql selects USER_COLUMNS of the
 * target FOR UPDATE with key as $1. */
static core_status
access_tx(core_pg *pg, const char *actor_id, const char *by_sql,
    const char *key, const auth_access_change *ch, auth_user *before,
    auth_user *after)
{
	core_status st = lock_and_check_actor(pg, actor_id);
	if (st != CORE_OK) {
		return st;
	}
	if ((st = one_user(pg, by_sql, key, before, NULL, 0)) != CORE_OK) {
		return st;
	}
	*after = *before;
	if (ch->status != NULL) {
		snprintf(
		    after->status, sizeof(after->status), "%s", ch->status);
	}
	if (ch->role != NULL) {
		snprintf(after->role, sizeof(after->role), "%s", ch->role);
	}
	if (strcmp(before->status, after->status) == 0 &&
	    strcmp(before->role, after->role) == 0) {
		return CORE_OK; /* nothing to write */
	}
	if ((st = keep_an_admin(pg, before, after)) != CORE_OK) {
		return st;
	}
	const char *params[] = {before->id, after->status, after->role};
	PGresult *r = NULL;
	st = core_pg_exec(pg,
	    "UPDATE users SET status = $2, role = $3, updated_at = now() "
	    "WHERE id = $1::uuid RETURNING " USER_COLUMNS,
	    3, params, &r);
	if (st == CORE_OK) {
		if (PQntuples(r) == 1) {
			read_user(r, after);
		} else {
			/* The row is locked: it cannot have vanished. */
			st = CORE_INTERNAL;
		}
	}
	PQclear(r);
	return st;
}

/* access_tx in its own transaction. A deadlock or serialisation failure
 * (only possible against writers that bypass the advisory lock) is retried
 * twice. */
static core_status
set_access(core_pg *pg, const char *actor_id, const char *by_sql,
    const char *key, const auth_access_change *ch, auth_user *before,
    auth_user *after)
{
	core_status st = CORE_ABORTED;
	for (int attempt = 0; attempt < 3 && st == CORE_ABORTED; attempt++) {
		if ((st = exec0(pg, "BEGIN", 0, NULL, NULL)) != CORE_OK) {
			return st;
		}
		st = access_tx(pg, actor_id, by_sql, key, ch, before, after);
		if (st == CORE_OK) {
			st = exec0(pg, "COMMIT", 0, NULL, NULL);
		} else {
			/* A broken connection is reset anyway. */
			(void) exec0(pg, "ROLLBACK", 0, NULL, NULL);
		}
	}
	return st;
}

core_status
auth_users_set_access(core_pg *pg, const char *actor_id, const char *id,
    const auth_access_change *ch, auth_user *before, auth_user *after)
{
	if (!auth_uuid_valid(id) ||
	    (actor_id != NULL && !auth_uuid_valid(actor_id))) {
		return CORE_NOT_FOUND;
	}
	return set_access(pg, actor_id,
	    "SELECT " USER_COLUMNS
	    " FROM users WHERE id = $1::uuid FOR UPDATE",
	    id, ch, before, after);
}

core_status
auth_users_set_access_by_username(core_pg *pg, const char *username,
    const auth_access_change *ch, auth_user *before, auth_user *after)
{
	return set_access(pg, NULL,
	    "SELECT " USER_COLUMNS
	    " FROM users WHERE username = $1 FOR UPDATE",
	    username, ch, before, after);
}

/* The body of the deletion transaction: the same lock and checks as a
 * change of access that disables the user (a deleted admin is no admin
 * any more), then the row goes. */
static core_status
delete_tx(core_pg *pg, const char *actor_id, const char *id, auth_user *before)
{
	core_status st = lock_and_check_actor(pg, actor_id);
	if (st != CORE_OK) {
		return st;
	}
	if ((st = one_user(pg,
	         "SELECT " USER_COLUMNS
	         " FROM users WHERE id = $1::uuid FOR UPDATE",
	         id, before, NULL, 0)) != CORE_OK) {
		return st;
	}
	auth_user gone = *before;
	snprintf(gone.status, sizeof(gone.status), "%s", "disabled");
	if ((st = keep_an_admin(pg, before, &gone)) != CORE_OK) {
		return st;
	}
	const char *params[] = {id};
	int rows = 0;
	/* The account's mail goes with it, sent or not: its address is
	 * personal data, and a link in a queued mail is of no use now. */
	if ((st = exec0(pg,
	         "DELETE FROM outbox WHERE recipient = "
	         "(SELECT email FROM users WHERE id = $1::uuid)",
	         1, params, &rows)) != CORE_OK) {
		return st;
	}
	return exec0(
	    pg, "DELETE FROM users WHERE id = $1::uuid", 1, params, &rows);
}

core_status
auth_users_delete(
    core_pg *pg, const char *actor_id, const char *id, auth_user *before)
{
	if (!auth_uuid_valid(id) ||
	    (actor_id != NULL && !auth_uuid_valid(actor_id))) {
		return CORE_NOT_FOUND;
	}
	core_status st = CORE_ABORTED;
	for (int attempt = 0; attempt < 3 && st == CORE_ABORTED; attempt++) {
		if ((st = exec0(pg, "BEGIN", 0, NULL, NULL)) != CORE_OK) {
			return st;
		}
		st = delete_tx(pg, actor_id, id, before);
		if (st == CORE_OK) {
			st = exec0(pg, "COMMIT", 0, NULL, NULL);
		} else {
			(void) exec0(pg, "ROLLBACK", 0, NULL, NULL);
		}
	}
	return st;
}

core_status
auth_users_is_last_admin(core_pg *pg, const char *id, bool *last)
{
	if (!auth_uuid_valid(id)) {
		return CORE_NOT_FOUND;
	}
	const char *params[] = {id};
	PGresult *r = NULL;
	core_status st = core_pg_exec(pg,
	    "SELECT role = 'admin' AND status = 'active' AND NOT EXISTS "
	    "(SELECT 1 FROM users o WHERE o.role = 'admin' AND "
	    "o.status = 'active' AND o.id <> u.id) "
	    "FROM users u WHERE u.id = $1::uuid",
	    1, params, &r);
	if (st == CORE_OK) {
		if (PQntuples(r) == 1) {
			*last = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
		} else {
			st = CORE_NOT_FOUND;
		}
	}
	PQclear(r);
	return st;
}
