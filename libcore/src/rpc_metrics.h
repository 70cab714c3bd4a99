/* The metrics of the RPC server and client (core/metrics.h): the series
 * each one updates are looked up when it is made, or the first time a
 * method is called or a status code shows up, and kept; a call then costs
 * a few relaxed atomic adds and two clock reads. Internal. */
#ifndef CORE_RPC_METRICS_H
#define CORE_RPC_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "core/metrics.h"
#include "core/status.h"

struct rpc_method;
struct rpc_method_table;

typedef _Atomic(core_metric_series *) rpc_series_slot;

/* One method's series (or the label "unknown"'s), each made the first
 * time it is needed: a method never called adds nothing to a scrape. */
typedef struct rpc_method_metrics {
	const char *method; /* the label: the table's name, or "unknown" */
	const char *component;
	rpc_series_slot calls[CORE_STATUS_MAX + 1]; /* by code */
	rpc_series_slot duration, in_flight, queue_wait;
} rpc_method_metrics;

/* A server's: one per method of its table, then "unknown". */
typedef struct rpc_server_metrics {
	char *component;
	rpc_method_metrics *methods;
	size_t n; /* the table's methods; methods[n] is "unknown" */
	core_metric_series *workers, *busy;
} rpc_server_metrics;

/* A client's, for its target. */
typedef struct rpc_client_metrics {
	char *component, *target;
	rpc_series_slot calls[CORE_STATUS_MAX + 1];
	core_metric_series *duration, *connections;
} rpc_client_metrics;

/* Monotonic time in nanoseconds (call durations). */
static inline int64_t
rpc_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Registers the families and sets up the series of every method of t,
 * with the calling thread's component (core_log_service()). Returns 0, or
 * -1 (out of memory; sm is to be freed either way). */
int rpc_server_metrics_init(
    rpc_server_metrics *sm, const struct rpc_method_table *t);
void rpc_server_metrics_free(rpc_server_metrics *sm);

/* The series of method m of t; of the method the call named when m is
 * NULL (a call refused before its method was looked up), or "unknown". */
rpc_method_metrics *rpc_server_metrics_of(rpc_server_metrics *sm,
    const struct rpc_method_table *t, const struct rpc_method *m,
    const char *name);

/* A call of mm has started (its method is known: it is in flight). */
void rpc_metrics_call_start(rpc_method_metrics *mm);

/* A call of mm ended with st, received at recv_ns (rpc_now_ns);
 * started: rpc_metrics_call_start was called for it. */
void rpc_metrics_call_end(
    rpc_method_metrics *mm, core_status st, int64_t recv_ns, bool started);

/* A started call of mm will never be answered (queued when the server
 * stopped): it is no longer in flight. */
void rpc_metrics_call_dropped(rpc_method_metrics *mm);

/* A queued call of mm reached a worker after waiting since recv_ns. */
void rpc_metrics_dequeued(rpc_method_metrics *mm, int64_t recv_ns);

/* The client's series for target (the server's identity when the client
 * checks it, else the client's name). Returns 0 or -1 (out of memory). */
int rpc_client_metrics_init(rpc_client_metrics *cm, const char *target);
void rpc_client_metrics_free(rpc_client_metrics *cm);

/* A client call ended with st; it started at start_ns. */
void rpc_client_metrics_call(
    rpc_client_metrics *cm, core_status st, int64_t start_ns);

#endif
