/* RPC client: one req0 socket per target service, a pool of contexts.
 *
 * A call borrows a context (with its aio) from the pool, sends the request
 * and waits for the reply with the call's deadline, then returns it. Pipe
 * notifications keep a count of live connections: with none, a call waits
 * briefly for one and then answers UNAVAILABLE instead of queueing until
 * its deadline; when the last connection drops, calls waiting on it are
 * cancelled with UNAVAILABLE at once. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <sodium.h>

#include "core/v1/core.pb-c.h"

#include "core/log.h"
#include "core/rpc.h"
#include "core/trace.h"
#include "envelope.h"
#include "rpc_internal.h"
#include "rpc_metrics.h"

/* The longest pause of the dialers between attempts to reach a service
 * that is down, and how long a call waits for a connection by default:
 * longer than that pause, so a call made just after the service came back
 * finds the connection the next attempt makes, instead of failing. */
#define RECONNECT_MAX_MS 1000
#define CONNECT_WAIT_DEFAULT_MS (RECONNECT_MAX_MS + 500)

#define MAX_MD 16

typedef struct cslot {
	nng_ctx ctx;
	nng_aio *aio;       /* sync slots: no callback; async: async_cb */
	atomic_bool lost;   /* the connection went away during the call */
	struct cslot *next; /* free list */
	struct cslot *prev_in, *next_in; /* in-flight list */

	/* Async calls only. */
	struct core_rpc_client *client;
	bool receiving;
	int64_t deadline;
	int64_t timeout;
	int64_t start_ns; /* for the metrics */
	core_arena *arena;
	core_rpc_done_fn done;
	void *arg;
	core_trace trace; /* the caller's, current while done runs */
} cslot;

struct core_rpc_client {
	char *name;
	nng_socket sock;
	size_t max_msg;
	int connect_wait_ms;
	int default_timeout_ms;

	pthread_mutex_t mu;
	pthread_cond_t pipe_cv;
	int pipes;
	void (*on_connect)(void *);
	void *on_connect_arg;
	cslot *free_slots; /* sync */
	cslot *free_async; /* async */
	cslot *inflight;
	cslot **all; /* every slot ever made, for freeing */
	size_t n_all, cap_all;
	bool closing;
	rpc_client_metrics metrics;
};

static void
pipe_event(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	core_rpc_client *c = arg;
	(void) p;
	bool first = false;
	pthread_mutex_lock(&c->mu);
	if (ev == NNG_PIPE_EV_ADD_POST) {
		first = c->pipes++ == 0;
		core_metric_inc(c->metrics.connections);
		pthread_cond_broadcast(&c->pipe_cv);
	} else if (ev == NNG_PIPE_EV_REM_POST) {
		c->pipes--;
		core_metric_dec(c->metrics.connections);
		if (c->pipes == 0) {
			/* Nothing left to answer the calls in flight. The flag
			 * covers a call between its send and its receive,
			 * which checks it after starting the receive. */
			for (cslot *s = c->inflight; s != NULL;
			     s = s->next_in) {
				atomic_store(&s->lost, true);
				nng_aio_cancel(s->aio);
			}
		}
	}
	pthread_mutex_unlock(&c->mu);
	if (first && c->on_connect != NULL) {
		c->on_connect(c->on_connect_arg);
	}
}

