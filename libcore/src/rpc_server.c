/* RPC server: many nng rep0 contexts driven by aio callbacks, and a pool of
 * worker threads for the handlers that block.
 *
 * Each context (RPC_CONTEXTS of them) receives with an aio whose callback
 * runs on one of nng's threads: it decodes the envelope, finds the method
 * and either runs it right there and sends the reply (a method marked
 * CORE_METHOD_INLINE: it never blocks) or queues the context for a worker.
 * A worker owns the state from worker_init (its database and Redis
 * connections), runs the handler, and sends the reply on the context; the
 * send's completion re-arms the receive. Many contexts, rather than one per
 * worker, let nng decode requests from every connection while the workers
 * are busy, and an inline call costs no thread hand-off at all (measured:
 * bench/README.md). A method inline on its read finishes on its Redis
 * read's completion, with a worker only to block (rpc_server_read.c).
 *
 * Stopping: `stopping` is set and every context waiting in a receive is
 * cancelled; calls already received run to the end (inline or queued) and
 * send their reply, then their context stops (one waiting for its read
 * on the pipe is live until its reply). When no context is live (or
 * drain_ms passes) the workers are told to quit, the socket is closed,
 * the workers are joined and the pipe is closed. See docs/internals/rpc.md. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <sodium.h>

#include "core/v1/core.pb-c.h"
#include "core/v1/health.pb-c.h"

#include "core/log.h"
#include "core/pbcheck.h"
#include "core/rpc.h"
#include "core/utf8.h"
#include "rpc_call.h"
#include "rpc_internal.h"
#include "rpc_methods.h"
#include "rpc_server_internal.h"

#define CLOSE_WAIT_MS 3000
#define CLOSE_LINGER_MS 100
/* An inline call taking this long (from receipt) is reported. */
#define INLINE_SLOW_MS 50

/* ---- Health, served by every server ------------------------------------ */

static core_status
health_check(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	const Core__V1__HealthCheckRequest *req =
	    (const Core__V1__HealthCheckRequest *) in;
	Core__V1__HealthCheckResponse *resp =
	    (Core__V1__HealthCheckResponse *) out;
	core_rpc_server *s = c->srv;

	if (req->service[0] != '\0') {
		/* A named service must be one this server serves. */
		size_t n = strlen(req->service);
		bool known = false;
		for (size_t i = 0; i < s->methods.n && !known; i++) {
			const char *m = s->methods.v[i].name + 1;
			known =
			    strncmp(m, req->service, n) == 0 && m[n] == '/';
		}
		if (!known) {
			resp->status =
			    CORE__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN;
			return CORE_OK;
		}
	}
	bool ok = s->health == NULL || s->health(c->state);
	resp->status =
	    ok ? CORE__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
	       : CORE__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
	return CORE_OK;
}

static const core_rpc_method health_methods[] = {
    /* Inline unless the service's health hook needs a worker's state
     * (core_rpc_server_new decides). */
    {"/core.v1.Health/Check", health_check, CORE_METHOD_INLINE, 0, NULL, NULL},
};
static const core_rpc_service health_service = {
    &core__v1__health__descriptor, health_methods, 1, NULL};

/* ---- Handling one call (on a worker) ----------------------------------- */

static rpc_method_metrics *
metrics_of(core_rpc_server *s, const core_call *c, const rpc_method *m)
{
	return rpc_server_metrics_of(&s->metrics, &s->methods, m, c->method);
}

/* Counts a call that ended with st (started: it was in flight). */
static void
call_done(core_rpc_server *s, rpc_method_metrics *mm, core_status st,
    int64_t recv_ns, bool started)
{
	atomic_fetch_add(&s->calls, 1);
	rpc_metrics_call_end(mm, st, recv_ns, started);
}

