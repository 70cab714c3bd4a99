/* The connections an RPC worker owns: one PostgreSQL, one Redis. */
#ifndef CORE_STORE_H
#define CORE_STORE_H

#include <stdbool.h>

#include "core/pg.h"
#include "core/redis.h"

typedef struct core_store {
	core_pg *pg;
	core_redis *redis;
} core_store;

/* Opens both. A server that is down now is not an error: each handle
 * reconnects on use. Returns 0, or -1 when out of memory (nothing is left
 * open then). */
int core_store_open(core_store *s, const char *pg_url, const char *redis_url);

/* Closes both; a zeroed store is fine. */
void core_store_close(core_store *s);

/* True while both servers answer: a service's Health. */
bool core_store_ping(core_store *s);

#endif
