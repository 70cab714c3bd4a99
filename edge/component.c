/* The edge's start and stop, step by step (component.h). main.c runs them
 * in the edge's own process; microcore beside the services. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>
#include <sodium.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/rpc.h"
#include "backends.h"
#include "component.h"
#include "config.h"
#include "http.h"
#include "metrics.h"
#include "openapi.h"
#include "ready.h"
#include "routes.h"
#include "static.h"

static edge_config cfg;
static core_tls *tls;
static edge_http *http;
static int n_files;

/* jansson's memory holds the parsed request bodies (passwords): wiped
 * before it is freed, as the bodies and the request arenas are. */
static void
wiping_free(void *p)
{
	if (p != NULL) {
		sodium_memzero(p, malloc_usable_size(p));
		free(p);
	}
}

void
edge_component_process_init(void)
{
	json_set_alloc_funcs(malloc, wiping_free);
}

int
edge_component_new(const core_config_scope *scope, bool hosted)
{
	if (!hosted) {
		edge_component_process_init();
	}
	core_config_enter(scope);
	cfg.hosted = hosted;
	if (edge_backends_init() != 0) {
		return 1;
	}
	if (edge_config_load(&cfg) != 0) {
		return 2;
	}
	if (edge_routes_init() != 0 || edge_openapi_init() != 0 ||
	    edge_metrics_init(edge_route_count(), edge_route_name,
	        edge_backend_count(), edge_backend_name) != 0) {
		return 1;
	}
	n_files = edge_static_load(cfg.www);
	if (n_files < 0) {
		return 1;
	}
	/* The edge's certificate for tls+tcp:// (RPC_TLS_*), as every service
	 * loads its own: the default of every backend client. */
	char err[512];
	if (core_tls_from_env(&tls, err, sizeof(err)) != 0) {
		core_log_error("bad configuration: %s", err);
		return 2;
	}
	return hosted ? 0 : edge_component_dial();
}

int
edge_component_dial(void)
{
	core_log_enter(cfg.log);
	/* Hosted: the thread's default only, so a component starting at the
	 * same time in another thread never takes ours. */
	if (cfg.hosted) {
		core_tls_set_thread_default(tls);
	} else {
		core_tls_set_default(tls);
	}
	int rc = edge_backends_dial((int) cfg.rpc_timeout_ms) != 0 ? 1 : 0;
	if (cfg.hosted) {
		core_tls_set_thread_default(NULL);
	}
	return rc;
}

int
edge_component_start(void)
{
	core_log_enter(cfg.log);
	if (edge_ready_start(cfg.rpc_timeout_ms) != 0 ||
	    (http = edge_http_start(&cfg)) == NULL) {
		return 1;
	}
	char nf[16], age[24];
	snprintf(nf, sizeof(nf), "%d", n_files);
	snprintf(age, sizeof(age), "%lld", (long long) core_process_age_ms());
	core_log_kv(CORE_LOG_INFO, "listening", "url", cfg.listen, "web_files",
	    nf, "since_start_ms", age, NULL);
	return 0;
}

void
edge_component_stop(void)
{
	core_log_enter(cfg.log);
	/* Each RPC in flight ends within its deadline; a little more for the
	 * completions themselves. */
	edge_http_stop(http, cfg.rpc_timeout_ms + 2000);
	http = NULL;
}

void
edge_component_free(void)
{
	core_log_enter(cfg.log);
	edge_ready_stop();
	edge_backends_close();
	if (core_tls_default() == tls) {
		core_tls_set_default(NULL);
	}
	core_tls_free(tls);
	tls = NULL;
	edge_static_free();
	edge_metrics_free();
	edge_openapi_free();
	core_log_info("stopped");
}

core_tls *
edge_component_tls(void)
{
	return tls;
}

long
edge_component_tls_reload_s(void)
{
	return cfg.tls_reload_s;
}