nng_msg *
rpc_server_handle(
    core_rpc_server *s, nng_msg *msg, void *state, core_arena *arena)
{
	core_call c;
	Core__V1__Response resp = CORE__V1__RESPONSE__INIT;
	const rpc_method *m = NULL;
	int64_t now = rpc_now_ms(), now_ns = rpc_now_ns();
	rpc_call_init(&c, s, s->has_auth ? &s->auth : NULL, state, arena);
	core_status st = rpc_call_begin(&c, &s->methods, msg, now, &m);
	if (st == CORE_OK) {
		st = rpc_call_run(&c, m, &resp);
	}
	call_done(s, metrics_of(s, &c, m), st, now_ns, false);
	return rpc_call_finish(&c, st, &resp, msg, now, s->max_msg);
}

/* ---- Contexts (on nng's threads) ---------------------------------------- */

/* A context that will start nothing more: stop may be waiting for it. */
static void
ctx_done(rpc_ctx *x)
{
	core_rpc_server *s = x->srv;
	pthread_mutex_lock(&s->mu);
	s->live--;
	pthread_cond_broadcast(&s->state_cv);
	pthread_mutex_unlock(&s->mu);
}

/* Starts the context's next receive, unless the server is stopping. */
static void
ctx_receive(rpc_ctx *x)
{
	core_rpc_server *s = x->srv;
	pthread_mutex_lock(&x->mu);
	if (atomic_load(&s->stopping)) {
		pthread_mutex_unlock(&x->mu);
		ctx_done(x);
		return;
	}
	x->receiving = true;
	pthread_mutex_unlock(&x->mu);
	nng_ctx_recv(x->ctx, x->aio);
	/* signal_stop sets `stopping`, then cancels every context marked
	 * receiving. Either it cancels after our receive started, or we see
	 * `stopping` here and cancel it ourselves. */
	if (atomic_load(&s->stopping)) {
		nng_aio_cancel(x->aio);
	}
}

/* Sends the reply of the context's call (NULL: none, receive again). */
static void
ctx_reply(rpc_ctx *x, nng_msg *reply)
{
	if (reply == NULL) {
		ctx_receive(x);
		return;
	}
	nng_aio_set_msg(x->aio, reply);
	x->sending = true;
	nng_ctx_send(x->ctx, x->aio);
}

void
rpc_server_queue(core_rpc_server *s, rpc_ctx *x)
{
	x->next = NULL;
	pthread_mutex_lock(&s->qmu);
	if (s->qtail != NULL) {
		s->qtail->next = x;
	} else {
		s->qhead = x;
	}
	s->qtail = x;
	pthread_cond_signal(&s->qcv);
	pthread_mutex_unlock(&s->qmu);
}

/* The next queued call, waiting for one; NULL when the workers quit. */
static rpc_ctx *
queue_pop(core_rpc_server *s)
{
	pthread_mutex_lock(&s->qmu);
	while (s->qhead == NULL && !s->quit) {
		pthread_cond_wait(&s->qcv, &s->qmu);
	}
	rpc_ctx *x = s->quit ? NULL : s->qhead;
	if (x != NULL) {
		s->qhead = x->next;
		if (s->qhead == NULL) {
			s->qtail = NULL;
		}
	}
	pthread_mutex_unlock(&s->qmu);
	return x;
}

/* An inline method that took long has most likely blocked, holding one of
 * nng's few I/O threads: say so (once per server, not per call). */
static void
inline_check(core_rpc_server *s, const core_call *c, int64_t recv_ms)
{
	if (rpc_now_ms() - recv_ms < INLINE_SLOW_MS ||
	    atomic_exchange(&s->inline_warned, true)) {
		return;
	}
	core_log_kv(CORE_LOG_WARN,
	    "an inline method ran long: does its handler block? (logged "
	    "once)",
	    "method", c->method, NULL);
}

/* ---- Inline on the read (CORE_METHOD_INLINE_ON_PREFETCH) -------------- */

void
rpc_server_reply(core_rpc_server *s, rpc_ctx *x, core_status st)
{
	core_call *c = &x->call;
	nng_msg *msg = x->msg;
	x->msg = NULL;
	call_done(s, x->mm, st, x->recv_ns, true);
	ctx_reply(
	    x, rpc_call_finish(c, st, &x->resp, msg, x->recv_ms, s->max_msg));
}

