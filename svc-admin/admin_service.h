/* AdminService handlers and the per-worker state they run with. */
#ifndef ADMIN_SERVICE_H
#define ADMIN_SERVICE_H

#include <stdbool.h>

#include "core/jwt.h"
#include "core/rpc.h"
#include "core/store.h"

/* The role every admindb session runs as (migrations/001_audit.sql): it may
 * only SELECT and INSERT audit_log. */
#define ADMIN_DB_ROLE "microcore_admin_app"

typedef struct admin_config {
	const char *database_url;
	const char *redis_url;
	const char *issuer;
	const char *audience;
	core_jwks_cache *jwks; /* keys from AuthService.GetJwks, shared */
	core_rpc_client *auth; /* svc-auth, shared (thread-safe) */
} admin_config;

typedef struct admin_worker {
	const admin_config *cfg;
	core_store db; /* its own admindb and Redis connections */
} admin_worker;

#define ADMIN_N_METHODS 5
extern const core_rpc_handler admin_handlers[ADMIN_N_METHODS];

void *admin_worker_init(void *cfg);
void admin_worker_fini(void *worker);
/* SERVING only while both admindb and Redis answer: without the one no
 * call can be audited, without the other no token can be checked. */
bool admin_health(void *worker);

#endif
