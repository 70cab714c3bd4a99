/* The connections an RPC worker owns: one PostgreSQL, one Redis. */
#ifndef CORE_STORE_H
#define CORE_STORE_H

#include <stdbool.h>
#include <stddef.h>

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

/* True when both servers answer a real probe now (SELECT 1, PING), each
 * handle reconnecting first if its connection was closed: a service's
 * Health. */
bool core_store_ping(core_store *s);

/* ---- Worker state --------------------------------------------------------
 * The state of an RPC worker of a service whose handlers each use one
 * PostgreSQL and one Redis connection: the service's worker struct has a
 * core_store as its FIRST member, so the functions below serve as its
 * core_service_def worker_fini and health, and core_call_auth.redis. */

/* A zeroed worker struct of size bytes (>= sizeof(core_store)) with its
 * store opened (see core_store_open), or NULL when out of memory. */
void *core_store_worker_new(
    size_t size, const char *pg_url, const char *redis_url);

/* Closes the store and frees the worker. NULL is a no-op. */
void core_store_worker_free(void *worker);

/* core_store_ping of the worker's store. */
bool core_store_worker_ping(void *worker);

/* The worker's Redis connection. */
core_redis *core_store_worker_redis(void *worker);

#endif
