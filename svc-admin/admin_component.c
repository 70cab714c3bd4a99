/* svc-admin: serves admin.v1.AdminService on admindb (the audit log) and
 * Redis (revocation), calling svc-auth for user management. Wiring only:
 * configuration, migrations, the svc-auth link (client and JWKS cache),
 * how the server checks tokens, the RPC server and its service (for its
 * own process, main.c, and for microcore). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_actions.h"
#include "admin_component.h"
#include "admin_service.h"
#include "auth_link.h"
#include "core/call_auth.h"
#include "core/config.h"
#include "core/log.h"
#include "core/pg.h"
#include "core/service.h"

#ifndef ADMIN_DEFAULT_MIGRATIONS_DIR
#define ADMIN_DEFAULT_MIGRATIONS_DIR "svc-admin/migrations"
#endif

static admin_config cfg;
static auth_link auth;
static const char *migrations_dir;
static long migrate_wait_s;

static int
init(void **app)
{
	/* Migrations run as the connecting user (they create the table and
	 * the role); the workers' sessions then drop to that role. */
	if (core_pg_migrate_wait(
	        cfg.database_url, migrations_dir, migrate_wait_s) < 0) {
		return -1;
	}
	if (auth_link_open(
	        &auth, core_store_worker_redis, admin_role_is_admin) != 0) {
		return -1;
	}
	cfg.auth = auth.client;
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
admin_component(void)
{
	static core_config_item config[4 + AUTH_LINK_N_CONFIG] = {
	    {"ADMIN_DATABASE_URL",
	        "postgresql://postgres@127.0.0.1:55432/admindb",
	        CORE_CONFIG_STR, 0, 0, false, "admindb connection URL",
	        &cfg.database_url},
	    {"REDIS_URL", "redis://127.0.0.1:56379/0", CORE_CONFIG_STR, 0, 0,
	        false, "Redis URL (token revocation)", &cfg.redis_url},
	    {"ADMIN_MIGRATIONS_DIR", ADMIN_DEFAULT_MIGRATIONS_DIR,
	        CORE_CONFIG_STR, 0, 0, false, "directory of NNN_name.sql",
	        &migrations_dir},
	    {"ADMIN_MIGRATE_WAIT_S", "30", CORE_CONFIG_INT, 0, 3600, false,
	        "how long start-up waits for the database", &migrate_wait_s},
	};
	auth_link_config(
	    &auth, "svc-auth URLs (JWKS, user management)", config + 4);
	static const core_service_def def = {
	    .name = "svc-admin",
	    .listen_env = "ADMIN_RPC_LISTEN",
	    .listen_default = "tcp://127.0.0.1:7103",
	    .metrics_listen_default = "127.0.0.1:9103",
	    .services = &admin_service,
	    .n_services = 1,
	    .config = config,
	    .n_config = sizeof(config) / sizeof(config[0]),
	    .init = init,
	    .fini = fini,
	    .worker_init = admin_worker_init,
	    .worker_fini = core_store_worker_free,
	    .health = core_store_worker_ping,
	    .auth = &auth.call_auth,
	};
	return &def;
}