int
core_rpc_client_new(const core_rpc_client_config *cfg, core_rpc_client **out)
{
	int rv;
	if (cfg == NULL || cfg->n_urls == 0 || cfg->conns_per_url < 0) {
		return -EINVAL;
	}
	if (sodium_init() < 0) {
		return -ENOMEM;
	}
	core_rpc_client *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		return -ENOMEM;
	}
	c->name = strdup(cfg->name ? cfg->name : "rpc");
	if (c->name == NULL) {
		free(c);
		return -ENOMEM;
	}
	c->max_msg =
	    cfg->max_msg_bytes ? cfg->max_msg_bytes : CORE_RPC_DEFAULT_MAX_MSG;
	c->connect_wait_ms = cfg->connect_wait_ms ? cfg->connect_wait_ms
	                                          : CONNECT_WAIT_DEFAULT_MS;
	c->default_timeout_ms =
	    cfg->default_timeout_ms ? cfg->default_timeout_ms : 5000;
	c->on_connect = cfg->on_connect;
	c->on_connect_arg = cfg->on_connect_arg;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->pipe_cv, NULL);

	if ((rv = nng_req0_open(&c->sock)) != 0) {
		core_log_error(
		    "cannot open req0 socket: %s", nng_strerror(rv));
		free(c->name);
		free(c);
		return -ENOMEM;
	}
	nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, c->max_msg);
	/* The target, as the metrics name it: the identity its servers
	 * prove ("svc-auth") when it is checked. */
	if (rpc_client_metrics_init(&c->metrics,
	        cfg->peer_identity ? cfg->peer_identity : c->name) != 0) {
		core_rpc_client_free(c);
		return -ENOMEM;
	}
	/* Never resend on a timer: a resent Register or Login would run
	 * twice. */
	nng_socket_set_ms(
	    c->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, 20);
	nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT, RECONNECT_MAX_MS);
	nng_pipe_notify(c->sock, NNG_PIPE_EV_ADD_POST, pipe_event, c);
	nng_pipe_notify(c->sock, NNG_PIPE_EV_REM_POST, pipe_event, c);

	int conns = cfg->conns_per_url ? cfg->conns_per_url : 2;
	for (size_t i = 0; i < cfg->n_urls; i++) {
		rpc_warn_plain("dialing plain tcp://", cfg->urls[i]);
		for (int k = 0; k < conns; k++) {
			if (rpc_dial(c->sock, cfg->urls[i], cfg->tls,
			        cfg->peer_identity) != 0) {
				core_rpc_client_free(c);
				return -EINVAL;
			}
		}
	}
	*out = c;
	return 0;
}

void
core_rpc_client_free(core_rpc_client *c)
{
	if (c == NULL) {
		return;
	}
	pthread_mutex_lock(&c->mu);
	c->closing = true;
	pthread_cond_broadcast(&c->pipe_cv);
	pthread_mutex_unlock(&c->mu);
	if (rpc_close_bounded(c->sock, 3000) != 0) {
		/* nng may still touch the contexts' aios: leave them. */
		return;
	}
	/* The connections still counted (if nng did not report their end). */
	core_metric_add(c->metrics.connections, -c->pipes);
	rpc_client_metrics_free(&c->metrics);
	for (size_t i = 0; i < c->n_all; i++) {
		nng_aio_free(c->all[i]->aio);
		core_arena_free(c->all[i]->arena);
		free(c->all[i]);
	}
	free(c->all);
	pthread_cond_destroy(&c->pipe_cv);
	pthread_mutex_destroy(&c->mu);
	free(c->name);
	free(c);
}

int
core_rpc_client_connections(const core_rpc_client *c)
{
	core_rpc_client *m = (core_rpc_client *) (uintptr_t) c;
	pthread_mutex_lock(&m->mu);
	int n = m->pipes;
	pthread_mutex_unlock(&m->mu);
	return n;
}

static void async_cb(void *arg);

/* Takes a context from the pool (making one if none is free). Called with
 * c->mu held. */
