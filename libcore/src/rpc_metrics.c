/* The RPC server's and client's metrics (rpc_metrics.h). */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "rpc_methods.h"
#include "rpc_metrics.h"

static const char *const by_method_code[] = {"method", "code", NULL};
static const char *const by_method[] = {"method", NULL};
static const char *const by_target_code[] = {"target", "code", NULL};
static const char *const by_target[] = {"target", NULL};

/* The series in *slot, looked up (under the registry's lock) the first
 * time; two threads racing both get the same series. */
static core_metric_series *
cached(rpc_series_slot *slot, core_metric *m, const char *component,
    const char *a, const char *b)
{
	core_metric_series *s =
	    atomic_load_explicit(slot, memory_order_acquire);
	if (s == NULL) {
		const char *v[] = {a, b};
		s = core_metric_series_get(m, component, v);
		atomic_store_explicit(slot, s, memory_order_release);
	}
	return s;
}

/* The server's families, registered (or found) by name. */
enum { CALLS, DURATION, IN_FLIGHT, QUEUE_WAIT, N_SERVER_FAMILIES };

static core_metric *
server_family(int which)
{
	switch (which) {
	case CALLS:
		return core_metric_family(CORE_METRIC_COUNTER,
		    "rpc_server_calls_total",
		    "RPCs answered by this server, by method and status code.",
		    by_method_code, NULL, 0);
	case DURATION:
		return core_metric_family(CORE_METRIC_HISTOGRAM,
		    "rpc_server_call_duration_seconds",
		    "Time from receiving an RPC to handing its reply to the "
		    "transport, by method.",
		    by_method, NULL, 0);
	case IN_FLIGHT:
		return core_metric_family(CORE_METRIC_GAUGE,
		    "rpc_server_calls_in_flight",
		    "RPCs received and not yet answered, by method.",
		    by_method, NULL, 0);
	default:
		return core_metric_family(CORE_METRIC_HISTOGRAM,
		    "rpc_server_queue_wait_seconds",
		    "Time an RPC waited for a free worker thread, by method "
		    "(methods run on the receiving thread are not observed).",
		    by_method, NULL, 0);
	}
}

/* mm's series of family which (not CALLS), made the first time. */
static core_metric_series *
method_series(rpc_method_metrics *mm, rpc_series_slot *slot, int which)
{
	core_metric_series *s =
	    atomic_load_explicit(slot, memory_order_acquire);
	if (s == NULL) {
		s = cached(slot, server_family(which), mm->component,
		    mm->method, NULL);
	}
	return s;
}

int
rpc_server_metrics_init(rpc_server_metrics *sm, const rpc_method_table *t)
{
	memset(sm, 0, sizeof(*sm));
	sm->component = strdup(core_log_service());
	sm->methods = calloc(t->n + 1, sizeof(*sm->methods));
	if (sm->component == NULL || sm->methods == NULL) {
		return -1;
	}
	sm->n = t->n;
	/* Every family is listed (HELP, TYPE) from the start. */
	for (int i = 0; i < N_SERVER_FAMILIES; i++) {
		(void) server_family(i);
	}
	for (size_t i = 0; i <= t->n; i++) {
		sm->methods[i].method = i < t->n ? t->v[i].name : "unknown";
		sm->methods[i].component = sm->component;
	}
	sm->workers = core_metric_series_get(
	    core_metric_family(CORE_METRIC_GAUGE, "rpc_server_workers",
	        "Worker threads running handlers that may block.", NULL, NULL,
	        0),
	    sm->component, NULL);
	sm->busy = core_metric_series_get(
	    core_metric_family(CORE_METRIC_GAUGE, "rpc_server_workers_busy",
	        "Worker threads running a call now.", NULL, NULL, 0),
	    sm->component, NULL);
	return 0;
}

void
rpc_server_metrics_free(rpc_server_metrics *sm)
{
	free(sm->methods);
	free(sm->component);
	memset(sm, 0, sizeof(*sm));
}

