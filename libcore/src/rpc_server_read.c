/* The server's calls of CORE_METHOD_INLINE_ON_PREFETCH methods
 * (core/rpc.h): the receiving thread runs the first half of the rule and
 * hands its Redis read to the server's pipe (core/redis_pipe.h); the
 * read's completion runs the second half and the handler, and replies,
 * with no worker. A worker steps in when the pipe cannot take the read
 * (it then reads on its own connection) and when the handler must block
 * (core_call_to_worker: the handler runs again there, with the claims and
 * the replies already got). See docs/internals/rpc.md. */
#include <stdbool.h>

#include "core/log.h"
#include "core/redis_pipe.h"
#include "rpc_internal.h"
#include "rpc_server_internal.h"

/* Frees the replies of x's read that nobody took over. */
static void
read_drop(rpc_ctx *x)
{
	for (int i = 0; i < 2 + CORE_REDIS_EXTRA_MAX; i++) {
		freeReplyObject(x->rep[i]);
		x->rep[i] = NULL;
	}
}

/* After x's read (read_st: how it went; x->rep its replies), on the
 * thread that has them and no worker: the rest of the rule and the
 * handler, then the reply; or the handler asks for a worker. */
static void
after_read(core_rpc_server *s, rpc_ctx *x, core_status read_st)
{
	core_call *c = &x->call;
	const rpc_method *m = x->m;
	core_status st;
	if (c->deadline_ms <= rpc_now_ms()) {
		read_drop(x);
		st = core_call_error(c, CORE_DEADLINE_EXCEEDED,
		    "deadline exceeded before the call started");
	} else {
		st = rpc_call_authorize_end(
		    c, m->svc, m->row, x->in, &x->auth, read_st, x->rep);
		if (st == CORE_OK) {
			c->no_block = true;
			st = rpc_call_handle(c, m, x->in, x->out, &x->resp);
			c->no_block = false;
		}
		if (st == CORE_OK && c->to_worker) {
			x->phase = RPC_HANDLE;
			rpc_call_log_clear();
			rpc_server_queue(s, x);
			return;
		}
	}
	rpc_server_reply(s, x, st);
}

/* The read's completion, on the pipe's thread. */
static void
read_done(core_redis_pipe_batch *b, core_status st)
{
	rpc_ctx *x = b->arg;
	rpc_call_log_id(&x->call);
	after_read(x->srv, x, st);
	rpc_call_log_clear();
}

/* On the receiving thread: the payload and the rule up to its read, which
 * goes to the pipe (a full pipe: a worker reads). The context stays live
 * until the reply. */
void
rpc_server_read_start(core_rpc_server *s, rpc_ctx *x)
{
	core_call *c = &x->call;
	const rpc_method *m = x->m;
	core_status st = rpc_call_input(c, m, &x->in, &x->out);
	if (st == CORE_OK) {
		st = rpc_call_authorize_start(
		    c, m->svc, m->row, x->in, &x->auth);
	}
	if (st != CORE_OK) {
		rpc_server_reply(s, x, st);
		return;
	}
	if (!x->auth.pending || !x->auth.q_ok) {
		/* Nothing to read: the second half refuses or passes now. */
		after_read(s, x, CORE_OK);
		return;
	}
	x->batch = (core_redis_pipe_batch){
	    .n = x->auth.q.n,
	    .argc = x->auth.q.argc,
	    .argv = x->auth.q.argv,
	    .reply = x->rep,
	    .done = read_done,
	    .arg = x,
	};
	rpc_call_log_clear();
	/* Once submitted, x is the completion's (it may already run). */
	if (core_redis_pipe_submit(s->pipe, &x->batch) != 0) {
		x->phase = RPC_READ;
		rpc_server_queue(s, x);
	}
}

/* A worker's part of an inline-on-read call (x->phase). */
core_status
rpc_server_worker_part(rpc_ctx *x)
{
	core_call *c = &x->call;
	const rpc_method *m = x->m;
	core_status st = CORE_OK;
	if (x->phase == RPC_READ) {
		const core_revocation_query *q = &x->auth.q;
		core_status read_st =
		    core_redis_pipeline(c->auth->redis(c->state), q->n,
		        q->argc, q->argv, NULL, x->rep);
		st = rpc_call_authorize_end(
		    c, m->svc, m->row, x->in, &x->auth, read_st, x->rep);
	} else {
		/* The handler's first run may have filled some of it. */
		m->desc->output->message_init(x->out);
		c->to_worker = false;
	}
	if (st == CORE_OK) {
		st = rpc_call_handle(c, m, x->in, x->out, &x->resp);
	}
	return st;
}

/* The pipe, when a method is inline on its read and there is a URL. At
 * most one read per context waits in it. Returns 0 or -1 (logged). */
int
rpc_server_open_pipe(core_rpc_server *s)
{
	bool wanted = false;
	for (size_t i = 0; i < s->methods.n; i++) {
		wanted = wanted || s->methods.v[i].on_read;
	}
	if (!wanted || !s->has_auth || s->auth.redis_url == NULL) {
		return 0;
	}
	s->pipe = core_redis_pipe_open(s->auth.redis_url, s->n_contexts);
	if (s->pipe == NULL) {
		core_log_error("cannot open the pipelined redis connection");
		return -1;
	}
	return 0;
}
