/* UserService handlers and the per-worker state they run with. */
#ifndef USER_SERVICE_H
#define USER_SERVICE_H

#include <stdbool.h>

#include "core/jwt.h"
#include "core/pg.h"
#include "core/redis.h"
#include "core/rpc.h"
#include "core/store.h"

typedef struct user_config {
	const char *database_url;
	const char *redis_url;
	const char *issuer;
	const char *audience;
	int cache_ttl_s;
	core_jwks_cache *jwks; /* keys from AuthService.GetJwks, shared */
} user_config;

typedef struct user_worker {
	const user_config *cfg;
	core_store db; /* its own connections */
} user_worker;

#define USER_N_METHODS 2
extern const core_rpc_handler user_handlers[USER_N_METHODS];

void *user_worker_init(void *cfg);
void user_worker_fini(void *worker);
/* SERVING only while both PostgreSQL and Redis answer. */
bool user_health(void *worker);

#endif
