/* edge: the HTTP front door. libmicrohttpd (thread pool + epoll) turning
 * REST/JSON into RPCs to the internal services.
 *
 * Serves GET /healthz (the process is up), GET /readyz (every service
 * answers core.v1.Health SERVING, as a thread of ready.c last asked; 503
 * naming what is not), GET /metrics, GET /openapi.json (openapi.c),
 * the web frontend's files (static.c), and the REST routes of routes.c,
 * each translated to one RPC. Errors are RFC 9457 problem+json. Browser
 * rules (cookies, CSRF, CORS) are in browser.c.
 *
 * A request's RPC runs asynchronously with its connection suspended; the
 * completion (on an nng thread) resumes it and the answer is written from
 * the HTTP thread. So EDGE_THREADS is about CPU, not about how many
 * requests may wait at once.
 *
 * This file only wires the layers together (docs/internals/edge.md):
 * config.c, backends.c, routes.c, static.c and metrics.c at start;
 * http.c serving; rest.c and filters.c per REST request. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "core/log.h"
#include "core/rpc.h"
#include "core/tls.h"
#include "backends.h"
#include "config.h"
#include "http.h"
#include "metrics.h"
#include "openapi.h"
#include "ready.h"
#include "routes.h"
#include "static.h"

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

/* edge --openapi: the OpenAPI document on stdout (what GET /openapi.json
 * serves; scripts/openapi.sh writes docs/openapi.json with it). */
static int
print_openapi(void)
{
	size_t len;
	if (edge_backends_init() != 0 || edge_routes_init() != 0) {
		return 1;
	}
	char *doc = edge_openapi_build(&len);
	int rc = doc != NULL && fwrite(doc, 1, len, stdout) == len &&
	                 fflush(stdout) == 0
	             ? 0
	             : 1;
	free(doc);
	return rc;
}

int
main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--openapi") == 0) {
		core_log_init("edge", CORE_LOG_WARN, true);
		return print_openapi();
	}
	if (argc > 1) {
		fprintf(stderr,
		    "usage: edge            serve (configured by the "
		    "environment, see README)\n"
		    "       edge --openapi  print the OpenAPI document\n");
		return 2;
	}
	json_set_alloc_funcs(malloc, wiping_free);
	core_rpc_block_signals();
	core_log_init("edge", CORE_LOG_INFO, true);
	edge_config cfg;
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
	int n_files = edge_static_load(cfg.www);
	if (n_files < 0) {
		edge_metrics_free();
		return 1;
	}
	int status = 1;
	edge_http *http = NULL;
	/* The edge's certificate for tls+tcp:// (RPC_TLS_*), as every service
	 * loads its own: the default of every backend client. */
	core_tls *tls = NULL;
	char err[512];
	if (core_tls_from_env(&tls, err, sizeof(err)) != 0) {
		core_log_error("bad configuration: %s", err);
		status = 2;
		goto done;
	}
	core_tls_set_default(tls);
	if (edge_backends_dial((int) cfg.rpc_timeout_ms) != 0 ||
	    edge_ready_start(cfg.rpc_timeout_ms) != 0 ||
	    (http = edge_http_start(&cfg)) == NULL) {
		goto done;
	}
	char nf[16];
	snprintf(nf, sizeof(nf), "%d", n_files);
	core_log_kv(CORE_LOG_INFO, "listening", "url", cfg.listen, "web_files",
	    nf, NULL);
	/* Also reloads the certificate on SIGHUP and when its files change. */
	int sig = core_tls_wait_signal(tls, cfg.tls_reload_s);
	core_log_info("signal %d: stopping", sig);
	/* Each RPC in flight ends within its deadline; a little more for the
	 * completions themselves. */
	edge_http_stop(http, cfg.rpc_timeout_ms + 2000);
	status = 0;
done:
	edge_ready_stop();
	edge_backends_close();
	core_tls_set_default(NULL);
	core_tls_free(tls);
	edge_static_free();
	edge_metrics_free();
	edge_openapi_free();
	core_log_info("stopped");
	return status;
}
