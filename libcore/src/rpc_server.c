/* RPC server: a pool of worker threads, each owning one nng rep0 context.
 *
 * A worker receives on its context (waiting on its aio, which has no
 * callback, so nng wakes it directly), decodes, runs the handler, encodes
 * and sends the reply, then receives again. nng's own threads only move
 * bytes; every handler runs on a worker, so handlers may block on
 * PostgreSQL or Redis. Waking the worker straight from nng's completion
 * saves one thread hand-off per call compared with a callback that queues
 * work for a pool (measured: bench/README.md).
 *
 * Stopping: `stopping` is set and every worker waiting in a receive is
 * cancelled; workers busy with a call finish it and send the reply, then
 * exit. When all have exited (or drain_ms passes) the socket is closed and
 * the workers are joined. See docs/internals/rpc.md. */
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

#define CLOSE_WAIT_MS 3000
#define CLOSE_LINGER_MS 100

typedef struct slot {
	core_rpc_server *srv;
	nng_ctx ctx;
	nng_aio *aio; /* no callback: the worker waits on it */
	pthread_mutex_t mu;
	bool receiving; /* a receive is (about to be) pending */
} slot;

struct core_rpc_server {
	char *name;
	char **listen_urls;
	size_t n_listen;
	int n_workers;
	size_t max_msg;
	int drain_ms;
	size_t arena_cap;
	void *(*worker_init)(void *);
	void (*worker_fini)(void *);
	void *app;
	bool (*health)(void *);
	bool has_auth;
	core_call_auth auth;
	const struct core_tls *tls; /* NULL: the default at start */

	rpc_method_table methods;

	nng_socket sock;
	bool sock_open;
	int port;    /* bound port of the first tcp:// listener, or -1 */
	slot *slots; /* one per worker */

	pthread_mutex_t mu;
	pthread_cond_t
	    state_cv; /* start waits for workers' init; stop for exits */
	atomic_bool stopping;
	int workers_ready;
	int workers_failed;
	int workers_exited;
	pthread_t *threads;
	int n_threads;
	bool started;
	bool started_once; /* listened: there may be replies to flush */
	atomic_uint_fast64_t calls;
};

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
    {"/core.v1.Health/Check", health_check, CORE_RULE_PUBLIC, 0, NULL, NULL},
};
static const core_rpc_service health_service = {
    &core__v1__health__descriptor, health_methods, 1, NULL};

/* ---- Handling one call (on a worker) ----------------------------------- */

static int64_t
parse_deadline(const core_call *c, int64_t recv_ms)
{
	const char *v = core_call_metadata(c, CORE_MD_DEADLINE);
	if (v == NULL) {
		return INT64_MAX;
	}
	char *end;
	errno = 0;
	long long ms = strtoll(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || ms < 0) {
		return INT64_MAX; /* a bad hint is ignored, not fatal */
	}
	if (ms > INT64_MAX / 2) {
		return INT64_MAX;
	}
	return recv_ms + ms;
}