static cslot *
slot_get(core_rpc_client *c, bool async)
{
	cslot **list = async ? &c->free_async : &c->free_slots;
	cslot *s = *list;
	if (s != NULL) {
		*list = s->next;
		return s;
	}
	if (c->n_all == c->cap_all) {
		size_t cap = c->cap_all ? c->cap_all * 2 : 16;
		cslot **all = realloc(c->all, cap * sizeof(*all));
		if (all == NULL) {
			return NULL;
		}
		c->all = all;
		c->cap_all = cap;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		return NULL;
	}
	s->client = c;
	if (async && (s->arena = core_arena_new(0)) == NULL) {
		free(s);
		return NULL;
	}
	if (nng_aio_alloc(&s->aio, async ? async_cb : NULL, s) != 0) {
		core_arena_free(s->arena);
		free(s);
		return NULL;
	}
	if (nng_ctx_open(&s->ctx, c->sock) != 0) {
		nng_aio_free(s->aio);
		core_arena_free(s->arena);
		free(s);
		return NULL;
	}
	nng_ctx_set_ms(s->ctx, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	c->all[c->n_all++] = s;
	return s;
}

static void
inflight_add(core_rpc_client *c, cslot *s)
{
	s->prev_in = NULL;
	s->next_in = c->inflight;
	if (c->inflight != NULL) {
		c->inflight->prev_in = s;
	}
	c->inflight = s;
}

static void
inflight_remove(core_rpc_client *c, cslot *s)
{
	if (s->prev_in != NULL) {
		s->prev_in->next_in = s->next_in;
	} else {
		c->inflight = s->next_in;
	}
	if (s->next_in != NULL) {
		s->next_in->prev_in = s->prev_in;
	}
	s->prev_in = s->next_in = NULL;
}

static core_status fail(core_rpc_reply *reply, core_arena *arena,
    core_status code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static core_status
fail(core_rpc_reply *reply, core_arena *arena, core_status code,
    const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *m = core_arena_vprintf(arena, fmt, ap);
	va_end(ap);
	reply->code = code;
	reply->message = m ? m : core_status_str(code);
	return code;
}

/* Writes ms (clamped at 0) in decimal into buf (>= 21 bytes): on every
 * call, so without snprintf. */
static void
format_ms(char *buf, int64_t ms)
{
	char tmp[24];
	size_t n = 0;
	uint64_t v = ms > 0 ? (uint64_t) ms : 0;
	do {
		tmp[n++] = (char) ('0' + v % 10);
		v /= 10;
	} while (v != 0);
	for (size_t i = 0; i < n; i++) {
		buf[i] = tmp[n - 1 - i];
	}
	buf[n] = '\0';
}

/* Sets e[*n] to key: value and counts it. */
static void
md_put(Core__V1__Request__MetadataEntry *e, size_t *n, const char *key,
    const char *value)
{
	core__v1__request__metadata_entry__init(&e[*n]);
	e[*n].key = (char *) (uintptr_t) key;
	e[*n].value = (char *) (uintptr_t) value;
	(*n)++;
}

/* Encodes the envelope into a new nng message. */
static int
build_request(core_rpc_client *c, const char *method, const uint8_t *payload,
    size_t len, const core_rpc_opts *opts, int64_t timeout_ms, nng_msg **out)
{
	Core__V1__Request req = CORE__V1__REQUEST__INIT;
	Core__V1__Request__MetadataEntry entries[MAX_MD + 3];
	Core__V1__Request__MetadataEntry *ptrs[MAX_MD + 3];
	char deadline[24];
	char rid[33], tp[CORE_TRACEPARENT_LEN + 1];
	bool have_rid = false, have_tp = false;
	size_t n = 0;

	req.method = (char *) (uintptr_t) method;
	req.payload.data = (uint8_t *) (uintptr_t) payload;
	req.payload.len = len;
	for (size_t i = 0; opts != NULL && i < opts->n_md && n < MAX_MD; i++) {
		const core_md *md = &opts->md[i];
		if (md->value == NULL ||
		    strcmp(md->key, CORE_MD_DEADLINE) == 0) {
			continue; /* ours below is authoritative */
		}
		have_rid |= strcmp(md->key, CORE_MD_REQUEST_ID) == 0;
		have_tp |= strcmp(md->key, CORE_MD_TRACEPARENT) == 0;
		md_put(entries, &n, md->key, md->value);
	}
	/* Inside a call, the request id and the trace context travel on by
	 * themselves (the thread's span is the parent of the call). */
	const char *cur = core_log_request_id();
	if (!have_rid) {
		if (cur == NULL) {
			core_rpc_new_request_id(rid);
			cur = rid;
		}
		md_put(entries, &n, CORE_MD_REQUEST_ID, cur);
	}
	if (!have_tp && core_trace_traceparent(tp)) {
		md_put(entries, &n, CORE_MD_TRACEPARENT, tp);
	}
	format_ms(deadline, timeout_ms);
	md_put(entries, &n, CORE_MD_DEADLINE, deadline);
	for (size_t i = 0; i < n; i++) {
		ptrs[i] = &entries[i];
	}
	req.n_metadata = n;
	req.metadata = ptrs;

	size_t size = rpc_env_request_size(&req);
	if (size > c->max_msg) {
		return NNG_EMSGSIZE;
	}
	nng_msg *m;
	int rv = nng_msg_alloc(&m, size);
	if (rv != 0) {
		return rv;
	}
	rpc_env_request_pack(&req, nng_msg_body(m));
	*out = m;
	return 0;
}

/* Sends m on the slot and waits for the reply. Returns 0 with *rep set,
 * or an nng error. Owns m. */
static int
exchange(cslot *s, nng_msg *m, int64_t deadline, nng_msg **rep)
{
	int rv;
	nng_aio_set_msg(s->aio, m);
	nng_aio_set_timeout(s->aio, (nng_duration) (deadline - rpc_now_ms()));
	nng_ctx_send(s->ctx, s->aio);
	nng_aio_wait(s->aio);
	if ((rv = nng_aio_result(s->aio)) != 0) {
		nng_msg_free(nng_aio_get_msg(s->aio));
		nng_aio_set_msg(s->aio, NULL);
		return rv;
	}
	int64_t left = deadline - rpc_now_ms();
	if (left <= 0) {
		return NNG_ETIMEDOUT;
	}
	nng_aio_set_timeout(s->aio, (nng_duration) left);
	nng_ctx_recv(s->ctx, s->aio);
	if (atomic_load(&s->lost)) {
		nng_aio_cancel(s->aio);
	}
	nng_aio_wait(s->aio);
	if ((rv = nng_aio_result(s->aio)) != 0) {
		return rv;
	}
	*rep = nng_aio_get_msg(s->aio);
	nng_aio_set_msg(s->aio, NULL);
	return 0;
}

static core_status
call_raw(core_rpc_client *c, const char *method, const uint8_t *payload,
    size_t len, const core_rpc_opts *opts, core_arena *arena,
    core_rpc_reply *reply)
{
	memset(reply, 0, sizeof(*reply));
	int64_t timeout = opts != NULL && opts->timeout_ms > 0
	                      ? opts->timeout_ms
	                      : c->default_timeout_ms;
	int64_t start = rpc_now_ms();
	int64_t deadline = start + timeout;
	nng_msg *m = NULL;

	int rv = build_request(c, method, payload, len, opts, timeout, &m);
	if (rv == NNG_EMSGSIZE) {
		return fail(reply, arena, CORE_INVALID_ARGUMENT,
		    "request exceeds the maximum message size (%zu bytes)",
		    c->max_msg);
	}
	if (rv != 0) {
		return fail(
		    reply, arena, CORE_RESOURCE_EXHAUSTED, "out of memory");
	}

	pthread_mutex_lock(&c->mu);
	if (c->pipes == 0 && !c->closing) {
		struct timespec until;
		int64_t wait = c->connect_wait_ms < timeout
		                   ? c->connect_wait_ms
		                   : timeout;
		rpc_deadline_timespec(&until, wait);
		int w = 0;
		while (c->pipes == 0 && !c->closing && w != ETIMEDOUT) {
			w = pthread_cond_timedwait(
			    &c->pipe_cv, &c->mu, &until);
		}
	}
	if (c->pipes == 0 || c->closing) {
		pthread_mutex_unlock(&c->mu);
		nng_msg_free(m);
		return fail(reply, arena, CORE_UNAVAILABLE,
		    "%s service unavailable: no connection", c->name);
	}
	cslot *s = slot_get(c, false);
	if (s == NULL) {
		pthread_mutex_unlock(&c->mu);
		nng_msg_free(m);
		return fail(
		    reply, arena, CORE_RESOURCE_EXHAUSTED, "out of memory");
	}
	atomic_store(&s->lost, false);
	inflight_add(c, s);
	pthread_mutex_unlock(&c->mu);

	nng_msg *rep = NULL;
	rv = exchange(s, m, deadline, &rep);

	pthread_mutex_lock(&c->mu);
	inflight_remove(c, s);
	bool lost = atomic_load(&s->lost) || c->pipes == 0;
	s->next = c->free_slots;
	c->free_slots = s;
	pthread_mutex_unlock(&c->mu);

	if (rv != 0) {
		if (rv == NNG_ETIMEDOUT && !lost) {
			return fail(reply, arena, CORE_DEADLINE_EXCEEDED,
			    "%s did not answer %s within %" PRId64 " ms",
			    c->name, method, timeout);
		}
		return fail(reply, arena, CORE_UNAVAILABLE,
		    "%s service unavailable: %s", c->name,
		    lost ? "connection lost" : nng_strerror(rv));
	}
	core_status st = rpc_client_decode_reply(rep, arena, reply);
	rpc_msg_wipe_free(rep);
	return st;
}

core_status
core_rpc_call_raw(core_rpc_client *c, const char *method,
    const uint8_t *payload, size_t len, const core_rpc_opts *opts,
    core_arena *arena, core_rpc_reply *reply)
{
	int64_t start_ns = rpc_now_ns();
	core_status st = call_raw(c, method, payload, len, opts, arena, reply);
	rpc_client_metrics_call(&c->metrics, st, start_ns);
	return st;
}

core_status
core_rpc_call(core_rpc_client *c, const char *method,
    const ProtobufCMessage *in, const ProtobufCMessageDescriptor *out_desc,
    ProtobufCMessage **out, const core_rpc_opts *opts, core_arena *arena,
    core_rpc_reply *reply)
{
	size_t n = protobuf_c_message_get_packed_size(in);
	uint8_t *buf = core_arena_alloc(arena, n);
	if (buf == NULL) {
		memset(reply, 0, sizeof(*reply));
		return fail(reply, arena, CORE_RESOURCE_EXHAUSTED,
		    "request too large for the call's memory");
	}
	protobuf_c_message_pack(in, buf);
	core_status st =
	    core_rpc_call_raw(c, method, buf, n, opts, arena, reply);
	if (st != CORE_OK) {
		return st;
	}
	ProtobufCMessage *m = protobuf_c_message_unpack(out_desc,
	    core_arena_allocator(arena), reply->payload_len, reply->payload);
	if (m == NULL) {
		return fail(reply, arena, CORE_INTERNAL,
		    "malformed reply payload: not a %s", out_desc->name);
	}
	*out = m;
	return CORE_OK;
}

void
core_rpc_opts_from_call(
    const core_call *call, core_rpc_opts *opts, core_md md[2])
{
	size_t n = 0;
	const char *v = core_call_metadata(call, CORE_MD_REQUEST_ID);
	if (v != NULL) {
		md[n++] = (core_md){CORE_MD_REQUEST_ID, v};
	}
	v = core_call_metadata(call, CORE_MD_AUTHORIZATION);
	if (v != NULL) {
		md[n++] = (core_md){CORE_MD_AUTHORIZATION, v};
	}
	opts->md = md;
	opts->n_md = n;
	int64_t left = core_call_remaining_ms(call);
	opts->timeout_ms = left == INT64_MAX  ? 0
	                   : left < 1         ? 1
	                   : left > INT32_MAX ? INT32_MAX
	                                      : (int) left;
}

/* ---- Asynchronous calls ------------------------------------------------- */

/* Ends an async call: runs the callback, then returns the slot. */
static void
async_finish(cslot *s, core_rpc_reply *reply)
{
	core_rpc_client *c = s->client;
	pthread_mutex_lock(&c->mu);
	inflight_remove(c, s);
	pthread_mutex_unlock(&c->mu);
	rpc_client_metrics_call(&c->metrics, reply->code, s->start_ns);
	/* The reply lives in the slot's arena: call back before the slot can
	 * be reused (the callback may start another call). Its log lines
	 * and calls belong to the caller's trace, not to this thread's. */
	core_trace_swap(&s->trace);
	s->done(s->arg, reply);
	core_trace_swap(&s->trace);
	core_arena_reset(s->arena);
	pthread_mutex_lock(&c->mu);
	s->next = c->free_async;
	c->free_async = s;
	pthread_mutex_unlock(&c->mu);
}

static void
async_fail(cslot *s, int rv)
{
	core_rpc_client *c = s->client;
	core_rpc_reply reply;
	memset(&reply, 0, sizeof(reply));
	pthread_mutex_lock(&c->mu);
	bool lost = atomic_load(&s->lost) || c->pipes == 0;
	pthread_mutex_unlock(&c->mu);
	if (rv == NNG_ETIMEDOUT && !lost) {
		fail(&reply, s->arena, CORE_DEADLINE_EXCEEDED,
		    "%s did not answer within %" PRId64 " ms", c->name,
		    s->timeout);
	} else {
		fail(&reply, s->arena, CORE_UNAVAILABLE,
		    "%s service unavailable: %s", c->name,
		    lost ? "connection lost" : nng_strerror(rv));
	}
	async_finish(s, &reply);
}

/* Runs on nng's threads: must not block. */
static void
async_cb(void *arg)
{
	cslot *s = arg;
	int rv = nng_aio_result(s->aio);
	if (!s->receiving) {
		if (rv != 0) {
			nng_msg_free(nng_aio_get_msg(s->aio));
			nng_aio_set_msg(s->aio, NULL);
			async_fail(s, rv);
			return;
		}
		int64_t left = s->deadline - rpc_now_ms();
		if (left <= 0) {
			async_fail(s, NNG_ETIMEDOUT);
			return;
		}
		s->receiving = true;
		nng_aio_set_timeout(s->aio, (nng_duration) left);
		nng_ctx_recv(s->ctx, s->aio);
		if (atomic_load(&s->lost)) {
			nng_aio_cancel(s->aio);
		}
		return;
	}
	if (rv != 0) {
		async_fail(s, rv);
		return;
	}
	nng_msg *rep = nng_aio_get_msg(s->aio);
	nng_aio_set_msg(s->aio, NULL);
	core_rpc_reply reply;
	memset(&reply, 0, sizeof(reply));
	rpc_client_decode_reply(rep, s->arena, &reply);
	rpc_msg_wipe_free(rep);
	async_finish(s, &reply);
}

int
core_rpc_call_async(core_rpc_client *c, const char *method,
    const uint8_t *payload, size_t len, const core_rpc_opts *opts,
    core_rpc_done_fn done, void *arg)
{
	int64_t timeout = opts != NULL && opts->timeout_ms > 0
	                      ? opts->timeout_ms
	                      : c->default_timeout_ms;
	int64_t start_ns = rpc_now_ns();
	nng_msg *m = NULL;
	int rv = build_request(c, method, payload, len, opts, timeout, &m);
	core_status st = rv == NNG_EMSGSIZE ? CORE_INVALID_ARGUMENT
	                 : rv != 0          ? CORE_RESOURCE_EXHAUSTED
	                                    : CORE_OK;
	cslot *s = NULL;
	pthread_mutex_lock(&c->mu);
	if (st == CORE_OK && (c->pipes == 0 || c->closing)) {
		st = CORE_UNAVAILABLE;
	} else if (st == CORE_OK && (s = slot_get(c, true)) == NULL) {
		st = CORE_RESOURCE_EXHAUSTED;
	}
	if (st != CORE_OK) {
		pthread_mutex_unlock(&c->mu);
		if (m != NULL) {
			nng_msg_free(m);
		}
		rpc_client_metrics_call(&c->metrics, st, start_ns);
		return st;
	}
	atomic_store(&s->lost, false);
	s->receiving = false;
	s->timeout = timeout;
	s->start_ns = start_ns;
	s->deadline = rpc_now_ms() + timeout;
	s->done = done;
	s->arg = arg;
	core_trace_save(&s->trace);
	inflight_add(c, s);
	pthread_mutex_unlock(&c->mu);

	nng_aio_set_msg(s->aio, m);
	nng_aio_set_timeout(s->aio, (nng_duration) timeout);
	nng_ctx_send(s->ctx, s->aio);
	return CORE_OK;
}