/* A receive or a send of the context completed. */
static void
ctx_cb(void *arg)
{
	rpc_ctx *x = arg;
	core_rpc_server *s = x->srv;
	int rv = nng_aio_result(x->aio);

	if (x->sending) {
		x->sending = false;
		if (rv != 0) {
			/* The caller went away or the socket closed; the
			 * message is still ours. */
			nng_msg_free(nng_aio_get_msg(x->aio));
			nng_aio_set_msg(x->aio, NULL);
		}
		ctx_receive(x);
		return;
	}
	pthread_mutex_lock(&x->mu);
	x->receiving = false;
	pthread_mutex_unlock(&x->mu);
	if (rv != 0) {
		if (rv == NNG_ECLOSED || rv == NNG_ECANCELED ||
		    atomic_load(&s->stopping)) {
			ctx_done(x);
			return;
		}
		core_log_warn("receive failed: %s", nng_strerror(rv));
		ctx_receive(x);
		return;
	}
	nng_msg *msg = nng_aio_get_msg(x->aio);
	nng_aio_set_msg(x->aio, NULL);
	int64_t now = rpc_now_ms();
	x->recv_ns = rpc_now_ns();
	const rpc_method *m = NULL;
	core_call *c = &x->call;
	rpc_call_init(c, s, s->has_auth ? &s->auth : NULL, NULL, x->arena);
	x->resp = (Core__V1__Response) CORE__V1__RESPONSE__INIT;
	core_status st = rpc_call_begin(c, &s->methods, msg, now, &m);
	x->mm = metrics_of(s, c, m);
	if (st == CORE_OK) {
		rpc_metrics_call_start(x->mm);
	}
	if (st == CORE_OK && !m->inline_ok) {
		/* A method that may block: a worker runs it (and sends);
		 * one inline on its read: the pipe carries the read first. */
		x->msg = msg;
		x->m = m;
		x->recv_ms = now;
		x->phase = RPC_RUN;
		if (m->on_read && s->pipe != NULL) {
			rpc_server_read_start(s, x);
			return;
		}
		rpc_call_log_clear();
		rpc_server_queue(s, x);
		return;
	}
	bool started = st == CORE_OK;
	if (started) {
		st = rpc_call_run(c, m, &x->resp);
		inline_check(s, c, now);
	}
	call_done(s, x->mm, st, x->recv_ns, started);
	ctx_reply(x, rpc_call_finish(c, st, &x->resp, msg, now, s->max_msg));
}

/* ---- Workers -------------------------------------------------------------- */

static void
serve(core_rpc_server *s, void *state)
{
	rpc_ctx *x;
	while ((x = queue_pop(s)) != NULL) {
		core_call *c = &x->call;
		c->state = state;
		rpc_call_log_id(c);
		rpc_metrics_dequeued(x->mm, x->recv_ns);
		core_metric_inc(s->metrics.busy);
		core_status st;
		/* The call may have waited in the queue. */
		if (c->deadline_ms <= rpc_now_ms()) {
			st = core_call_error(c, CORE_DEADLINE_EXCEEDED,
			    "deadline exceeded before the call started");
		} else if (x->phase != RPC_RUN) {
			st = rpc_server_worker_part(x);
		} else {
			st = rpc_call_run(c, x->m, &x->resp);
		}
		nng_msg *msg = x->msg;
		x->msg = NULL;
		call_done(s, x->mm, st, x->recv_ns, true);
		core_metric_dec(s->metrics.busy);
		ctx_reply(x, rpc_call_finish(c, st, &x->resp, msg, x->recv_ms,
		                 s->max_msg));
	}
}

