#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "metrics.h"

/* Upper bounds in microseconds; the last bucket is +Inf. */
static const uint64_t bounds_us[] = {250, 500, 1000, 2500, 5000, 10000, 25000,
    50000, 100000, 250000, 500000, 1000000, 2500000, 5000000};
#define N_BOUNDS (sizeof(bounds_us) / sizeof(bounds_us[0]))
#define N_STATUS 600 /* HTTP statuses 100..599 by value */
#define N_CODES 17   /* canonical RPC codes 0..16 */

typedef struct series {
	_Atomic uint64_t by_status[N_STATUS];
	_Atomic uint64_t buckets[N_BOUNDS + 1];
	_Atomic uint64_t sum_us;
	_Atomic uint64_t count;
} series;

static series *all;
static unsigned n_rest, n_labels;
static const char *(*rest_name)(unsigned);
/* [service][code], n_svcs rows. */
static _Atomic uint64_t (*rpc_errors)[N_CODES];
static unsigned n_svcs;
static const char *(*svc_name)(unsigned);

static const char *const extra_names[METRIC_N_EXTRA] = {"static",
    "GET /healthz", "GET /readyz", "GET /metrics", "GET /openapi.json",
    "OPTIONS", "unmatched"};

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
	rpc_errors =
	    calloc(n_services > 0 ? n_services : 1, sizeof(*rpc_errors));
	if (all == NULL || rpc_errors == NULL) {
		edge_metrics_free();
		return -1;
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

void
edge_metrics_request(unsigned label, unsigned status, uint64_t micros)
{
	if (all == NULL || label >= n_labels || status >= N_STATUS) {
		return;
	}
	series *s = &all[label];
	size_t b = 0;
	while (b < N_BOUNDS && micros > bounds_us[b]) {
		b++;
	}
	atomic_fetch_add_explicit(
	    &s->by_status[status], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->buckets[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->sum_us, micros, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
}

void
edge_metrics_rpc_error(unsigned service, int code)
{
	if (rpc_errors != NULL && service < n_svcs && code > 0 &&
	    code < N_CODES) {
		atomic_fetch_add_explicit(
		    &rpc_errors[service][code], 1, memory_order_relaxed);
	}
}

/* A growing text buffer. */
typedef struct buf {
	char *p;
	size_t len, cap;
	int failed;
} buf;

static void put(buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
put(buf *b, const char *fmt, ...)
{
	if (b->failed) {
		return;
	}
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = 1;
			return;
		}
		if ((size_t) n < b->cap - b->len) {
			b->len += (size_t) n;
			return;
		}
		size_t cap = b->cap * 2 + (size_t) n;
		char *np = realloc(b->p, cap);
		if (np == NULL) {
			b->failed = 1;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
}

static const char *
label_name(unsigned i)
{
	return i < n_rest ? rest_name(i) : extra_names[i - n_rest];
}

char *
edge_metrics_render(void)
{
	buf b = {.p = malloc(8192), .cap = 8192};
	if (b.p == NULL) {
		return NULL;
	}
	b.p[0] = '\0';
	put(&b, "# HELP edge_http_requests_total HTTP requests answered, by "
	        "route and status.\n"
	        "# TYPE edge_http_requests_total counter\n");
	for (unsigned i = 0; all != NULL && i < n_labels; i++) {
		for (unsigned st = 100; st < N_STATUS; st++) {
			uint64_t v = atomic_load_explicit(
			    &all[i].by_status[st], memory_order_relaxed);
			if (v != 0) {
				put(&b,
				    "edge_http_requests_total{route=\"%s\","
				    "status=\"%u\"} %llu\n",
				    label_name(i), st, (unsigned long long) v);
			}
		}
	}
	put(&b, "# HELP edge_http_request_duration_seconds Time from the "
	        "request's headers to its answer, by route.\n"
	        "# TYPE edge_http_request_duration_seconds histogram\n");
	for (unsigned i = 0; all != NULL && i < n_labels; i++) {
		uint64_t count =
		    atomic_load_explicit(&all[i].count, memory_order_relaxed);
		if (count == 0) {
			continue;
		}
		uint64_t cum = 0;
		for (size_t k = 0; k <= N_BOUNDS; k++) {
			cum += atomic_load_explicit(
			    &all[i].buckets[k], memory_order_relaxed);
			if (k < N_BOUNDS) {
				put(&b,
				    "edge_http_request_duration_seconds_bucket{"
				    "route=\"%s\",le=\"%g\"} %llu\n",
				    label_name(i), (double) bounds_us[k] / 1e6,
				    (unsigned long long) cum);
			} else {
				put(&b,
				    "edge_http_request_duration_seconds_bucket{"
				    "route=\"%s\",le=\"+Inf\"} %llu\n",
				    label_name(i), (unsigned long long) cum);
			}
		}
		put(&b,
		    "edge_http_request_duration_seconds_sum{route=\"%s\"} "
		    "%.6f\n"
		    "edge_http_request_duration_seconds_count{route=\"%s\"} "
		    "%llu\n",
		    label_name(i),
		    (double) atomic_load_explicit(
		        &all[i].sum_us, memory_order_relaxed) /
		        1e6,
		    label_name(i), (unsigned long long) cum);
	}
	put(&b, "# HELP edge_rpc_errors_total RPCs to the internal services "
	        "that did not return OK, by service and status code.\n"
	        "# TYPE edge_rpc_errors_total counter\n");
	for (unsigned s = 0; rpc_errors != NULL && s < n_svcs; s++) {
		for (int c = 1; c < N_CODES; c++) {
			uint64_t v = atomic_load_explicit(
			    &rpc_errors[s][c], memory_order_relaxed);
			if (v != 0) {
				put(&b,
				    "edge_rpc_errors_total{service=\"%s\","
				    "code=\"%s\"} %llu\n",
				    svc_name(s), core_status_str(c),
				    (unsigned long long) v);
			}
		}
	}
	if (b.failed) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

void
edge_metrics_free(void)
{
	free(all);
	all = NULL;
	free(rpc_errors);
	rpc_errors = NULL;
}
