/* The statements a connection has prepared (pg_internal.h): found by their
 * text, prepared on first use, forgotten with the connection. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_internal.h"

/* FNV-1a: the cache's first comparison; the text decides. */
static uint64_t
sql_hash(const char *sql)
{
	uint64_t h = 14695981039346656037ULL;
	for (const unsigned char *p = (const unsigned char *) sql; *p; p++) {
		h = (h ^ *p) * 1099511628211ULL;
	}
	return h;
}

static pg_stmt *
find(pg_stmt_cache *sc, const char *sql, uint64_t h)
{
	for (int i = 0; i < sc->n; i++) {
		if (sc->stmts[i].hash == h &&
		    strcmp(sc->stmts[i].sql, sql) == 0) {
			return &sc->stmts[i];
		}
	}
	return NULL;
}

int
pg_stmts_name(pg_stmt_cache *sc, PGconn *c, const char *sql, int nparams,
    char name[PG_STMT_NAME_MAX], PGresult **err)
{
	*err = NULL;
	uint64_t h = sql_hash(sql);
	pg_stmt *st = find(sc, sql, h);
	if (st == NULL) {
		if (sc->n == PG_STMT_CACHE ||
		    PQtransactionStatus(c) == PQTRANS_INERROR) {
			return 0;
		}
		char *copy = strdup(sql);
		if (copy == NULL) {
			return 0;
		}
		unsigned id = sc->next_id++;
		snprintf(name, PG_STMT_NAME_MAX, "core_%u", id);
		PGresult *r = PQprepare(c, name, sql, nparams, NULL);
		if (r == NULL || PQresultStatus(r) != PGRES_COMMAND_OK) {
			free(copy);
			*err = r;
			return -1;
		}
		PQclear(r);
		st = &sc->stmts[sc->n++];
		*st = (pg_stmt){.hash = h, .sql = copy, .id = id};
	}
	snprintf(name, PG_STMT_NAME_MAX, "core_%u", st->id);
	return 1;
}

void
pg_stmts_forget(pg_stmt_cache *sc, const char *sql)
{
	pg_stmt *st = find(sc, sql, sql_hash(sql));
	if (st != NULL) {
		free(st->sql);
		*st = sc->stmts[--sc->n];
	}
}

void
pg_stmts_clear(pg_stmt_cache *sc)
{
	for (int i = 0; i < sc->n; i++) {
		free(sc->stmts[i].sql);
	}
	sc->n = 0;
	sc->next_id = 0;
}
