/* Readiness, off the request path: a thread of its own asks every backend's
 * core.v1.Health in rounds (the calls of a round run at once,
 * asynchronously) and keeps each one's latest answer; GET /readyz only
 * reads what was kept. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/v1/health.pb-c.h"

#include "backends.h"
#include "http.h"
#include "ready.h"

/* Before a backend's first answer. */
#define NOT_YET "UNKNOWN"

/* One backend's probe: the argument of its completion. */
typedef struct probe {
	unsigned index;
} probe;

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv; /* a probe completed, or stop */
	pthread_t thread;
	bool running;
	bool stop;
	bool kick; /* a backend connected: next round now */
	long timeout_ms;
	unsigned pending; /* probes of this round not yet completed */
	/* Each backend's latest state: "SERVING", another serving status,
	 * or the call's status name. Static strings. */
	const char *state[EDGE_MAX_BACKENDS];
	probe probes[EDGE_MAX_BACKENDS];
	/* edge_backend_serving{service}: 1 while the latest answer is
	 * SERVING, else 0 (NULL when the registry is out of memory). */
	core_metric_series *serving[EDGE_MAX_BACKENDS];
} rd = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void
set_state(unsigned i, const char *state)
{
	pthread_mutex_lock(&rd.mu);
	rd.state[i] = state;
	core_metric_set(rd.serving[i], strcmp(state, "SERVING") == 0 ? 1 : 0);
	rd.pending--;
	pthread_cond_broadcast(&rd.cv);
	pthread_mutex_unlock(&rd.mu);
}

/* A Health answer's state: its serving status's name. Static. */
static const char *
serving_status(const core_rpc_reply *reply)
{
	Core__V1__HealthCheckResponse *m =
	    core__v1__health_check_response__unpack(
	        NULL, reply->payload_len, reply->payload);
	if (m == NULL) {
		return "INTERNAL";
	}
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
	    &core__v1__health_check_response__serving_status__descriptor,
	    (int) m->status);
	core__v1__health_check_response__free_unpacked(m, NULL);
	return v != NULL ? v->name : "UNKNOWN";
}

/* A probe's completion, on one of nng's threads (must not block). */
static void
probe_done(void *arg, const core_rpc_reply *reply)
{
	const probe *p = arg;
	set_state(p->index, reply->code == CORE_OK
	                        ? serving_status(reply)
	                        : core_status_str(reply->code));
}

/* Starts a round: one Health call per backend, all at once. A call that
 * cannot start (no connection) gives its state at once. */
static void
round_start(void)
{
	static const uint8_t empty[1];
	char rid[40];
	core_rpc_new_request_id(rid);
	core_md md[] = {{CORE_MD_REQUEST_ID, rid}};
	core_rpc_opts opts = {
	    .timeout_ms = (int) rd.timeout_ms, .md = md, .n_md = 1};
	unsigned n = edge_backend_count();
	pthread_mutex_lock(&rd.mu);
	rd.pending = n;
	rd.kick = false; /* a connection from now on asks again */
	pthread_mutex_unlock(&rd.mu);
	for (unsigned i = 0; i < n; i++) {
		rd.probes[i].index = i;
		/* The empty HealthCheckRequest packs to no bytes. */
		int rc = core_rpc_call_async(edge_backend_at(i)->client,
		    "/core.v1.Health/Check", empty, 0, &opts, probe_done,
		    &rd.probes[i]);
		if (rc != CORE_OK) {
			set_state(i, core_status_str(rc));
		}
	}
}

static bool
all_serving(void)
{
	for (unsigned i = 0; i < edge_backend_count(); i++) {
		if (strcmp(rd.state[i], "SERVING") != 0) {
			return false;
		}
	}
	return true;
}