static void *
worker_main(void *arg)
{
	core_rpc_server *s = arg;
	void *state = NULL;
	bool ok = true;

	if (s->worker_init != NULL) {
		state = s->worker_init(s->app);
		ok = state != NULL;
	}
	pthread_mutex_lock(&s->mu);
	if (ok) {
		s->workers_ready++;
	} else {
		s->workers_failed++;
	}
	pthread_cond_broadcast(&s->state_cv);
	/* Serve only once every worker is up, so a failed start never
	 * answers calls. */
	while (ok && s->workers_ready + s->workers_failed < s->n_workers) {
		pthread_cond_wait(&s->state_cv, &s->mu);
	}
	ok = ok && s->workers_failed == 0;
	pthread_mutex_unlock(&s->mu);

	if (ok) {
		core_metric_inc(s->metrics.workers);
		serve(s, state);
		core_metric_dec(s->metrics.workers);
	}
	if (state != NULL && s->worker_fini != NULL) {
		s->worker_fini(state);
	}
	pthread_mutex_lock(&s->mu);
	s->workers_exited++;
	pthread_cond_broadcast(&s->state_cv);
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* ---- Life cycle -------------------------------------------------------- */

int
core_rpc_server_new(const core_rpc_server_config *cfg,
    const core_rpc_service *services, size_t n_services, core_rpc_server **out)
{
	if (cfg == NULL || cfg->n_listen == 0 || cfg->workers < 0 ||
	    cfg->contexts < 0 || cfg->contexts > CORE_RPC_MAX_CONTEXTS ||
	    cfg->drain_ms < 0) {
		return -EINVAL;
	}
	if (sodium_init() < 0) {
		return -ENOMEM;
	}
	core_rpc_server *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		return -ENOMEM;
	}
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->state_cv, NULL);
	pthread_mutex_init(&s->qmu, NULL);
	pthread_cond_init(&s->qcv, NULL);
	s->n_workers = cfg->workers ? cfg->workers : 8;
	s->n_contexts =
	    cfg->contexts ? cfg->contexts : CORE_RPC_DEFAULT_CONTEXTS;
	s->max_msg =
	    cfg->max_msg_bytes ? cfg->max_msg_bytes : CORE_RPC_DEFAULT_MAX_MSG;
	s->drain_ms = cfg->drain_ms ? cfg->drain_ms : 10000;
	s->arena_cap = cfg->arena_cap ? cfg->arena_cap : 4 * s->max_msg;
	s->worker_init = cfg->worker_init;
	s->worker_fini = cfg->worker_fini;
	s->app = cfg->app;
	s->health = cfg->health;
	s->tls = cfg->tls;
	if (cfg->auth != NULL) {
		s->auth = *cfg->auth;
		s->has_auth = true;
	}
	s->name = strdup(cfg->name ? cfg->name : "rpc");
	s->listen_urls = calloc(cfg->n_listen, sizeof(char *));
	if (s->name == NULL || s->listen_urls == NULL) {
		goto fail;
	}
	s->n_listen = cfg->n_listen;
	for (size_t i = 0; i < cfg->n_listen; i++) {
		if ((s->listen_urls[i] = strdup(cfg->listen_urls[i])) ==
		    NULL) {
			goto fail;
		}
	}

	int rv = rpc_methods_build(
	    &s->methods, &health_service, services, n_services, s->has_auth);
	if (rv != 0) {
		core_rpc_server_free(s);
		return rv;
	}
	if (s->health != NULL) {
		/* The health hook reads a worker's state (its database). */
		rpc_method *h = (rpc_method *) (uintptr_t) rpc_methods_find(
		    &s->methods, health_methods[0].name);
		h->inline_ok = false;
	}
	s->ctxs = calloc((size_t) s->n_contexts, sizeof(rpc_ctx));
	s->threads = calloc((size_t) s->n_workers, sizeof(pthread_t));
	if (s->ctxs == NULL || s->threads == NULL ||
	    rpc_server_metrics_init(&s->metrics, &s->methods) != 0) {
		goto fail;
	}
	*out = s;
	return 0;
fail:
	core_rpc_server_free(s);
	return -ENOMEM;
}

/* Waits (up to ms) until *count reaches target (under s->mu). Returns
 * how far it still is. */