/* Runs the call in c and fills resp. Returns the final status. */
static core_status
dispatch(core_call *c, const uint8_t *body, size_t len, int64_t recv_ms,
    Core__V1__Response *resp)
{
	ProtobufCAllocator *pa = core_arena_allocator(c->arena);
	char field[128];
	const char *why = "";

	/* The envelope's strings (method, metadata) are checked like the
	 * payload's: they reach handlers, logs and error messages. */
	if (core_pb_check_strings(&core__v1__request__descriptor, body, len,
	        field, sizeof(field), &why) != 0) {
		return core_call_error(c, CORE_INVALID_ARGUMENT,
		    "malformed request: %s %s", field, why);
	}
	Core__V1__Request *req = core__v1__request__unpack(pa, len, body);
	c->req = req;
	if (req == NULL) {
		return core_call_error(c, CORE_INVALID_ARGUMENT,
		    "malformed request: not a core.v1.Request message");
	}
	c->method = c->req->method;
	const char *rid = core_call_metadata(c, CORE_MD_REQUEST_ID);
	if (rid != NULL && core_rpc_request_id_valid(rid)) {
		core_log_set_request_id(rid);
	}
	c->deadline_ms = parse_deadline(c, recv_ms);
	if (c->deadline_ms <= rpc_now_ms()) {
		return core_call_error(c, CORE_DEADLINE_EXCEEDED,
		    "deadline exceeded before the call started");
	}

	const rpc_method *m = rpc_methods_find(&c->srv->methods, c->method);
	if (m == NULL) {
		return core_call_error(c, CORE_UNIMPLEMENTED,
		    "unknown method \"%.*s\"",
		    (int) core_utf8_prefix(c->method, 200), c->method);
	}
	if (core_pb_check_strings(m->desc->input, c->req->payload.data,
	        c->req->payload.len, field, sizeof(field), &why) != 0) {
		return core_call_field_error(c, field, "%s", why);
	}
	ProtobufCMessage *in = protobuf_c_message_unpack(
	    m->desc->input, pa, c->req->payload.len, c->req->payload.data);
	if (in == NULL) {
		return core_call_error(c, CORE_INVALID_ARGUMENT,
		    "request payload is not a valid %s", m->desc->input->name);
	}
	ProtobufCMessage *out =
	    core_arena_alloc(c->arena, m->desc->output->sizeof_message);
	if (out == NULL) {
		return core_call_error(
		    c, CORE_RESOURCE_EXHAUSTED, "out of memory");
	}
	m->desc->output->message_init(out);

	core_status st = rpc_peer_facts(c, req, m->desc->input, in);
	if (st == CORE_OK) {
		st = rpc_call_authorize(c, m->svc, m->row, in);
	}
	if (st != CORE_OK) {
		return st;
	}
	st = m->row->handler(c, in, out);
	if (st != CORE_OK) {
		return st;
	}
	size_t n = protobuf_c_message_get_packed_size(out);
	uint8_t *buf = core_arena_alloc(c->arena, n);
	if (buf == NULL) {
		return core_call_error(
		    c, CORE_RESOURCE_EXHAUSTED, "response too large");
	}
	protobuf_c_message_pack(out, buf);
	resp->payload.data = buf;
	resp->payload.len = n;
	return CORE_OK;
}

/* Builds the reply for the call into msg (reusing the request's message).
 * Returns 0, or -1 if no reply could be made (out of memory). */
static int
make_reply(core_call *c, core_status st, Core__V1__Response *resp,
    nng_msg *msg, size_t max_msg)
{
	resp->code = (Core__V1__Code) st;
	if (st != CORE_OK) {
		resp->payload.data = NULL;
		resp->payload.len = 0;
		if (st == CORE_INTERNAL) {
			/* The detail is for operators, not for the caller. */
			core_log_kv(CORE_LOG_ERROR, "handler failed", "method",
			    c->method, "detail", c->message, NULL);
			snprintf(
			    c->message, sizeof(c->message), "internal error");
		} else if (c->message[0] == '\0') {
			snprintf(c->message, sizeof(c->message), "%s",
			    core_status_str(st));
		}
		resp->message = c->message;
		resp->n_details = c->n_details;
		resp->details = c->detail_ptrs;
		resp->retry_after_s = c->retry_after_s;
	}
	size_t n = core__v1__response__get_packed_size(resp);
	if (n > max_msg) {
		core_log_kv(CORE_LOG_ERROR,
		    "response exceeds the message limit", "method", c->method,
		    NULL);
		core__v1__response__init(resp);
		resp->code = CORE__V1__CODE__RESOURCE_EXHAUSTED;
		resp->message = "response exceeds the maximum message size";
		n = core__v1__response__get_packed_size(resp);
	}
	if (nng_msg_realloc(msg, n) != 0) {
		return -1;
	}
	core__v1__response__pack(resp, nng_msg_body(msg));
	return 0;
}

/* Runs one call. Consumes msg; returns the reply message (the same
 * nng_msg, reused), or NULL if no reply could be built. */
