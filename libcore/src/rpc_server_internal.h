/* The state of an RPC server and of its contexts (rpc_server.c), apart
 * so the file that drives them stays readable. Internal. */
#ifndef CORE_RPC_SERVER_INTERNAL_H
#define CORE_RPC_SERVER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <nng/nng.h>

#include "core/v1/core.pb-c.h"

#include "core/call_auth.h"
#include "core/redis_pipe.h"
#include "core/rpc.h"
#include "rpc_call.h"
#include "rpc_methods.h"
#include "rpc_metrics.h"

/* What a worker does with a queued call. */
typedef enum rpc_phase {
	RPC_RUN,    /* all of rpc_call_run */
	RPC_READ,   /* an inline-on-read call the pipe could not take: its
	               read, the rest of the rule, the handler */
	RPC_HANDLE, /* an inline-on-read call whose handler must block: the
	               handler again (the rule is done) */
} rpc_phase;

/* One rep0 context and the call it carries. The fields below `mu` are
 * used by one thread at a time: the context's callback, then (for a
 * queued call) a worker, then the callback of the send. */
typedef struct rpc_ctx {
	core_rpc_server *srv;
	nng_ctx ctx;
	nng_aio *aio; /* callback ctx_cb */
	pthread_mutex_t mu;
	bool receiving; /* a receive is (about to be) pending; under mu */
	bool sending;   /* the aio's operation is the reply's send */
	core_arena *arena;
	nng_msg *msg; /* the request of a queued call */
	int64_t recv_ms;
	int64_t recv_ns; /* the same, finer: for the metrics */
	const rpc_method *m;
	rpc_method_metrics *mm;
	core_call call;
	Core__V1__Response resp;
	struct rpc_ctx *next; /* in the worker queue */
	rpc_phase phase;
	/* A CORE_METHOD_INLINE_ON_PREFETCH call between its halves: the
	 * decoded input and the output, the rule's state and read, the
	 * read's replies and its batch on the pipe. */
	ProtobufCMessage *in, *out;
	rpc_auth_step auth;
	redisReply *rep[2 + CORE_REDIS_EXTRA_MAX];
	core_redis_pipe_batch batch;
} rpc_ctx;

struct core_rpc_server {
	char *name;
	char **listen_urls;
	size_t n_listen;
	int n_workers;
	int n_contexts;
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
	rpc_server_metrics metrics; /* per method of `methods` */

	nng_socket sock;
	bool sock_open;
	int port;       /* bound port of the first tcp:// listener, or -1 */
	rpc_ctx *ctxs;  /* n_contexts */
	int n_ctx_open; /* contexts opened (aio and context) */

	pthread_mutex_t mu;
	/* start waits for workers' init; stop for live contexts and exits */
	pthread_cond_t state_cv;
	atomic_bool stopping;
	int live; /* contexts with a receive or a call under way; under mu */
	int workers_ready;
	int workers_failed;
	int workers_exited;
	pthread_t *threads;
	int n_threads;
	bool started;
	bool started_once; /* listened: there may be replies to flush */
	atomic_uint_fast64_t calls;
	atomic_bool inline_warned; /* inline_check logged */

	/* Calls for the workers: a FIFO of contexts (each at most once, so
	 * bounded by n_contexts). */
	pthread_mutex_t qmu;
	pthread_cond_t qcv;
	rpc_ctx *qhead, *qtail;
	bool quit; /* workers exit; under qmu */

	/* The reads of CORE_METHOD_INLINE_ON_PREFETCH methods (NULL: none,
	 * or no auth->redis_url): open while started. */
	core_redis_pipe *pipe;
};

/* rpc_server.c: answers x's call with st (the call was started); queues
 * x for a worker. */
void rpc_server_reply(core_rpc_server *s, rpc_ctx *x, core_status st);
void rpc_server_queue(core_rpc_server *s, rpc_ctx *x);

/* rpc_server_read.c. Opens s->pipe when a method is inline on its read
 * and auth has a redis_url (at most one read per context waits in it):
 * 0, or -1 (logged). */
int rpc_server_open_pipe(core_rpc_server *s);
/* On the receiving thread, for a started call of an inline-on-read method
 * (x->msg, x->m set): the payload and the rule up to its read, which goes
 * to the pipe; the context stays live until its reply. */
void rpc_server_read_start(core_rpc_server *s, rpc_ctx *x);
/* A worker's part of such a call (x->phase RPC_READ or RPC_HANDLE, with
 * the worker's state in x->call): returns the call's status. */
core_status rpc_server_worker_part(rpc_ctx *x);

#endif
