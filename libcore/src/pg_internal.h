/* Shared between the connection handle (pg.c) and migrations
 * (pg_migrate.c); not for callers of core/pg.h. */
#ifndef CORE_PG_INTERNAL_H
#define CORE_PG_INTERNAL_H

#include <libpq-fe.h>

#include "core/pg.h"

/* The handle's connection as it is now, NULL while down; for statements
 * that core_pg_exec cannot run (several in one string, transaction
 * control). It stays the handle's: never PQfinish it. Any core_pg_exec may
 * replace it or set it to NULL. */
PGconn *pg_connection(core_pg *pg);

#endif
