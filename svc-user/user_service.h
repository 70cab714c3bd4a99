/* UserService handlers and the per-worker state they run with. */
#ifndef USER_SERVICE_H
#define USER_SERVICE_H

#include <stdbool.h>

#include "core/call_auth.h"
#include "core/metrics.h"
#include "core/pg.h"
#include "core/redis.h"
#include "core/rpc.h"
#include "core/store.h"

typedef struct user_config {
	const char *database_url;
	const char *redis_url;
	int cache_ttl_s;
} user_config;

/* user_profile_cache_total{result}: GetProfile's cache reads. */
typedef enum user_cache_result {
	USER_CACHE_HIT,   /* "hit" */
	USER_CACHE_MISS,  /* "miss": read from the database */
	USER_CACHE_ERROR, /* "error": no answer, or an entry that is no
	                     profile; read from the database */
	USER_CACHE_N_RESULTS,
} user_cache_result;

typedef struct user_worker {
	core_store db; /* its own connections; first (core_store_worker_*) */
	const user_config *cfg;
	core_metric_series *cache[USER_CACHE_N_RESULTS]; /* its component's */
} user_worker;

/* UserService's methods and their rules: each needs a user token
 * (DeleteProfile of one's own profile also a revoked one). */
#define USER_N_METHODS 3
extern const core_rpc_method user_methods[USER_N_METHODS];

/* A worker with its own connections (cfg: the user_config). Freed by
 * core_store_worker_free; its Health is core_store_worker_ping: SERVING
 * only while both PostgreSQL and Redis answer. */
void *user_worker_init(void *cfg);

#endif
