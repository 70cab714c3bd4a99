/* Plain nng req/rep echo, the ceiling for the RPC core's benchmark:
 *   nng_echo server URL [CONTEXTS]
 *   nng_echo client URL CALLERS SECONDS [PAYLOAD_BYTES] [CONNS]
 * No RPC core: no envelope, no decoding, no worker threads. The server's
 * rep0 contexts (default 128) are driven by aio callbacks on nng's own
 * threads: a received message is sent straight back as the reply. Each
 * client caller is a req0 context driven the same way, sending
 * PAYLOAD_BYTES (default 64) over CONNS connections (default 2, as the RPC
 * client), and timing each request until its reply. What nng itself costs
 * for a request/reply over the same transport. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include "bench_common.h"

/* A call that gets no reply within this fails (counted as an error). */
#define CALL_TIMEOUT_MS 5000

/* ---- Server ------------------------------------------------------------- */

typedef struct server_ctx {
	nng_ctx ctx;
	nng_aio *aio;
	bool sending;
} server_ctx;

/* Runs on nng's threads: a receive completed (send the message back) or a
 * send completed (receive the next). */
static void
server_cb(void *arg)
{
	server_ctx *c = arg;
	int rv = nng_aio_result(c->aio);
	if (c->sending) {
		c->sending = false;
		if (rv != 0) {
			nng_msg_free(nng_aio_get_msg(c->aio));
			nng_aio_set_msg(c->aio, NULL);
		}
		nng_ctx_recv(c->ctx, c->aio);
		return;
	}
	if (rv == NNG_ECLOSED || rv == NNG_ECANCELED) {
		return;
	}
	if (rv != 0) {
		nng_ctx_recv(c->ctx, c->aio);
		return;
	}
	/* The received message is the reply: the request's body as is. */
	c->sending = true;
	nng_ctx_send(c->ctx, c->aio);
}

static int
server(const char *url, int n_ctx)
{
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	/* Before nng starts its threads, so they inherit the mask and only
	 * sigwait below sees the signals. */
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	nng_socket sock;
	int rv;
	if ((rv = nng_rep0_open(&sock)) != 0) {
		fprintf(stderr, "rep0 socket: %s\n", nng_strerror(rv));
		return 1;
	}
	server_ctx *c = calloc((size_t) n_ctx, sizeof(*c));
	if (c == NULL) {
		fprintf(stderr, "out of memory\n");
		return 1;
	}
	for (int i = 0; i < n_ctx; i++) {
		if ((rv = nng_aio_alloc(&c[i].aio, server_cb, &c[i])) != 0 ||
		    (rv = nng_ctx_open(&c[i].ctx, sock)) != 0) {
			fprintf(stderr, "context: %s\n", nng_strerror(rv));
			return 1;
		}
	}
	if ((rv = nng_listen(sock, url, NULL, 0)) != 0) {
		fprintf(stderr, "listen %s: %s\n", url, nng_strerror(rv));
		return 1;
	}
	for (int i = 0; i < n_ctx; i++) {
		nng_ctx_recv(c[i].ctx, c[i].aio);
	}
	int sig;
	sigwait(&sigs, &sig);
	nng_close(sock);
	for (int i = 0; i < n_ctx; i++) {
		nng_aio_free(c[i].aio);
	}
	free(c);
	return 0;
}

/* ---- Client ------------------------------------------------------------- */

typedef struct client_shared {
	atomic_bool stop;
	atomic_int pipes;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int finished;
} client_shared;

typedef struct caller {
	client_shared *sh;
	nng_ctx ctx;
	nng_aio *aio;
	size_t size;
	bool receiving;
	int64_t started;
	hist h;
	uint64_t errors;
} caller;

static void
caller_finish(caller *k, nng_msg *msg)
{
	if (msg != NULL) {
		nng_msg_free(msg);
	}
	pthread_mutex_lock(&k->sh->mu);
	k->sh->finished++;
	pthread_cond_signal(&k->sh->cv);
	pthread_mutex_unlock(&k->sh->mu);
}

static void
caller_send(caller *k, nng_msg *msg)
{
	k->receiving = false;
	k->started = now_ns();
	nng_aio_set_msg(k->aio, msg);
	nng_ctx_send(k->ctx, k->aio);
}

/* Runs on nng's threads: the request went out (wait for the reply) or the
 * reply came (time it, send the next request with the same message). */
static void
caller_cb(void *arg)
{
	caller *k = arg;
	int rv = nng_aio_result(k->aio);
	if (!k->receiving) {
		if (rv != 0) {
			k->errors++;
			caller_finish(k, nng_aio_get_msg(k->aio));
			nng_aio_set_msg(k->aio, NULL);
			return;
		}
		k->receiving = true;
		nng_ctx_recv(k->ctx, k->aio);
		return;
	}
	if (rv != 0) {
		k->errors++;
		caller_finish(k, NULL);
		return;
	}
	nng_msg *msg = nng_aio_get_msg(k->aio);
	nng_aio_set_msg(k->aio, NULL);
	if (nng_msg_len(msg) == k->size) {
		hist_add(&k->h, now_ns() - k->started);
	} else {
		k->errors++;
	}
	if (atomic_load(&k->sh->stop)) {
		caller_finish(k, msg);
		return;
	}
	caller_send(k, msg);
}

