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
 * This file is the edge's own process (the split mode): component.c wires
 * the layers together (docs/internals/edge.md), as microcore does beside
 * the services: config.c, backends.c, routes.c, static.c and metrics.c at
 * start; http.c serving; rest.c and filters.c per REST request. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/rpc.h"
#include "core/tls.h"
#include "backends.h"
#include "component.h"
#include "openapi.h"
#include "routes.h"

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

/* The edge's own metrics listener (the split mode; in microcore the
 * process has one for every component): METRICS_LISTEN. GET /metrics on
 * EDGE_LISTEN serves the same text. Returns 0, or 2 (logged) for a bad
 * value. */
static const char *metrics_listen;

static int
metrics_config(void)
{
	const core_config_item items[] = {
	    {"METRICS_LISTEN", "127.0.0.1:9104", CORE_CONFIG_STR, 0, 0, false,
	        "metrics listener, host:port (GET /metrics; off: none)",
	        &metrics_listen},
	};
	char err[256];
	int on;
	if (core_config_load(items, 1, err, sizeof(err)) != 0 ||
	    core_metrics_listen_check(metrics_listen, &on, err, sizeof(err)) !=
	        0) {
		core_log_error("bad configuration: %s", err);
		return 2;
	}
	core_config_log(items, 1);
	core_metrics_process_init("split");
	return 0;
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
	core_rpc_block_signals();
	core_log_init("edge", CORE_LOG_INFO, true);
	core_metrics_listener *metrics = NULL;
	/* Checked first: a bad value is a configuration error whatever
	 * else is wrong. */
	int status = metrics_config();
	if (status != 0) {
		return status;
	}
	status = edge_component_new(NULL, false);
	if (status == 0 && core_metrics_serve(metrics_listen, &metrics) != 0) {
		status = 1;
	}
	if (status == 0 && (status = edge_component_start()) == 0) {
		/* Also reloads the certificate on SIGHUP and when its files
		 * change. */
		int sig = core_tls_wait_signal(
		    edge_component_tls(), edge_component_tls_reload_s());
		core_log_info("signal %d: stopping", sig);
		edge_component_stop();
	}
	core_metrics_listener_stop(metrics);
	edge_component_free();
	return status;
}