static nng_msg *
handle(core_rpc_server *s, nng_msg *msg, int64_t recv_ms, void *state,
    core_arena *arena)
{
	int64_t t0 = rpc_now_ms();
	core_call c = {
	    .srv = s,
	    .auth = s->has_auth ? &s->auth : NULL,
	    .state = state,
	    .arena = arena,
	    .method = "",
	    .deadline_ms = INT64_MAX,
	};
	Core__V1__Response resp = CORE__V1__RESPONSE__INIT;
	static const Core__V1__Request empty_req = CORE__V1__REQUEST__INIT;
	c.req = &empty_req;
	rpc_peer_from_msg(&c, msg);

	core_status st =
	    dispatch(&c, nng_msg_body(msg), nng_msg_len(msg), recv_ms, &resp);
	/* Decoded into the arena by now; the request's bytes (passwords,
	 * tokens) must not stay in the buffer the reply reuses. */
	sodium_memzero(nng_msg_body(msg), nng_msg_len(msg));
	if (core_log_enabled(CORE_LOG_DEBUG)) {
		char ms[32];
		snprintf(ms, sizeof(ms), "%" PRId64, rpc_now_ms() - t0);
		core_log_kv(CORE_LOG_DEBUG, "call", "method", c.method, "code",
		    core_status_str(st), "duration_ms", ms, NULL);
	}
	atomic_fetch_add(&s->calls, 1);

	int rv = make_reply(&c, st, &resp, msg, s->max_msg);
	rpc_call_release(&c);
	core_log_set_request_id(NULL);
	core_arena_reset(arena);
	if (rv != 0) {
		/* No memory for a reply: drop the call (the caller's deadline
		 * fires) and keep serving. */
		nng_msg_free(msg);
		core_log_error("out of memory building a reply; call dropped");
		return NULL;
	}
	return msg;
}

nng_msg *
rpc_server_handle(
    core_rpc_server *s, nng_msg *msg, void *state, core_arena *arena)
{
	return handle(s, msg, rpc_now_ms(), state, arena);
}

/* Starts a receive unless the server is stopping. Returns false when the
 * worker should exit. */
static bool
start_receive(core_rpc_server *s, slot *sl)
{
	pthread_mutex_lock(&sl->mu);
	if (atomic_load(&s->stopping)) {
		pthread_mutex_unlock(&sl->mu);
		return false;
	}
	sl->receiving = true;
	pthread_mutex_unlock(&sl->mu);
	nng_ctx_recv(sl->ctx, sl->aio);
	/* stop() sets `stopping`, then cancels every slot marked receiving.
	 * Either it cancels after our receive started, or we see `stopping`
	 * here and cancel it ourselves. */
	if (atomic_load(&s->stopping)) {
		nng_aio_cancel(sl->aio);
	}
	return true;
}

static void
serve(core_rpc_server *s, slot *sl, void *state, core_arena *arena)
{
	while (start_receive(s, sl)) {
		nng_aio_wait(sl->aio);
		pthread_mutex_lock(&sl->mu);
		sl->receiving = false;
		pthread_mutex_unlock(&sl->mu);
		int rv = nng_aio_result(sl->aio);
		if (rv != 0) {
			if (rv == NNG_ECLOSED || atomic_load(&s->stopping)) {
				return;
			}
			core_log_warn("receive failed: %s", nng_strerror(rv));
			continue;
		}
		nng_msg *msg = nng_aio_get_msg(sl->aio);
		nng_aio_set_msg(sl->aio, NULL);
		msg = handle(s, msg, rpc_now_ms(), state, arena);
		if (msg == NULL) {
			continue;
		}
		nng_aio_set_msg(sl->aio, msg);
		nng_ctx_send(sl->ctx, sl->aio);
		nng_aio_wait(sl->aio);
		if (nng_aio_result(sl->aio) != 0) {
			/* The caller went away or the socket closed; the
			 * message is still ours. */
			nng_msg_free(nng_aio_get_msg(sl->aio));
			nng_aio_set_msg(sl->aio, NULL);
		}
	}
}

static void *
worker_main(void *arg)
{
	slot *sl = arg;
	core_rpc_server *s = sl->srv;
	void *state = NULL;
	core_arena *arena = core_arena_new(s->arena_cap);
	bool ok = arena != NULL;

	if (ok && s->worker_init != NULL) {
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
		serve(s, sl, state, arena);
	}
	if (state != NULL && s->worker_fini != NULL) {
		s->worker_fini(state);
	}
	core_arena_free(arena);
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
	s->n_workers = cfg->workers ? cfg->workers : 8;
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
	s->slots = calloc((size_t) s->n_workers, sizeof(slot));
	s->threads = calloc((size_t) s->n_workers, sizeof(pthread_t));
	if (s->slots == NULL || s->threads == NULL) {
		goto fail;
	}
	*out = s;
	return 0;
fail:
	core_rpc_server_free(s);
	return -ENOMEM;
}

/* Waits (up to ms) until every started worker has exited. Returns how
 * many are still running. */
