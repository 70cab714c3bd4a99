/* SQL for the audit_log table of admindb. All statements are
 * parameterized; the table only takes INSERT and SELECT (see
 * migrations/001_audit.sql). */
#ifndef ADMIN_AUDIT_REPO_H
#define ADMIN_AUDIT_REPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/pg.h"

/* One row to write. Strings must be valid UTF-8 within the table's length
 * limits (the caller clips them). */
typedef struct admin_audit_record {
	const char *actor_id;       /* a UUID, or NULL: no verified caller */
	const char *actor_username; /* "" when none */
	const char *action;         /* "users.update" */
	const char *target;         /* a user id, or "" */
	const char *outcome;        /* "ok", "denied" or "failed" */
	const char *request_id;
	const char *client_ip;
	const char *detail_json; /* a JSON object */
} admin_audit_record;

/* INSERTs r (in the transaction open on pg, if any). */
core_status admin_audit_insert(core_pg *pg, const admin_audit_record *r);

/* Transaction control for the write-before-act sequence:
 * BEGIN, SAVEPOINT, ROLLBACK TO SAVEPOINT, COMMIT, ROLLBACK. BEGIN is sent
 * a second time when the first found the connection broken. */
core_status admin_audit_begin(core_pg *pg);
core_status admin_audit_savepoint(core_pg *pg);
core_status admin_audit_rollback_to_savepoint(core_pg *pg);
core_status admin_audit_commit(core_pg *pg);
/* Ends any open transaction; a failure only means the connection is gone
 * (and the server rolls back by itself). */
void admin_audit_rollback(core_pg *pg);

/* A ListAudit query: NULL filters match everything. */
typedef struct admin_audit_query {
	const char *actor_id;       /* exact actor_id (a UUID) */
	const char *actor_username; /* exact actor_username */
	const char *target;
	const char *action;
	/* Only the actions of this list ("{users.list,users.get}", a
	 * PostgreSQL text[] literal), or (reads false) only the others. */
	const char *reads;
	bool only_reads;
	bool has_since;
	int64_t since_us;  /* time >= since, Unix microseconds */
	int64_t before_id; /* only ids below this; 0 = from the newest */
	int limit;         /* rows at most */
} admin_audit_query;

/* One row read back; strings in the arena given to admin_audit_list. */
typedef struct admin_audit_entry {
	int64_t id;
	int64_t time_us;
	char *actor_id; /* "" for NULL */
	char *actor_username;
	char *action;
	char *target;
	char *outcome;
	char *request_id;
	char *client_ip;
	char *detail_json;
} admin_audit_entry;

/* The rows matching q, newest (highest id) first, at most q->limit, into
 * *out (n entries, allocated in a). CORE_RESOURCE_EXHAUSTED when the arena
 * is full. */
core_status admin_audit_list(core_pg *pg, const admin_audit_query *q,
    core_arena *a, admin_audit_entry **out, size_t *n);

#endif
