/* Shared between the connection handle (pg.c), its prepared statements
 * (pg_stmt.c) and migrations (pg_migrate.c); not for callers of
 * core/pg.h. */
#ifndef CORE_PG_INTERNAL_H
#define CORE_PG_INTERNAL_H

#include <stdint.h>

#include <libpq-fe.h>

#include "core/pg.h"

/* The handle's connection as it is now, NULL while down; for statements
 * that core_pg_exec cannot run (several in one string, transaction
 * control). It stays the handle's: never PQfinish it. Any core_pg_exec may
 * replace it or set it to NULL. */
PGconn *pg_connection(core_pg *pg);

/* Statements prepared per connection; more distinct ones than this run
 * unnamed (parsed and planned on each call). */
#define PG_STMT_CACHE 128
#define PG_STMT_NAME_MAX 16

/* A statement prepared on a connection: its text (the key) and the number
 * in its name "core_<n>". */
typedef struct pg_stmt {
	uint64_t hash;
	char *sql;
	unsigned id;
} pg_stmt;

/* The statements prepared on one connection, emptied (pg_stmts_clear)
 * when it closes. next_id only grows while the connection lives: the name
 * of a forgotten statement is never reused on it. */
typedef struct pg_stmt_cache {
	pg_stmt stmts[PG_STMT_CACHE];
	int n;
	unsigned next_id;
} pg_stmt_cache;

/* The name under which sql is prepared on c into name, preparing it there
 * first (one round trip) if it is new: 1 when it has one, 0 when it is to
 * run unnamed (the cache is full, the transaction has failed, or out of
 * memory), -1 when preparing it failed (*err: the server's answer, NULL
 * when nothing came back; the caller PQclear()s it). */
int pg_stmts_name(pg_stmt_cache *sc, PGconn *c, const char *sql, int nparams,
    char name[PG_STMT_NAME_MAX], PGresult **err);

/* Forgets sql's entry, whose statement can no longer run (a schema change
 * altered its result's columns). The statement stays on the server under
 * its old name, unused, until the connection closes. */
void pg_stmts_forget(pg_stmt_cache *sc, const char *sql);

/* Forgets every entry: the connection is closing. */
void pg_stmts_clear(pg_stmt_cache *sc);

#endif