static int
wait_count(core_rpc_server *s, const int *count, int target, int ms)
{
	struct timespec until;
	rpc_deadline_timespec(&until, ms);
	pthread_mutex_lock(&s->mu);
	int rv = 0;
	while (*count != target && rv != ETIMEDOUT) {
		rv = pthread_cond_timedwait(&s->state_cv, &s->mu, &until);
	}
	int left = *count - target;
	pthread_mutex_unlock(&s->mu);
	return left < 0 ? -left : left;
}

/* No new calls: every pending receive is cancelled, and a context that
 * finishes its call does not receive again. */
static void
signal_stop(core_rpc_server *s)
{
	atomic_store(&s->stopping, true);
	for (int i = 0; i < s->n_ctx_open; i++) {
		rpc_ctx *x = &s->ctxs[i];
		pthread_mutex_lock(&x->mu);
		if (x->receiving) {
			nng_aio_cancel(x->aio);
		}
		pthread_mutex_unlock(&x->mu);
	}
}

/* Tells the workers to exit once their current call is done; calls still
 * queued are not run. */
static void
quit_workers(core_rpc_server *s)
{
	pthread_mutex_lock(&s->qmu);
	s->quit = true;
	pthread_cond_broadcast(&s->qcv);
	pthread_mutex_unlock(&s->qmu);
}

/* Closes the socket, joins the workers and frees the contexts. With calls
 * still under way (the drain timed out), the socket is closed first: that
 * aborts sends stuck on peers that do not read. */
static void
shut_down(core_rpc_server *s, bool drained)
{
	quit_workers(s);
	if (!drained && s->sock_open) {
		rpc_close_bounded(s->sock, CLOSE_WAIT_MS);
		s->sock_open = false;
	}
	for (int i = 0; i < s->n_threads; i++) {
		pthread_join(s->threads[i], NULL);
	}
	s->n_threads = 0;
	/* Drained, no read is under way; otherwise the reads still queued
	 * run and their calls answer (or queue, to be dropped below). */
	core_redis_pipe_close(s->pipe);
	s->pipe = NULL;
	for (int i = 0; i < s->n_ctx_open; i++) {
		nng_ctx_close(s->ctxs[i].ctx);
	}
	if (s->sock_open && s->started_once) {
		/* A reply handed to nng is written by nng's threads after the
		 * context moved on; closing at once would cut the last replies
		 * off. nng 1.5.2 has no flush or linger, so give them a
		 * moment. */
		struct timespec linger = {0, CLOSE_LINGER_MS * 1000000L};
		nanosleep(&linger, NULL);
	}
	if (s->sock_open) {
		rpc_close_bounded(s->sock, CLOSE_WAIT_MS);
		s->sock_open = false;
	}
	for (int i = 0; i < s->n_ctx_open; i++) {
		rpc_ctx *x = &s->ctxs[i];
		nng_aio_free(x->aio); /* waits for a callback under way */
		if (x->msg != NULL) {
			nng_msg_free(x->msg); /* queued, never run */
			rpc_metrics_call_dropped(x->mm);
		}
		core_arena_free(x->arena);
		pthread_mutex_destroy(&x->mu);
		memset(x, 0, sizeof(*x));
	}
	s->n_ctx_open = 0;
	s->qhead = s->qtail = NULL;
}

/* Waits for every worker's init: true when all are up (else logged). */
static bool
workers_up(core_rpc_server *s)
{
	pthread_mutex_lock(&s->mu);
	while (s->workers_ready + s->workers_failed < s->n_workers) {
		pthread_cond_wait(&s->state_cv, &s->mu);
	}
	bool failed = s->workers_failed > 0;
	pthread_mutex_unlock(&s->mu);
	if (failed) {
		core_log_error("a worker failed to initialise");
	}
	return !failed;
}

