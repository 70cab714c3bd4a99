#include <inttypes.h>
#include <stdio.h>

#include "audit_repo.h"

/* Microseconds since the epoch added to the epoch: exact, unlike a double
 * through to_timestamp(). */
#define LIST_SQL                                                              \
	"SELECT id, (extract(epoch FROM time) * 1000000)::bigint, "           \
	"coalesce(actor_id::text, ''), actor_username, action, target, "      \
	"outcome, request_id, client_ip, detail::text FROM audit_log "        \
	"WHERE ($1::uuid IS NULL OR actor_id = $1::uuid) "                    \
	"AND ($2::text IS NULL OR actor_username = $2) "                      \
	"AND ($3::text IS NULL OR target = $3) "                              \
	"AND ($4::text IS NULL OR action = $4) "                              \
	"AND ($5::bigint IS NULL OR time >= 'epoch'::timestamptz + "          \
	"$5::bigint * interval '1 microsecond') "                             \
	"AND ($6::bigint IS NULL OR id < $6::bigint) "                        \
	"AND ($8::text[] IS NULL OR "                                         \
	"(action = ANY($8::text[])) = $9::boolean) "                          \
	"ORDER BY id DESC LIMIT $7::int"

static core_status
run(core_pg *pg, const char *sql)
{
	return core_pg_command(pg, sql, 0, NULL);
}

core_status
admin_audit_begin(core_pg *pg)
{
	/* A connection that broke while idle (a database restart) is only
	 * found out by its next statement, which fails. BEGIN has no effect,
	 * so it alone may be sent again, on the new connection. */
	core_status st = run(pg, "BEGIN");
	return st == CORE_UNAVAILABLE ? run(pg, "BEGIN") : st;
}

core_status
admin_audit_savepoint(core_pg *pg)
{
	return run(pg, "SAVEPOINT audit_gate");
}

core_status
admin_audit_rollback_to_savepoint(core_pg *pg)
{
	return run(pg, "ROLLBACK TO SAVEPOINT audit_gate");
}

core_status
admin_audit_commit(core_pg *pg)
{
	return run(pg, "COMMIT");
}

void
admin_audit_rollback(core_pg *pg)
{
	(void) run(pg, "ROLLBACK");
}

core_status
admin_audit_insert(core_pg *pg, const admin_audit_record *r)
{
	const char *params[] = {r->actor_id, r->actor_username, r->action,
	    r->target, r->outcome, r->request_id, r->client_ip,
	    r->detail_json};
	return core_pg_command(pg,
	    "INSERT INTO audit_log (actor_id, actor_username, action, target, "
	    "outcome, request_id, client_ip, detail) "
	    "VALUES ($1::uuid, $2, $3, $4, $5, $6, $7, $8::jsonb)",
	    8, params);
}

core_status
admin_audit_list(core_pg *pg, const admin_audit_query *q, core_arena *a,
    admin_audit_entry **out, size_t *n)
{
	char since[24], before[24], limit[16];
	snprintf(since, sizeof(since), "%" PRId64, q->since_us);
	snprintf(before, sizeof(before), "%" PRId64, q->before_id);
	snprintf(limit, sizeof(limit), "%d", q->limit);
	const char *params[] = {q->actor_id, q->actor_username, q->target,
	    q->action, q->has_since ? since : NULL,
	    q->before_id > 0 ? before : NULL, limit, q->reads,
	    q->only_reads ? "true" : "false"};
	PGresult *r = NULL;
	core_status st = core_pg_exec(pg, LIST_SQL, 9, params, &r);
	if (st != CORE_OK) {
		return st;
	}
	size_t rows = (size_t) PQntuples(r);
	admin_audit_entry *e =
	    core_arena_calloc(a, rows ? rows : 1, sizeof(*e));
	if (e == NULL) {
		PQclear(r);
		return CORE_RESOURCE_EXHAUSTED;
	}
	for (size_t i = 0; i < rows; i++) {
		int row = (int) i;
		char **texts[] = {&e[i].actor_id, &e[i].actor_username,
		    &e[i].action, &e[i].target, &e[i].outcome,
		    &e[i].request_id, &e[i].client_ip, &e[i].detail_json};
		e[i].id = core_pg_int64(r, row, 0);
		e[i].time_us = core_pg_int64(r, row, 1);
		for (int col = 0; col < 8; col++) {
			*texts[col] =
			    core_arena_strdup(a, PQgetvalue(r, row, col + 2));
			if (*texts[col] == NULL) {
				PQclear(r);
				return CORE_RESOURCE_EXHAUSTED;
			}
		}
	}
	PQclear(r);
	*out = e;
	*n = rows;
	return CORE_OK;
}