static int
wait_workers(core_rpc_server *s, int ms)
{
	struct timespec until;
	rpc_deadline_timespec(&until, ms);
	pthread_mutex_lock(&s->mu);
	int rv = 0;
	while (s->workers_exited < s->n_threads && rv != ETIMEDOUT) {
		rv = pthread_cond_timedwait(&s->state_cv, &s->mu, &until);
	}
	int left = s->n_threads - s->workers_exited;
	pthread_mutex_unlock(&s->mu);
	return left;
}

/* Tells every worker to finish: no new receives, pending ones cancelled. */
static void
signal_stop(core_rpc_server *s)
{
	atomic_store(&s->stopping, true);
	for (int i = 0; i < s->n_threads; i++) {
		slot *sl = &s->slots[i];
		pthread_mutex_lock(&sl->mu);
		if (sl->receiving) {
			nng_aio_cancel(sl->aio);
		}
		pthread_mutex_unlock(&sl->mu);
	}
}

/* Closes the socket, joins the workers and frees the contexts. With
 * workers still running (the drain timed out), the socket is closed first:
 * that aborts sends stuck on peers that do not read. */
static void
shut_down(core_rpc_server *s, bool workers_done)
{
	if (!workers_done && s->sock_open) {
		rpc_close_bounded(s->sock, CLOSE_WAIT_MS);
		s->sock_open = false;
	}
	for (int i = 0; i < s->n_threads; i++) {
		pthread_join(s->threads[i], NULL);
	}
	s->n_threads = 0;
	for (int i = 0; i < s->n_workers; i++) {
		if (s->slots[i].aio != NULL) {
			nng_ctx_close(s->slots[i].ctx);
		}
	}
	if (s->sock_open && s->started_once) {
		/* A reply handed to nng is written by nng's threads after the
		 * worker moved on; closing at once would cut the last replies
		 * off. nng 1.5.2 has no flush or linger, so give them a
		 * moment. */
		struct timespec linger = {0, CLOSE_LINGER_MS * 1000000L};
		nanosleep(&linger, NULL);
	}
	if (s->sock_open) {
		rpc_close_bounded(s->sock, CLOSE_WAIT_MS);
		s->sock_open = false;
	}
	for (int i = 0; i < s->n_workers; i++) {
		slot *sl = &s->slots[i];
		if (sl->aio != NULL) {
			nng_aio_free(sl->aio);
			sl->aio = NULL;
			pthread_mutex_destroy(&sl->mu);
		}
	}
}

int
core_rpc_server_start(core_rpc_server *s)
{
	int rv;

	s->port = -1;
	if ((rv = nng_rep0_open(&s->sock)) != 0) {
		core_log_error(
		    "cannot open rep0 socket: %s", nng_strerror(rv));
		return -1;
	}
	s->sock_open = true;
	nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, s->max_msg);

	for (int i = 0; i < s->n_workers; i++) {
		slot *sl = &s->slots[i];
		sl->srv = s;
		if ((rv = nng_aio_alloc(&sl->aio, NULL, NULL)) != 0 ||
		    (rv = nng_ctx_open(&sl->ctx, s->sock)) != 0) {
			core_log_error(
			    "cannot create context: %s", nng_strerror(rv));
			nng_aio_free(sl->aio);
			sl->aio = NULL;
			goto fail;
		}
		pthread_mutex_init(&sl->mu, NULL);
	}
	/* Workers first: if one cannot get its connections, the server
	 * fails before it listens. */
	for (int i = 0; i < s->n_workers; i++) {
		if (pthread_create(&s->threads[i], NULL, worker_main,
		        &s->slots[i]) != 0) {
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
	pthread_mutex_lock(&s->mu);
	while (s->workers_ready + s->workers_failed < s->n_workers) {
		pthread_cond_wait(&s->state_cv, &s->mu);
	}
	bool failed = s->workers_failed > 0;
	pthread_mutex_unlock(&s->mu);
	if (failed) {
		core_log_error("a worker failed to initialise");
		goto fail;
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
	int left = wait_workers(s, s->drain_ms);
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
	rpc_methods_free(&s->methods);
	for (size_t i = 0; s->listen_urls != NULL && i < s->n_listen; i++) {
		free(s->listen_urls[i]);
	}
	free(s->listen_urls);
	free(s->slots);
	free(s->threads);
	free(s->name);
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