static void
deadline_in(struct timespec *ts, long ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* The rounds: each waits for all its probes (every call completes, within
 * its deadline), then a pause: short while a backend is not serving, so
 * that readiness follows it closely, longer once all are; a backend's
 * first connection (edge_ready_kick) ends the pause at once. */
static void *
ready_main(void *arg)
{
	core_log_enter(arg); /* the edge's component */
	pthread_mutex_lock(&rd.mu);
	while (!rd.stop) {
		pthread_mutex_unlock(&rd.mu);
		round_start();
		pthread_mutex_lock(&rd.mu);
		while (rd.pending > 0) {
			pthread_cond_wait(&rd.cv, &rd.mu);
		}
		struct timespec until;
		deadline_in(&until, all_serving() ? EDGE_READY_INTERVAL_MS
		                                  : EDGE_READY_RETRY_MS);
		int w = 0;
		while (!rd.stop && !rd.kick && w == 0) {
			w = pthread_cond_timedwait(&rd.cv, &rd.mu, &until);
		}
	}
	pthread_mutex_unlock(&rd.mu);
	return NULL;
}

int
edge_ready_start(long timeout_ms)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	/* Under the mutex: edge_ready_kick may broadcast on it meanwhile. */
	pthread_mutex_lock(&rd.mu);
	pthread_cond_destroy(&rd.cv);
	pthread_cond_init(&rd.cv, &ca);
	pthread_mutex_unlock(&rd.mu);
	pthread_condattr_destroy(&ca);
	static const char *const labels[] = {"service", NULL};
	core_metric *serving = core_metric_family(CORE_METRIC_GAUGE,
	    "edge_backend_serving",
	    "1 while the service's latest core.v1.Health answer to the edge's "
	    "readiness probe was SERVING, else 0 (what GET /readyz reports).",
	    labels, NULL, 0);
	for (unsigned i = 0; i < EDGE_MAX_BACKENDS; i++) {
		rd.state[i] = NOT_YET;
		rd.serving[i] = NULL;
	}
	for (unsigned i = 0; serving != NULL && i < edge_backend_count();
	     i++) {
		const char *v[] = {edge_backend_at(i)->name};
		rd.serving[i] = core_metric_series_get(serving, NULL, v);
		core_metric_set(rd.serving[i], 0);
	}
	rd.timeout_ms = timeout_ms;
	rd.stop = false;
	if (pthread_create(&rd.thread, NULL, ready_main,
	        (void *) (uintptr_t) core_log_current()) != 0) {
		core_log_error("cannot start the readiness thread");
		return -1;
	}
	rd.running = true;
	return 0;
}

void
edge_ready_kick(void *unused)
{
	(void) unused;
	pthread_mutex_lock(&rd.mu);
	rd.kick = true;
	pthread_cond_broadcast(&rd.cv);
	pthread_mutex_unlock(&rd.mu);
}

void
edge_ready_stop(void)
{
	if (!rd.running) {
		return;
	}
	pthread_mutex_lock(&rd.mu);
	rd.stop = true;
	pthread_cond_broadcast(&rd.cv);
	pthread_mutex_unlock(&rd.mu);
	pthread_join(rd.thread, NULL);
	rd.running = false;
}

bool
edge_ready_serve(edge_request *r)
{
	const char *state[EDGE_MAX_BACKENDS];
	unsigned n = edge_backend_count();
	pthread_mutex_lock(&rd.mu);
	for (unsigned i = 0; i < n; i++) {
		state[i] = rd.running ? rd.state[i] : NOT_YET;
	}
	pthread_mutex_unlock(&rd.mu);
	json_t *down = json_array();
	json_t *checks = json_object();
	char detail[256] = "not ready:";
	for (unsigned i = 0; i < n; i++) {
		const char *name = edge_backend_at(i)->name;
		json_object_set_new(checks, name, json_string(state[i]));
		if (strcmp(state[i], "SERVING") != 0) {
			size_t len = strlen(detail);
			snprintf(detail + len, sizeof(detail) - len, "%s %s",
			    json_array_size(down) ? "," : "", name);
			json_array_append_new(down, json_string(name));
		}
	}
	if (down == NULL || checks == NULL) {
		json_decref(down);
		json_decref(checks);
		return false;
	}
	if (json_array_size(down) > 0) {
		return edge_http_problem(r, 503, detail,
		    json_pack("{s:o, s:o}", "down", down, "checks", checks),
		    0);
	}
	json_decref(down);
	json_t *ok =
	    json_pack("{s:s, s:o}", "status", "ready", "checks", checks);
	edge_answer ans = {.status = 200,
	    .type = "application/json",
	    .body = ok ? json_dumps(ok, JSON_COMPACT | JSON_PRESERVE_ORDER)
	               : NULL};
	json_decref(ok);
	return ans.body != NULL && edge_http_send(r, &ans);
}
