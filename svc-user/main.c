/* svc-user: serves user.v1.UserService on apidb and Redis. Wiring only:
 * configuration, migrations, the JWKS cache fed by svc-auth, the RPC
 * server and its handlers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/v1/auth.pb-c.h"
#include "user/v1/user.pb-c.h"

#include "core/config.h"
#include "core/log.h"
#include "core/pg.h"
#include "core/service.h"
#include "user_service.h"

#ifndef USER_DEFAULT_MIGRATIONS_DIR
#define USER_DEFAULT_MIGRATIONS_DIR "svc-user/migrations"
#endif

#define MAX_URLS 8

static user_config cfg;
static const char *migrations_dir, *auth_dial;
static long migrate_wait_s, cache_ttl_s;
static core_rpc_client *auth;

/* Fetches the JWKS document from svc-auth (called by the cache on a miss
 * of a kid, at most once a second, from a worker thread). */
static int
fetch_jwks(void *arg, char **json, size_t *len)
{
	(void) arg;
	core_arena *a = core_arena_new(0);
	Auth__V1__GetJwksRequest req = AUTH__V1__GET_JWKS_REQUEST__INIT;
	ProtobufCMessage *out = NULL;
	core_rpc_reply reply;
	core_rpc_opts opts = {.timeout_ms = 2000};
	int rv = -1;
	if (a != NULL &&
	    core_rpc_call(auth, "/auth.v1.AuthService/GetJwks", &req.base,
	        &auth__v1__get_jwks_response__descriptor, &out, &opts, a,
	        &reply) == CORE_OK) {
		const char *doc = ((Auth__V1__GetJwksResponse *) out)->json;
		if ((*json = strdup(doc)) != NULL) {
			*len = strlen(doc);
			rv = 0;
		}
	} else {
		core_log_warn("cannot fetch the JWKS from svc-auth: %s",
		    a ? reply.message : "out of memory");
	}
	core_arena_free(a);
	return rv;
}

static int
init(void **app)
{
	char buf[1024];
	const char *urls[MAX_URLS];
	cfg.cache_ttl_s = (int) cache_ttl_s;
	if (core_pg_migrate_wait(cfg.database_url, migrations_dir,
	        migrate_wait_s) < 0) {
		return -1;
	}
	int n = core_config_split(auth_dial, buf, sizeof(buf), urls, MAX_URLS);
	core_rpc_client_config cc = {
	    .name = "auth", .urls = urls, .n_urls = n > 0 ? (size_t) n : 0};
	if (n <= 0 || core_rpc_client_new(&cc, &auth) != 0) {
		core_log_error("bad configuration: AUTH_RPC_DIAL");
		return -1;
	}
	cfg.jwks = core_jwks_cache_new(fetch_jwks, NULL, 1000);
	if (cfg.jwks == NULL) {
		return -1;
	}
	*app = &cfg;
	return 0;
}

static void
fini(void *app)
{
	(void) app;
	core_jwks_cache_free(cfg.jwks);
	core_rpc_client_free(auth);
}

int
main(void)
{
	if (USER_N_METHODS != user__v1__user_service__descriptor.n_methods) {
		fprintf(stderr, "svc-user: handler table out of date\n");
		return 1;
	}
	static const core_rpc_service services[] = {
	    {&user__v1__user_service__descriptor, user_handlers},
	};
	const core_config_item config[] = {
	    {"USER_DATABASE_URL", "postgresql://postgres@127.0.0.1:55432/apidb",
	        CORE_CONFIG_STR, 0, 0, false, "apidb connection URL",
	        &cfg.database_url},
	    {"REDIS_URL", "redis://127.0.0.1:56379/0", CORE_CONFIG_STR, 0, 0,
	        false, "Redis URL (revocation, profile cache)", &cfg.redis_url},
	    {"USER_MIGRATIONS_DIR", USER_DEFAULT_MIGRATIONS_DIR,
	        CORE_CONFIG_STR, 0, 0, false, "directory of NNN_name.sql",
	        &migrations_dir},
	    {"USER_MIGRATE_WAIT_S", "30", CORE_CONFIG_INT, 0, 3600, false,
	        "how long start-up waits for the database", &migrate_wait_s},
	    {"AUTH_RPC_DIAL", "tcp://127.0.0.1:7101", CORE_CONFIG_STR, 0, 0,
	        false, "svc-auth URLs (for the JWKS)", &auth_dial},
	    {"AUTH_ISSUER", "http://127.0.0.1:8080", CORE_CONFIG_STR, 0, 0,
	        false, "expected iss of access tokens", &cfg.issuer},
	    {"AUTH_AUDIENCE", "microcore", CORE_CONFIG_STR, 0, 0, false,
	        "expected aud of access tokens", &cfg.audience},
	    {"USER_CACHE_TTL_S", "300", CORE_CONFIG_INT, 1, 86400, false,
	        "how long a profile stays in the Redis cache", &cache_ttl_s},
	};
	const core_service_def def = {
	    .name = "svc-user",
	    .listen_env = "USER_RPC_LISTEN",
	    .listen_default = "tcp://127.0.0.1:7102",
	    .services = services,
	    .n_services = 1,
	    .config = config,
	    .n_config = sizeof(config) / sizeof(config[0]),
	    .init = init,
	    .fini = fini,
	    .worker_init = user_worker_init,
	    .worker_fini = user_worker_fini,
	    .health = user_health,
	};
	return core_service_main(&def);
}
