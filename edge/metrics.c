/* The edge's metrics on libcore's registry (core/metrics.h), under the
 * names they had before it: requests by route and status, a latency
 * histogram per route, RPC errors by service and code. Every series is
 * looked up the first time its route, status or code shows up (so routes
 * never called add nothing to a scrape) and kept, so a request costs a few
 * relaxed atomic adds. */
#include <stdatomic.h>
#include <stdlib.h>

#include "core/metrics.h"
#include "core/status.h"
#include "metrics.h"

#define N_STATUS 600 /* HTTP statuses 100..599 by value */
#define N_CODES 17   /* canonical RPC codes 0..16 */
/* The component label: the same in the edge's own process and in
 * microcore, whichever thread counts. */
#define COMPONENT "edge"

typedef _Atomic(core_metric_series *) series_slot;

/* One route label: its series by status (made when first needed) and its
 * latency histogram. */
typedef struct route_series {
	series_slot by_status[N_STATUS];
	series_slot duration;
} route_series;

static core_metric *requests, *durations, *rpc_errors;
static route_series *all;
static unsigned n_rest, n_labels;
static const char *(*rest_name)(unsigned);
/* [service][code], n_svcs rows. */
static series_slot (*errors)[N_CODES];
static unsigned n_svcs;
static const char *(*svc_name)(unsigned);

static const char *const extra_names[METRIC_N_EXTRA] = {"static",
    "GET /healthz", "GET /readyz", "GET /metrics", "GET /openapi.json",
    "OPTIONS", "unmatched"};

static const char *
label_name(unsigned i)
{
	return i < n_rest ? rest_name(i) : extra_names[i - n_rest];
}

static int
families(void)
{
	static const char *const by_route_status[] = {"route", "status", NULL};
	static const char *const by_route[] = {"route", NULL};
	static const char *const by_service_code[] = {"service", "code", NULL};
	requests =
	    core_metric_family(CORE_METRIC_COUNTER, "edge_http_requests_total",
	        "HTTP requests answered, by route and status.",
	        by_route_status, NULL, 0);
	durations = core_metric_family(CORE_METRIC_HISTOGRAM,
	    "edge_http_request_duration_seconds",
	    "Time from the request's headers to its answer, by route.",
	    by_route, NULL, 0);
	rpc_errors =
	    core_metric_family(CORE_METRIC_COUNTER, "edge_rpc_errors_total",
	        "RPCs to the internal services that did not return OK, by "
	        "service and status code.",
	        by_service_code, NULL, 0);
	return requests != NULL && durations != NULL && rpc_errors != NULL
	           ? 0
	           : -1;
}

int
edge_metrics_init(unsigned n_routes, const char *(*route_name)(unsigned route),
    unsigned n_services, const char *(*service_name)(unsigned) )
{
	n_rest = n_routes;
	n_labels = n_routes + METRIC_N_EXTRA;
	rest_name = route_name;
	n_svcs = n_services;
	svc_name = service_name;
	all = calloc(n_labels, sizeof(*all));
	errors = calloc(n_services > 0 ? n_services : 1, sizeof(*errors));
	if (all == NULL || errors == NULL || families() != 0) {
		edge_metrics_free();
		return -1;
	}
	for (unsigned i = 0; i < n_labels; i++) {
		const char *v[] = {label_name(i)};
		all[i].duration =
		    core_metric_series_get(durations, COMPONENT, v);
	}
	return 0;
}

unsigned
edge_metrics_route(unsigned i)
{
	return i;
}

unsigned
edge_metrics_extra(unsigned which)
{
	return n_rest + which;
}

/* The series in *slot, looked up (under the registry's lock) the first
 * time. Two threads may both look it up: they get the same series. */
static core_metric_series *
cached(series_slot *slot, core_metric *m, const char *a, const char *b)
{
	core_metric_series *s =
	    atomic_load_explicit(slot, memory_order_acquire);
	if (s == NULL) {
		const char *v[] = {a, b};
		s = core_metric_series_get(m, COMPONENT, v);
		atomic_store_explicit(slot, s, memory_order_release);
	}
	return s;
}

void
edge_metrics_request(unsigned label, unsigned status, uint64_t micros)
{
	if (all == NULL || label >= n_labels || status < 100 ||
	    status >= N_STATUS) {
		return;
	}
	route_series *r = &all[label];
	series_slot *slot = &r->by_status[status];
	core_metric_series *s =
	    atomic_load_explicit(slot, memory_order_acquire);
	if (s == NULL) {
		static const char *const digits = "0123456789";
		char st[4] = {digits[status / 100], digits[status / 10 % 10],
		    digits[status % 10], '\0'};
		s = cached(slot, requests, label_name(label), st);
	}
	core_metric_inc(s);
	core_metric_observe(
	    cached(&r->duration, durations, label_name(label), NULL),
	    (double) micros / 1e6);
}

void
edge_metrics_rpc_error(unsigned service, int code)
{
	if (errors != NULL && service < n_svcs && code > 0 && code < N_CODES) {
		core_metric_inc(cached(&errors[service][code], rpc_errors,
		    svc_name(service), core_status_str(code)));
	}
}

void
edge_metrics_free(void)
{
	free(all);
	all = NULL;
	free(errors);
	errors = NULL;
}