int
core_rpc_server_start(core_rpc_server *s)
{
	int rv;

	s->port = -1;
	atomic_store(&s->stopping, false);
	s->quit = false;
	s->workers_ready = s->workers_failed = s->workers_exited = 0;
	if ((rv = nng_rep0_open(&s->sock)) != 0) {
		core_log_error(
		    "cannot open rep0 socket: %s", nng_strerror(rv));
		return -1;
	}
	s->sock_open = true;
	nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, s->max_msg);

	for (int i = 0; i < s->n_contexts; i++) {
		rpc_ctx *x = &s->ctxs[i];
		x->srv = s;
		if ((rv = nng_aio_alloc(&x->aio, ctx_cb, x)) != 0 ||
		    (rv = nng_ctx_open(&x->ctx, s->sock)) != 0 ||
		    (x->arena = core_arena_new(s->arena_cap)) == NULL) {
			core_log_error("cannot create context: %s",
			    rv ? nng_strerror(rv) : "out of memory");
			nng_aio_free(x->aio);
			x->aio = NULL;
			goto fail;
		}
		pthread_mutex_init(&x->mu, NULL);
		s->n_ctx_open++;
	}
	/* Workers first: if one cannot get its connections, the server
	 * fails before it listens. */
	for (int i = 0; i < s->n_workers; i++) {
		if (pthread_create(&s->threads[i], NULL, worker_main, s) !=
		    0) {
			core_log_error("cannot create worker thread");
			pthread_mutex_lock(&s->mu);
			/* Count the workers that will never start as failed,
			 * so the started ones stop waiting for them. */
			s->workers_failed += s->n_workers - i;
			pthread_cond_broadcast(&s->state_cv);
			pthread_mutex_unlock(&s->mu);
			goto fail;
		}
		s->n_threads++;
	}
	if (!workers_up(s) || rpc_server_open_pipe(s) != 0) {
		goto fail;
	}
	pthread_mutex_lock(&s->mu);
	s->live = s->n_ctx_open;
	pthread_mutex_unlock(&s->mu);
	for (int i = 0; i < s->n_ctx_open; i++) {
		ctx_receive(&s->ctxs[i]);
	}
	for (size_t i = 0; i < s->n_listen; i++) {
		if (rpc_listen(s->sock, s->listen_urls[i], s->tls, &s->port) !=
		    0) {
			goto fail;
		}
	}
	s->started = true;
	s->started_once = true;
	for (size_t i = 0; i < s->n_listen; i++) {
		core_log_kv(CORE_LOG_INFO, "listening", "url",
		    s->listen_urls[i], NULL);
	}
	return 0;

fail:
	signal_stop(s);
	shut_down(s, true);
	return -1;
}

void
core_rpc_server_stop(core_rpc_server *s)
{
	if (s == NULL || !s->started) {
		return;
	}
	s->started = false;
	signal_stop(s);
	int left = wait_count(s, &s->live, 0, s->drain_ms);
	if (left > 0) {
		core_log_warn("stopping with %d calls still in flight after "
		              "%d ms",
		    left, s->drain_ms);
	}
	shut_down(s, left == 0);
	core_log_info("stopped after %" PRIuFAST64 " calls",
	    (uint_fast64_t) atomic_load(&s->calls));
}

void
core_rpc_server_free(core_rpc_server *s)
{
	if (s == NULL) {
		return;
	}
	if (s->started) {
		core_rpc_server_stop(s);
	}
	if (s->sock_open) {
		rpc_close_bounded(s->sock, CLOSE_WAIT_MS);
	}
	rpc_server_metrics_free(&s->metrics);
	rpc_methods_free(&s->methods);
	for (size_t i = 0; s->listen_urls != NULL && i < s->n_listen; i++) {
		free(s->listen_urls[i]);
	}
	free(s->listen_urls);
	free(s->ctxs);
	free(s->threads);
	free(s->name);
	pthread_cond_destroy(&s->qcv);
	pthread_mutex_destroy(&s->qmu);
	pthread_cond_destroy(&s->state_cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

int
core_rpc_server_port(const core_rpc_server *s)
{
	return s->port;
}

uint64_t
core_rpc_server_calls(const core_rpc_server *s)
{
	return (uint64_t) atomic_load(&s->calls);
}
