/* Generic RPC load: N threads call one method with one JSON request.
 *   rpc_load URL METHOD JSON THREADS SECONDS [BEARER_TOKEN]
 * METHOD as rpcctl takes it (auth.Login, /auth.v1.AuthService/CheckToken).
 * Prints calls/s, p50/p99 in microseconds and the count of each non-OK
 * status, so a run that only measured errors is visible. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_common.h"
#include "bench_rpc.h"
#include "core/json.h"
#include "core/log.h"
#include "registry.h"
#include "core/rpc.h"

typedef struct worker {
	core_rpc_client *cli;
	const char *method;
	const uint8_t *payload;
	size_t len;
	const core_rpc_opts *opts;
	atomic_bool *stop;
	hist h;
	uint64_t errors[CORE_STATUS_MAX + 1];
} worker;

static void *
run(void *arg)
{
	worker *w = arg;
	core_arena *a = core_arena_new(0);
	while (!atomic_load(w->stop)) {
		core_rpc_reply reply;
		int64_t t0 = now_ns();
		core_status st = core_rpc_call_raw(
		    w->cli, w->method, w->payload, w->len, w->opts, a, &reply);
		if (st == CORE_OK) {
			hist_add(&w->h, now_ns() - t0);
		} else {
			w->errors[st]++;
		}
		core_arena_reset(a);
	}
	core_arena_free(a);
	return NULL;
}

/* The full method name (into method) and the packed request (malloc'd,
 * into *payload) for a method name as rpcctl takes it and a JSON request.
 * 0, or -1 after saying why. */
static int
build_request(const char *name, const char *json, char *method,
    size_t method_size, uint8_t **payload, size_t *len)
{
	const registry_service *svc;
	const ProtobufCMethodDescriptor *m;
	if (registry_find(name, &svc, &m) != 0) {
		fprintf(stderr, "unknown method %s\n", name);
		return -1;
	}
	snprintf(method, method_size, "/%s/%s", svc->desc->name, m->name);
	ProtobufCMessage *in = NULL;
	core_json_error err;
	if (core_json_to_pb(
	        m->input, json, strlen(json), NULL, NULL, &in, &err) != 0) {
		fprintf(stderr, "bad request JSON: %s %s\n", err.field,
		    err.message);
		return -1;
	}
	*len = protobuf_c_message_get_packed_size(in);
	*payload = malloc(*len + 1);
	protobuf_c_message_pack(in, *payload);
	protobuf_c_message_free_unpacked(in, NULL);
	return 0;
}

/* Prints the rate, the latencies and the count of each non-OK status. */
static void
report(const char *method, int threads, double secs, const hist *all,
    const uint64_t *errors)
{
	printf("%s threads=%d ok_per_s=%.0f p50_us=%.0f p99_us=%.0f", method,
	    threads, (double) all->n / secs, hist_quantile(all, 0.5),
	    hist_quantile(all, 0.99));
	for (int k = 1; k <= CORE_STATUS_MAX; k++) {
		if (errors[k] > 0) {
			printf(" %s=%llu", core_status_str(k),
			    (unsigned long long) errors[k]);
		}
	}
	printf("\n");
}

int
main(int argc, char **argv)
{
	if (argc < 6) {
		fprintf(stderr,
		    "usage: %s URL METHOD JSON THREADS SECONDS [TOKEN]\n",
		    argv[0]);
		return 2;
	}
	core_log_init("rpc_load", CORE_LOG_ERROR, false);
	char method[256];
	uint8_t *payload = NULL;
	size_t len = 0;
	if (build_request(argv[2], argv[3], method, sizeof(method), &payload,
	        &len) != 0) {
		return 2;
	}

	int threads = (int) strtol(argv[4], NULL, 10);
	int seconds = (int) strtol(argv[5], NULL, 10);
	char auth[4096];
	core_md md[1];
	core_rpc_opts opts = {.timeout_ms = 10000};
	if (argc > 6) {
		snprintf(auth, sizeof(auth), "Bearer %s", argv[6]);
		md[0] = (core_md){CORE_MD_AUTHORIZATION, auth};
		opts.md = md;
		opts.n_md = 1;
	}
	core_rpc_client *cli = bench_dial(argv[1]);
	if (cli == NULL) {
		return 1;
	}
	atomic_bool stop = false;
	worker *w = calloc((size_t) threads, sizeof(*w));
	pthread_t *t = calloc((size_t) threads, sizeof(*t));
	int64_t t0 = now_ns();
	for (int i = 0; i < threads; i++) {
		w[i] = (worker){.cli = cli,
		    .method = method,
		    .payload = payload,
		    .len = len,
		    .opts = &opts,
		    .stop = &stop};
		pthread_create(&t[i], NULL, run, &w[i]);
	}
	sleep((unsigned) seconds);
	atomic_store(&stop, true);
	static hist all;
	uint64_t errors[CORE_STATUS_MAX + 1] = {0};
	for (int i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		hist_merge(&all, &w[i].h);
		for (int k = 0; k <= CORE_STATUS_MAX; k++) {
			errors[k] += w[i].errors[k];
		}
	}
	report(method, threads, (double) (now_ns() - t0) / 1e9, &all, errors);
	core_rpc_client_free(cli);
	free(payload);
	free(w);
	free(t);
	return 0;
}
