/* UserService handlers and the per-worker state they run with. */
#ifndef USER_SERVICE_H
#define USER_SERVICE_H

#include <stdbool.h>

#include "core/call_auth.h"
#include "core/pg.h"
#include "core/redis.h"
#include "core/rpc.h"
#include "core/store.h"

typedef struct user_config {
	const char *database_url;
	const char *redis_url;
	int cache_ttl_s;
} user_config;

typedef struct user_worker {
	const user_config *cfg;
	core_store db; /* its own connections */
} user_worker;

/* UserService's methods and their rules: both need a user token. */
#define USER_N_METHODS 2
extern const core_rpc_method user_methods[USER_N_METHODS];

/* The worker's Redis connection (for core_call_auth.redis). */
core_redis *user_worker_redis(void *worker);

void *user_worker_init(void *cfg);
void user_worker_fini(void *worker);
/* SERVING only while both PostgreSQL and Redis answer. */
bool user_health(void *worker);

#endif
