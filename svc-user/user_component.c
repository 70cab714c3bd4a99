/* svc-user: serves user.v1.UserService on apidb and Redis. Wiring only:
 * configuration, migrations, the JWKS cache fed by svc-auth, the RPC
 * server and its handlers (for its own process, main.c, and for
 * microcore). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "user/v1/user.pb-c.h"

#include "core/config.h"
#include "core/log.h"
#include "core/pg.h"
#include "core/service.h"
#include "auth_link.h"
#include "user_component.h"
#include "user_service.h"

#ifndef USER_DEFAULT_MIGRATIONS_DIR
#define USER_DEFAULT_MIGRATIONS_DIR "svc-user/migrations"
#endif

static user_config cfg;
static const char *migrations_dir;
static long migrate_wait_s, cache_ttl_s;
static auth_link auth;

static int
init(void **app)
{
	cfg.cache_ttl_s = (int) cache_ttl_s;
	if (core_pg_migrate_wait(
	        cfg.database_url, migrations_dir, migrate_wait_s) < 0) {
		return -1;
	}
	if (auth_link_open(&auth, core_store_worker_redis, NULL) != 0) {
		return -1;
	}
	/* GetProfile's reads go on the server's pipelined connection. */
	auth.call_auth.redis_url = cfg.redis_url;
	*app = &cfg;
	return 0;
}

static void
fini(void *app)
{
	(void) app;
	auth_link_close(&auth);
}

const core_service_def *
user_component(void)
{
	static const core_rpc_service services[] = {
	    {&user__v1__user_service__descriptor, user_methods, USER_N_METHODS,
	        NULL},
	};
	static core_config_item config[5 + AUTH_LINK_N_CONFIG] = {
	    {"USER_DATABASE_URL",
	        "postgresql://postgres@127.0.0.1:55432/apidb", CORE_CONFIG_STR,
	        0, 0, false, "apidb connection URL", &cfg.database_url},
	    {"REDIS_URL", "redis://127.0.0.1:56379/0", CORE_CONFIG_STR, 0, 0,
	        false, "Redis URL (revocation, profile cache)",
	        &cfg.redis_url},
	    {"USER_MIGRATIONS_DIR", USER_DEFAULT_MIGRATIONS_DIR,
	        CORE_CONFIG_STR, 0, 0, false, "directory of NNN_name.sql",
	        &migrations_dir},
	    {"USER_MIGRATE_WAIT_S", "30", CORE_CONFIG_INT, 0, 3600, false,
	        "how long start-up waits for the database", &migrate_wait_s},
	    {"USER_CACHE_TTL_S", "300", CORE_CONFIG_INT, 1, 86400, false,
	        "how long a profile stays in the Redis cache", &cache_ttl_s},
	};
	auth_link_config(&auth, "svc-auth URLs (for the JWKS)", config + 5);
	static const core_service_def def = {
	    .name = "svc-user",
	    .listen_env = "USER_RPC_LISTEN",
	    .listen_default = "tcp://127.0.0.1:7102",
	    .metrics_listen_default = "127.0.0.1:9102",
	    .services = services,
	    .n_services = 1,
	    .config = config,
	    .n_config = sizeof(config) / sizeof(config[0]),
	    .init = init,
	    .fini = fini,
	    .worker_init = user_worker_init,
	    .worker_fini = core_store_worker_free,
	    .health = core_store_worker_ping,
	    .auth = &auth.call_auth,
	};
	return &def;
}
