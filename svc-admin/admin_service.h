/* AdminService: its methods (every one needs an admin's token, checked by
 * the server before the handler), the hook that audits refused calls, and
 * the per-worker state they run with. */
#ifndef ADMIN_SERVICE_H
#define ADMIN_SERVICE_H

#include <stdbool.h>
#include <stdint.h>

#include "audit_ctx.h"
#include "core/redis.h"
#include "core/rpc.h"
#include "core/store.h"

/* The role every admindb session runs as (migrations/001_audit.sql): it may
 * only SELECT and INSERT audit_log. */
#define ADMIN_DB_ROLE "microcore_admin_app"

typedef struct admin_config {
	const char *database_url;
	const char *redis_url;
	core_rpc_client *auth; /* svc-auth, shared (thread-safe) */
} admin_config;

typedef struct admin_worker {
	/* Its own admindb and Redis connections; first (core_store_worker_*). */
	core_store db;
	const admin_config *cfg;
	audit_metrics audit; /* its component's audit row counters */
} admin_worker;

/* admin.v1.AdminService: its method table (CORE_RULE_ADMIN on each) and
 * its denied hook, which writes the audit row of a call refused with a
 * token svc-auth signed, and counts and logs the others. */
extern const core_rpc_service admin_service;

/* Calls refused since start that carried no token svc-auth signed (none,
 * malformed, bad signature, expired): logged, not audited. */
uint64_t admin_anonymous_refusals(void);

/* A worker with its own connections (cfg: the admin_config), its admindb
 * sessions dropped to the append-only role. Freed by
 * core_store_worker_free; its Health is core_store_worker_ping: SERVING
 * only while both admindb and Redis answer (without the one no call can
 * be audited, without the other no token can be checked). */
void *admin_worker_init(void *cfg);

#endif
