/* Refresh load: THREADS callers each log USERNAME in once over RPC, then
 * call auth.Refresh for SECONDS with the refresh token the previous call
 * returned (a refresh token rotates on each use: a caller that reused one
 * would measure the reuse detection, not refreshes).
 *   refresh_load URL USERNAME PASSWORD THREADS SECONDS
 * The callers log in one after the other before the clock starts (svc-auth
 * refuses logins beyond its Argon2id slots and queue). Prints refreshes/s,
 * p50/p99 in microseconds and the count of each non-OK status; a caller
 * whose chain breaks (an error reply) logs in again (counted in logins=), so
 * the errors are counted, not hidden. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/v1/auth.pb-c.h"
#include "bench_common.h"
#include "bench_rpc.h"
#include "core/log.h"
#include "core/rpc.h"

#define LOGIN "/auth.v1.AuthService/Login"
#define REFRESH "/auth.v1.AuthService/Refresh"
#define TOKEN_MAX 1024

typedef struct worker {
	core_rpc_client *cli;
	char *username;
	char *password;
	atomic_bool *stop;
	hist h;
	uint64_t errors[CORE_STATUS_MAX + 1];
	uint64_t logins;
	char token[TOKEN_MAX];
	bool have;
} worker;

static const core_rpc_opts opts = {.timeout_ms = 10000};

/* Copies the refresh token of a TokenResponse into token; 0, or -1 when
 * the reply has none. */
static int
keep_token(const ProtobufCMessage *out, char *token)
{
	const Auth__V1__TokenResponse *r =
	    (const Auth__V1__TokenResponse *) out;
	if (r->refresh_token == NULL || r->refresh_token[0] == '\0' ||
	    strlen(r->refresh_token) >= TOKEN_MAX) {
		return -1;
	}
	memcpy(token, r->refresh_token, strlen(r->refresh_token) + 1);
	return 0;
}

/* Logs the caller in; 0 with its refresh token in token, or -1. */
static int
login(worker *w, core_arena *a, char *token)
{
	Auth__V1__LoginRequest in = AUTH__V1__LOGIN_REQUEST__INIT;
	in.username = w->username;
	in.password = w->password;
	in.client_ip = "127.0.0.1";
	in.user_agent = "refresh_load";
	ProtobufCMessage *out = NULL;
	core_rpc_reply reply;
	core_status st = core_rpc_call(w->cli, LOGIN, &in.base,
	    &auth__v1__token_response__descriptor, &out, &opts, a, &reply);
	w->logins++;
	if (st != CORE_OK) {
		w->errors[st]++;
		return -1;
	}
	return keep_token(out, token);
}

static void *
run(void *arg)
{
	worker *w = arg;
	core_arena *a = core_arena_new(0);
	char *token = w->token;
	bool have = w->have;
	while (!atomic_load(w->stop)) {
		if (!have) {
			have = login(w, a, token) == 0;
			core_arena_reset(a);
			continue;
		}
		Auth__V1__RefreshRequest in = AUTH__V1__REFRESH_REQUEST__INIT;
		in.refresh_token = token;
		in.client_ip = "127.0.0.1";
		in.user_agent = "refresh_load";
		ProtobufCMessage *out = NULL;
		core_rpc_reply reply;
		int64_t t0 = now_ns();
		core_status st = core_rpc_call(w->cli, REFRESH, &in.base,
		    &auth__v1__token_response__descriptor, &out, &opts, a,
		    &reply);
		if (st == CORE_OK && keep_token(out, token) == 0) {
			hist_add(&w->h, now_ns() - t0);
		} else {
			w->errors[st == CORE_OK ? CORE_INTERNAL : st]++;
			have = false;
		}
		core_arena_reset(a);
	}
	core_arena_free(a);
	return NULL;
}

int
main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr,
		    "usage: %s URL USERNAME PASSWORD THREADS SECONDS\n",
		    argv[0]);
		return 2;
	}
	core_log_init("refresh_load", CORE_LOG_ERROR, false);
	int threads = (int) strtol(argv[4], NULL, 10);
	int seconds = (int) strtol(argv[5], NULL, 10);
	if (threads < 1 || threads > 1024 || seconds < 1) {
		fprintf(stderr, "THREADS must be 1..1024 and SECONDS >= 1\n");
		return 2;
	}
	core_rpc_client *cli = bench_dial(argv[1]);
	if (cli == NULL) {
		return 1;
	}
	atomic_bool stop = false;
	worker *w = calloc((size_t) threads, sizeof(*w));
	pthread_t *t = calloc((size_t) threads, sizeof(*t));
	core_arena *a = core_arena_new(0);
	for (int i = 0; i < threads; i++) {
		w[i] = (worker){.cli = cli,
		    .username = argv[2],
		    .password = argv[3],
		    .stop = &stop};
		if (login(&w[i], a, w[i].token) != 0) {
			fprintf(stderr, "auth.Login of caller %d failed\n", i);
			return 1;
		}
		w[i].have = true;
		w[i].logins = 0;
		core_arena_reset(a);
	}
	core_arena_free(a);
	int64_t t0 = now_ns();
	for (int i = 0; i < threads; i++) {
		pthread_create(&t[i], NULL, run, &w[i]);
	}
	sleep((unsigned) seconds);
	atomic_store(&stop, true);
	static hist all;
	uint64_t errors[CORE_STATUS_MAX + 1] = {0};
	uint64_t logins = 0;
	for (int i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		hist_merge(&all, &w[i].h);
		logins += w[i].logins;
		for (int k = 0; k <= CORE_STATUS_MAX; k++) {
			errors[k] += w[i].errors[k];
		}
	}
	double secs = (double) (now_ns() - t0) / 1e9;
	printf("auth.Refresh threads=%d ok=%llu ok_per_s=%.0f p50_us=%.0f "
	       "p99_us=%.0f logins=%llu",
	    threads, (unsigned long long) all.n, (double) all.n / secs,
	    hist_quantile(&all, 0.5), hist_quantile(&all, 0.99),
	    (unsigned long long) logins);
	for (int k = 1; k <= CORE_STATUS_MAX; k++) {
		if (errors[k] > 0) {
			printf(" %s=%llu", core_status_str(k),
			    (unsigned long long) errors[k]);
		}
	}
	printf("\n");
	core_rpc_client_free(cli);
	free(w);
	free(t);
	return 0;
}
