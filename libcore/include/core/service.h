/* The common main() of an RPC service process: configuration, logging,
 * server start, and a clean stop on SIGINT/SIGTERM. A service declares what
 * is its own in a core_service_def; its main.c calls core_service_main().
 *
 * The same steps are also open one by one (core_service_new, _start,
 * _stop, _free) for a process that runs several services and the edge
 * (microcore, the single-process mode): each service then keeps its own
 * settings, workers, connections, credentials and log name. */
#ifndef CORE_SERVICE_H
#define CORE_SERVICE_H

#include <stddef.h>

#include "core/call_auth.h"
#include "core/config.h"
#include "core/rpc.h"
#include "core/tls.h"

typedef struct core_service_def {
	const char *name;           /* process name for logs: "svc-auth" */
	const char *listen_env;     /* "AUTH_RPC_LISTEN" */
	const char *listen_default; /* "tcp://127.0.0.1:7101" */
	/* METRICS_LISTEN's default when the service runs alone in its
	 * process ("127.0.0.1:9101"; NULL: "off"). A hosted service has no
	 * listener of its own: its process serves every component's. */
	const char *metrics_listen_default;
	const core_rpc_service *services;
	size_t n_services;
	/* The service's own settings, loaded and logged with the common
	 * ones (LOG_LEVEL, LOG_FORMAT, RPC_*). */
	const core_config_item *config;
	size_t n_config;
	/* Runs after configuration and before the server starts; writes the
	 * app pointer handed to worker_init. Non-zero = exit with status 1. */
	int (*init)(void **app);
	/* Runs once the server listens and "ready" is logged (NULL: none),
	 * in the thread that started it: work that a call may need but that
	 * must not delay readiness (it makes its own thread, and the calls
	 * that need it wait for it). */
	void (*started)(void *app);
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

/* ---- One service among several in a process (microcore) --------------- */

typedef struct core_service core_service;

/* How a service is hosted by a process that runs several. */
typedef struct core_service_host {
	/* Its settings (core/config.h): e.g. prefix "AUTH", so AUTH_RPC_WORKERS
	 * overrides RPC_WORKERS for it; fixed values such as its dial lists
	 * to the services in the process. Not copied. */
	const core_config_scope *scope;
	/* URLs it also listens on, for the other components (core/inproc.h:
	 * one per caller). */
	const char *const *inproc_urls;
	size_t n_inproc;
} core_service_host;

/* Everything core_service_main does before the server starts: loads and
 * logs the common settings and the service's own in host's scope, the
 * TLS credentials (its own, for its tls+tcp:// listeners and the clients
 * its init makes: the calling thread's default while init runs, never the
 * process's, so services may be made at the same time in several threads),
 * registers its log component (core_log_component_add: its name and
 * LOG_LEVEL; the process's LOG_FORMAT), runs def->init and makes the
 * server. The calling
 * thread is left in the service's log component and configuration scope.
 * def and host must outlive the service. Returns 0 with *out, 1 when it
 * cannot start, 2 for bad configuration (logged). */
int core_service_new(const core_service_def *def,
    const core_service_host *host, core_service **out);

/* Starts the workers and listeners; logs "ready" (with since_start_ms,
 * core_process_age_ms), then runs def->started. Returns 0, or 1 (logged).
 * This, _stop and _free leave the calling thread in the service's log
 * component. */
int core_service_start(core_service *s);

/* Drains the calls in flight and stops the server (after a start). */
void core_service_stop(core_service *s);

/* Frees the server, runs def->fini and frees the credentials. NULL is a
 * no-op. */
void core_service_free(core_service *s);

/* Its TLS credentials (NULL: none) and RPC_TLS_RELOAD_S, for the
 * process's signal loop. */
core_tls *core_service_tls(const core_service *s);
long core_service_tls_reload_s(const core_service *s);

#endif