static void
pipe_event(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	client_shared *sh = arg;
	(void) p;
	atomic_fetch_add(&sh->pipes, ev == NNG_PIPE_EV_ADD_POST ? 1 : -1);
}

/* Opens the req0 socket and waits (up to 5 s) until its conns connections
 * to url are up. Returns 0, or 1 after printing why not. */
static int
client_connect(const char *url, int conns, client_shared *sh, nng_socket *out)
{
	nng_socket sock;
	int rv;
	if ((rv = nng_req0_open(&sock)) != 0) {
		fprintf(stderr, "req0 socket: %s\n", nng_strerror(rv));
		return 1;
	}
	/* As the RPC client: never resend on a timer. */
	nng_socket_set_ms(sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	nng_pipe_notify(sock, NNG_PIPE_EV_ADD_POST, pipe_event, sh);
	nng_pipe_notify(sock, NNG_PIPE_EV_REM_POST, pipe_event, sh);
	for (int i = 0; i < conns; i++) {
		if ((rv = nng_dial(sock, url, NULL, NNG_FLAG_NONBLOCK)) != 0) {
			fprintf(
			    stderr, "dial %s: %s\n", url, nng_strerror(rv));
			return 1;
		}
	}
	/* Connections up before the clock starts. */
	for (int waited = 0; atomic_load(&sh->pipes) < conns; waited++) {
		if (waited == 5000) {
			fprintf(stderr, "no connection to %s\n", url);
			return 1;
		}
		usleep(1000);
	}
	*out = sock;
	return 0;
}

static int
client(const char *url, int callers, int seconds, size_t size, int conns)
{
	static client_shared sh;
	pthread_mutex_init(&sh.mu, NULL);
	pthread_cond_init(&sh.cv, NULL);
	nng_socket sock;
	int rv;
	if (client_connect(url, conns, &sh, &sock) != 0) {
		return 1;
	}
	caller *k = calloc((size_t) callers, sizeof(*k));
	if (k == NULL) {
		fprintf(stderr, "out of memory\n");
		return 1;
	}
	for (int i = 0; i < callers; i++) {
		k[i].sh = &sh;
		k[i].size = size;
		if ((rv = nng_aio_alloc(&k[i].aio, caller_cb, &k[i])) != 0 ||
		    (rv = nng_ctx_open(&k[i].ctx, sock)) != 0) {
			fprintf(stderr, "context: %s\n", nng_strerror(rv));
			return 1;
		}
		nng_ctx_set_ms(
		    k[i].ctx, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
		nng_aio_set_timeout(k[i].aio, CALL_TIMEOUT_MS);
	}
	int64_t t0 = now_ns();
	for (int i = 0; i < callers; i++) {
		nng_msg *msg;
		if (nng_msg_alloc(&msg, size) != 0) {
			fprintf(stderr, "out of memory\n");
			return 1;
		}
		memset(nng_msg_body(msg), 0, size);
		caller_send(&k[i], msg);
	}
	sleep((unsigned) seconds);
	atomic_store(&sh.stop, true);
	pthread_mutex_lock(&sh.mu);
	while (sh.finished < callers) {
		pthread_cond_wait(&sh.cv, &sh.mu);
	}
	pthread_mutex_unlock(&sh.mu);
	double secs = (double) (now_ns() - t0) / 1e9;
	static hist all;
	uint64_t errors = 0;
	for (int i = 0; i < callers; i++) {
		hist_merge(&all, &k[i].h);
		errors += k[i].errors;
	}
	printf("nng callers=%d calls_per_s=%.0f p50_us=%.0f p99_us=%.0f "
	       "p999_us=%.0f errors=%llu calls=%llu\n",
	    callers, (double) all.n / secs, hist_quantile(&all, 0.5),
	    hist_quantile(&all, 0.99), hist_quantile(&all, 0.999),
	    (unsigned long long) errors, (unsigned long long) all.n);
	nng_close(sock);
	for (int i = 0; i < callers; i++) {
		nng_aio_free(k[i].aio);
	}
	free(k);
	return errors > 0;
}

/* A positive integer argument, or -1. */
static long
positive(const char *s)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	return errno != 0 || end == s || *end != '\0' || v <= 0 ? -1 : v;
}

int
main(int argc, char **argv)
{
	if (argc >= 3 && argc <= 4 && strcmp(argv[1], "server") == 0) {
		long n = argc > 3 ? positive(argv[3]) : 128;
		if (n > 0 && n <= 4096) {
			return server(argv[2], (int) n);
		}
	} else if (argc >= 5 && argc <= 7 && strcmp(argv[1], "client") == 0) {
		long callers = positive(argv[3]);
		long secs = positive(argv[4]);
		long size = argc > 5 ? positive(argv[5]) : 64;
		long conns = argc > 6 ? positive(argv[6]) : 2;
		if (callers > 0 && callers <= 4096 && secs > 0 &&
		    secs <= 3600 && size > 0 && size <= 1 << 20 && conns > 0 &&
		    conns <= 64) {
			return client(argv[2], (int) callers, (int) secs,
			    (size_t) size, (int) conns);
		}
	}
	fprintf(stderr,
	    "usage: %s server URL [CONTEXTS]\n"
	    "       %s client URL CALLERS SECONDS [PAYLOAD_BYTES] [CONNS]\n",
	    argv[0], argv[0]);
	return 2;
}
