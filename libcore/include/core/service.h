/* The common main() of an RPC service process: configuration, logging,
 * server start, and a clean stop on SIGINT/SIGTERM. A service's main.c only
 * declares what is its own and calls core_service_main(). */
#ifndef CORE_SERVICE_H
#define CORE_SERVICE_H

#include <stddef.h>

#include "core/call_auth.h"
#include "core/config.h"
#include "core/rpc.h"

typedef struct core_service_def {
	const char *name;           /* process name for logs: "svc-auth" */
	const char *listen_env;     /* "AUTH_RPC_LISTEN" */
	const char *listen_default; /* "tcp://127.0.0.1:7101" */
	const core_rpc_service *services;
	size_t n_services;
	/* The service's own settings, loaded and logged with the common
	 * ones (LOG_LEVEL, LOG_FORMAT, RPC_*). */
	const core_config_item *config;
	size_t n_config;
	/* Runs after configuration and before the server starts; writes the
	 * app pointer handed to worker_init. Non-zero = exit with status 1. */
	int (*init)(void **app);
	void (*fini)(void *app);
	void *(*worker_init)(void *app);
	void (*worker_fini)(void *state);
	bool (*health)(void *state);
	/* How the method rules check tokens; read when the server is made,
	 * after init (which may fill it in: the JWKS cache is made there).
	 * NULL = every method is public. */
	const core_call_auth *auth;
} core_service_def;

/* Runs the service until SIGINT/SIGTERM. Loads the TLS credentials of
 * tls+tcp:// from RPC_TLS_* (core_tls_from_env) and makes them the
 * default of every server and client of the process; reloads them on
 * SIGHUP and when a file changes (checked every RPC_TLS_RELOAD_S). Returns
 * the process exit status: 0 after a clean stop, 1 if it could not start,
 * 2 for bad configuration (a bad certificate or key included). */
int core_service_main(const core_service_def *def);

#endif
