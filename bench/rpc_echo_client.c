/* Load generator for the RPC core:
 *   rpc_echo_client URL CALLERS SECONDS [PAYLOAD_BYTES] [CONNS] [sync|async]
 * CALLERS concurrent callers call /test.v1.Echo/Echo back to back for
 * SECONDS; prints one line: callers, calls/s, p50/p99/p999 latency in
 * microseconds. "sync" callers are threads blocked in core_rpc_call (what a
 * service handler does); "async" callers are chains of core_rpc_call_async
 * completions on nng's threads (what an event-driven caller does). A
 * tls+tcp:// URL takes its credentials from RPC_TLS_* (core/tls.h). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "test/v1/test.pb-c.h"

#include "bench_common.h"
#include "core/log.h"
#include "core/rpc.h"
#include "core/trace.h"

#include "bench_tls.h"

typedef struct worker {
	core_rpc_client *cli;
	size_t size;
	atomic_bool *stop;
	hist h;
	uint64_t errors;
	/* async mode */
	uint8_t *packed;
	size_t packed_len;
	int64_t started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool finished;
} worker;

static void async_next(worker *w);

static void
async_done(void *arg, const core_rpc_reply *reply)
{
	worker *w = arg;
	if (reply->code == CORE_OK) {
		hist_add(&w->h, now_ns() - w->started);
	} else {
		w->errors++;
	}
	async_next(w);
}

static void
async_next(worker *w)
{
	if (!atomic_load(w->stop)) {
		w->started = now_ns();
		if (core_rpc_call_async(w->cli, "/test.v1.Echo/Echo",
		        w->packed, w->packed_len, NULL, async_done,
		        w) == CORE_OK) {
			return;
		}
		w->errors++;
	}
	pthread_mutex_lock(&w->mu);
	w->finished = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* RPC_BENCH_TRACE=1: callers work in a trace, so every call carries
 * traceparent, as calls made inside a call do. */
static bool
trace_wanted(void)
{
	const char *v = getenv("RPC_BENCH_TRACE");
	return v != NULL && strcmp(v, "1") == 0;
}

/* Starts w's chain of async calls, in a trace of its own if wanted: the
 * completions run in the trace of the call, so every call of the chain
 * carries it. */
static void
async_start(worker *w)
{
	core_trace t;
	core_trace_new(&t);
	core_trace_set(trace_wanted() ? &t : NULL);
	async_next(w);
	core_trace_set(NULL);
}

static void *
run(void *arg)
{
	worker *w = arg;
	core_arena *a = core_arena_new(0);
	uint8_t *data = calloc(1, w->size);
	Test__V1__EchoRequest req = TEST__V1__ECHO_REQUEST__INIT;
	req.data.data = data;
	req.data.len = w->size;
	if (trace_wanted()) {
		/* As a handler calling another service: every call carries
		 * the thread's traceparent. */
		core_trace t;
		core_trace_new(&t);
		core_trace_set(&t);
	}
	while (!atomic_load(w->stop)) {
		ProtobufCMessage *out = NULL;
		core_rpc_reply reply;
		int64_t t0 = now_ns();
		core_status st = core_rpc_call(w->cli, "/test.v1.Echo/Echo",
		    &req.base, &test__v1__echo_response__descriptor, &out,
		    NULL, a, &reply);
		int64_t t1 = now_ns();
		if (st == CORE_OK) {
			hist_add(&w->h, t1 - t0);
		} else {
			w->errors++;
		}
		req.seq++;
		core_arena_reset(a);
	}
	free(data);
	core_arena_free(a);
	return NULL;
}

/* Waits until worker w has stopped: its thread t joined or, async, its
 * last call completed. */
static void
wait_worker(worker *w, pthread_t t, bool async)
{
	if (!async) {
		pthread_join(t, NULL);
		return;
	}
	pthread_mutex_lock(&w->mu);
	while (!w->finished) {
		pthread_cond_wait(&w->cv, &w->mu);
	}
	pthread_mutex_unlock(&w->mu);
}

int
main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr,
		    "usage: %s URL CALLERS SECONDS [PAYLOAD_BYTES] [CONNS]\n",
		    argv[0]);
		return 2;
	}
	core_log_init("rpc_echo_client", CORE_LOG_WARN, false);
	core_tls *tls = NULL;
	if (bench_tls_from_env(&tls) != 0) {
		return 2;
	}
	int callers = (int) strtol(argv[2], NULL, 10);
	int seconds = (int) strtol(argv[3], NULL, 10);
	/* PAYLOAD_BYTES is the echoed data; the envelope (method name,
	 * request id, deadline) comes on top, as in real calls. */
	size_t size = argc > 4 ? (size_t) strtol(argv[4], NULL, 10) : 64;
	int conns = argc > 5 ? (int) strtol(argv[5], NULL, 10) : 2;
	bool async = argc > 6 && strcmp(argv[6], "async") == 0;
	const char *urls[] = {argv[1]};
	core_rpc_client_config cfg = {
	    .name = "echo", .urls = urls, .n_urls = 1, .conns_per_url = conns};
	core_rpc_client *cli = NULL;
	if (core_rpc_client_new(&cfg, &cli) != 0) {
		return 1;
	}
	atomic_bool stop = false;
	worker *w = calloc((size_t) callers, sizeof(*w));
	pthread_t *t = calloc((size_t) callers, sizeof(*t));
	/* Warm up: connections up before the clock starts. */
	while (core_rpc_client_connections(cli) < conns) {
		usleep(1000);
	}
	uint8_t *data = calloc(1, size);
	Test__V1__EchoRequest req = TEST__V1__ECHO_REQUEST__INIT;
	req.data.data = data;
	req.data.len = size;
	size_t packed_len = test__v1__echo_request__get_packed_size(&req);
	uint8_t *packed = malloc(packed_len);
	test__v1__echo_request__pack(&req, packed);
	int64_t t0 = now_ns();
	for (int i = 0; i < callers; i++) {
		w[i] = (worker){.cli = cli,
		    .size = size,
		    .stop = &stop,
		    .packed = packed,
		    .packed_len = packed_len};
		pthread_mutex_init(&w[i].mu, NULL);
		pthread_cond_init(&w[i].cv, NULL);
		if (async) {
			async_start(&w[i]);
		} else {
			pthread_create(&t[i], NULL, run, &w[i]);
		}
	}
	sleep((unsigned) seconds);
	atomic_store(&stop, true);
	static hist all;
	uint64_t errors = 0;
	for (int i = 0; i < callers; i++) {
		wait_worker(&w[i], t[i], async);
		hist_merge(&all, &w[i].h);
		errors += w[i].errors;
	}
	free(packed);
	free(data);
	double secs = (double) (now_ns() - t0) / 1e9;
	printf(
	    "rpc mode=%s callers=%d calls_per_s=%.0f p50_us=%.0f p99_us=%.0f "
	    "p999_us=%.0f errors=%llu calls=%llu\n",
	    async ? "async" : "sync", callers, (double) all.n / secs,
	    hist_quantile(&all, 0.5), hist_quantile(&all, 0.99),
	    hist_quantile(&all, 0.999), (unsigned long long) errors,
	    (unsigned long long) all.n);
	core_rpc_client_free(cli);
	core_tls_set_default(NULL);
	core_tls_free(tls);
	free(w);
	free(t);
	return errors > 0;
}
