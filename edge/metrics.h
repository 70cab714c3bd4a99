/* Prometheus metrics of the edge: requests by route and status, a latency
 * histogram per route, RPC errors by service and code. On libcore's
 * registry (core/metrics.h), with the component label "edge"; GET
 * /metrics renders the whole registry. Lock-free per request. */
#ifndef EDGE_METRICS_H
#define EDGE_METRICS_H

#include <stdint.h>

/* Routes beyond the REST table's rows. */
enum {
	METRIC_STATIC = 0, /* the web frontend's files */
	METRIC_HEALTHZ,
	METRIC_READYZ,
	METRIC_METRICS,
	METRIC_OPENAPI,   /* the OpenAPI document */
	METRIC_PREFLIGHT, /* OPTIONS */
	METRIC_UNMATCHED, /* 404 / 405: no route, so no path in the label */
	METRIC_N_EXTRA
};

/* Registers the families and sets up the series for n_routes REST routes, named by route_name(i) (a
 * string that stays valid, "GET /profile"), and for the RPC errors of
 * n_services services named by service_name(i) ("auth"). Returns 0 or -1
 * (out of memory). */
int edge_metrics_init(unsigned n_routes,
    const char *(*route_name)(unsigned route), unsigned n_services,
    const char *(*service_name)(unsigned) );

/* The label index of REST route i, or of an extra (METRIC_*). */
unsigned edge_metrics_route(unsigned i);
unsigned edge_metrics_extra(unsigned which);

/* One finished request. */
void edge_metrics_request(unsigned label, unsigned status, uint64_t micros);

/* One failed RPC (code is a core_status) to service i (as numbered for
 * edge_metrics_init). */
void edge_metrics_rpc_error(unsigned service, int code);

void edge_metrics_free(void);

#endif