rpc_method_metrics *
rpc_server_metrics_of(rpc_server_metrics *sm, const rpc_method_table *t,
    const rpc_method *m, const char *name)
{
	if (sm->methods == NULL) {
		return NULL;
	}
	if (m == NULL && name != NULL && name[0] != '\0') {
		m = rpc_methods_find(t, name);
	}
	return &sm->methods[m != NULL ? (size_t) (m - t->v) : sm->n];
}

void
rpc_metrics_call_start(rpc_method_metrics *mm)
{
	if (mm != NULL) {
		core_metric_inc(method_series(mm, &mm->in_flight, IN_FLIGHT));
	}
}

void
rpc_metrics_call_dropped(rpc_method_metrics *mm)
{
	if (mm != NULL) {
		core_metric_dec(method_series(mm, &mm->in_flight, IN_FLIGHT));
	}
}

void
rpc_metrics_dequeued(rpc_method_metrics *mm, int64_t recv_ns)
{
	if (mm != NULL) {
		core_metric_observe(
		    method_series(mm, &mm->queue_wait, QUEUE_WAIT),
		    (double) (rpc_now_ns() - recv_ns) / 1e9);
	}
}

void
rpc_metrics_call_end(
    rpc_method_metrics *mm, core_status st, int64_t recv_ns, bool started)
{
	if (mm == NULL) {
		return;
	}
	unsigned code =
	    (unsigned) st <= CORE_STATUS_MAX ? (unsigned) st : CORE_UNKNOWN;
	core_metric_series *s =
	    atomic_load_explicit(&mm->calls[code], memory_order_acquire);
	if (s == NULL) {
		s = cached(&mm->calls[code], server_family(CALLS),
		    mm->component, mm->method, core_status_str((int) code));
	}
	core_metric_inc(s);
	core_metric_observe(method_series(mm, &mm->duration, DURATION),
	    (double) (rpc_now_ns() - recv_ns) / 1e9);
	if (started) {
		core_metric_dec(method_series(mm, &mm->in_flight, IN_FLIGHT));
	}
}

/* ---- Client -------------------------------------------------------------- */

static core_metric *
client_calls(void)
{
	return core_metric_family(CORE_METRIC_COUNTER,
	    "rpc_client_calls_total",
	    "RPCs made to another service, by target and status code (the "
	    "reply's, or the client's own: UNAVAILABLE, DEADLINE_EXCEEDED).",
	    by_target_code, NULL, 0);
}

int
rpc_client_metrics_init(rpc_client_metrics *cm, const char *target)
{
	memset(cm, 0, sizeof(*cm));
	cm->component = strdup(core_log_service());
	cm->target = strdup(target);
	if (cm->component == NULL || cm->target == NULL) {
		return -1;
	}
	const char *v[] = {target};
	(void) client_calls();
	cm->duration = core_metric_series_get(
	    core_metric_family(CORE_METRIC_HISTOGRAM,
	        "rpc_client_call_duration_seconds",
	        "Time from starting an RPC to its reply or failure, by "
	        "target.",
	        by_target, NULL, 0),
	    cm->component, v);
	cm->connections = core_metric_series_get(
	    core_metric_family(CORE_METRIC_GAUGE, "rpc_client_connections",
	        "Connections up to the target's servers.", by_target, NULL, 0),
	    cm->component, v);
	return 0;
}

void
rpc_client_metrics_free(rpc_client_metrics *cm)
{
	free(cm->component);
	free(cm->target);
	memset(cm, 0, sizeof(*cm));
}

void
rpc_client_metrics_call(
    rpc_client_metrics *cm, core_status st, int64_t start_ns)
{
	if (cm->target == NULL) {
		return;
	}
	unsigned code =
	    (unsigned) st <= CORE_STATUS_MAX ? (unsigned) st : CORE_UNKNOWN;
	core_metric_series *s =
	    atomic_load_explicit(&cm->calls[code], memory_order_acquire);
	if (s == NULL) {
		s = cached(&cm->calls[code], client_calls(), cm->component,
		    cm->target, core_status_str((int) code));
	}
	core_metric_inc(s);
	core_metric_observe(
	    cm->duration, (double) (rpc_now_ns() - start_ns) / 1e9);
}
