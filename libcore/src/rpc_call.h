/* One call on the server: what the server, the dispatch and the call
 * context share. Not part of the public API. */
#ifndef CORE_RPC_CALL_H
#define CORE_RPC_CALL_H

#include <stdbool.h>
#include <stdint.h>

#include <nng/nng.h>

#include "core/v1/core.pb-c.h"

#include "core/call_auth.h"
#include "core/rpc.h"
#include "core/tls.h"
#include "core/trace.h"

#define RPC_MAX_DETAILS 16
#define RPC_MAX_MESSAGE 512

struct core_call {
	core_rpc_server *srv;
	void *state;
	core_arena *arena;
	const char *method;
	const Core__V1__Request *req;
	int64_t deadline_ms; /* absolute, monotonic; INT64_MAX if none */
	char message[RPC_MAX_MESSAGE];
	size_t n_details;
	Core__V1__ErrorDetail details[RPC_MAX_DETAILS];
	Core__V1__ErrorDetail *detail_ptrs[RPC_MAX_DETAILS];
	uint32_t retry_after_s;
	/* The call context: the server's token checking (NULL if none), the
	 * verified claims (has_claims) and the prefetched Redis replies. */
	const core_call_auth *auth;
	bool has_claims;
	core_jwt_claims claims;
	core_redis_extra extra;
	/* What the transport says about the caller (rpc_peer.c): whether the
	 * call came over tls+tcp://, the verified identity (has_peer), and
	 * the connection's remote address ("" when unknown). */
	bool tls;
	bool has_peer;
	char peer[CORE_TLS_IDENTITY_MAX + 1];
	char remote_ip[48];
	/* The call's span: the caller's traceparent continued, or a new
	 * trace (rpc_call_begin). */
	core_trace trace;
	/* Running on its read's completion (must not block); the handler
	 * asked for a worker (core_call_to_worker). */
	bool no_block;
	bool to_worker;
};

/* Fills the transport fields of c from the pipe msg arrived on (none for
 * a message that came through no pipe). */
void rpc_peer_from_msg(core_call *c, nng_msg *msg);

/* Replaces the client facts of a call that may not assert them (a TLS
 * caller other than the edge): metadata client-ip and the input's
 * top-level string fields client_ip := the remote address, user_agent :=
 * "". Returns CORE_OK, or RESOURCE_EXHAUSTED (out of call memory). */
core_status rpc_peer_facts(core_call *c, Core__V1__Request *req,
    const ProtobufCMessageDescriptor *desc, ProtobufCMessage *in);

/* The method rules in two halves around their one Redis read, so that
 * the read can go out on a shared connection (rpc_server.c) while
 * rpc_call_authorize does all three on the calling worker. */
typedef struct rpc_auth_step {
	/* The verdict so far, for the denied hook. */
	const char *reason; /* why it was refused (logs), or NULL */
	bool signed_ok;     /* the claims verified (signature, iss, ...) */
	bool trusted;       /* ... and are not revoked */
	/* After a start that returned CORE_OK: pending when the second half
	 * must run; then q (when q_ok) is the read to send first. */
	bool pending;
	bool q_ok;
	core_revocation_query q;
} rpc_auth_step;

/* The first half: callers list, token verification, the method's
 * prefetch commands and the revocation read built into a (which must not
 * move until the read is sent). Never blocks, except in a service's
 * denied hook (the server runs methods with one on workers). Returns
 * CORE_OK, or the status to answer (denied hook run). */
core_status rpc_call_authorize_start(core_call *c, const core_rpc_service *svc,
    const core_rpc_method *row, const ProtobufCMessage *in, rpc_auth_step *a);

/* The second half, after a's read: read_st is how the read went
 * (CORE_OK: rep[0..a->q.n-1] are its replies, taken over), then the
 * revocation verdict, admin, recent sign-in, denied hook. CORE_RULE_ADMIN
 * may block (is_admin). Returns CORE_OK (the claims set) or the status
 * to answer. */
core_status rpc_call_authorize_end(core_call *c, const core_rpc_service *svc,
    const core_rpc_method *row, const ProtobufCMessage *in, rpc_auth_step *a,
    core_status read_st, redisReply **rep);

/* Checks row's rule for the call (see core/call_auth.h) before its
 * handler runs; on a refusal runs svc's denied hook. Returns CORE_OK, or
 * the status to answer (message set). */
core_status rpc_call_authorize(core_call *c, const core_rpc_service *svc,
    const core_rpc_method *row, const ProtobufCMessage *in);

/* Frees what the call context holds (prefetched replies). */
void rpc_call_release(core_call *c);

/* ---- Decoding, running and answering a call (rpc_dispatch.c) ----------- */

struct rpc_method;       /* rpc_methods.h */
struct rpc_method_table; /* rpc_methods.h */

/* Starts c for a call of server s (auth: its token checking, or NULL) on
 * a thread with state (a worker's, or NULL), memory from arena. */
void rpc_call_init(core_call *c, core_rpc_server *s,
    const core_call_auth *auth, void *state, core_arena *arena);

/* The first half of a call, on the thread that received it: the caller as
 * the transport knows it, the envelope, the deadline, the method of t.
 * Never blocks. Returns CORE_OK with *m set, or the status to answer
 * (message set). The request id and the call's trace context (from its
 * traceparent metadata) are this thread's until rpc_call_finish (or
 * rpc_call_log_clear). */
core_status rpc_call_begin(core_call *c, const struct rpc_method_table *t,
    nng_msg *msg, int64_t recv_ms, const struct rpc_method **m);

/* Makes the call's request id (when valid) and trace context the calling
 * thread's (its log lines, the calls it makes). */
void rpc_call_log_id(const core_call *c);

/* Clears what rpc_call_log_id set: the thread moves on to other work. */
void rpc_call_log_clear(void);

/* The second half, where the method may run (inline or on a worker): the
 * payload, the client facts, the rule, the handler. Fills resp's payload;
 * returns the final status. */
core_status rpc_call_run(
    core_call *c, const struct rpc_method *m, Core__V1__Response *resp);

/* rpc_call_run in its parts: the payload decoded into *in with *out
 * made (rpc_call_input), the rule (rpc_call_authorize or its halves),
 * then the handler with the reply's payload packed (rpc_call_handle; when
 * the handler called core_call_to_worker it returns CORE_OK, packs
 * nothing and c->to_worker is set). */
core_status rpc_call_input(core_call *c, const struct rpc_method *m,
    ProtobufCMessage **in, ProtobufCMessage **out);
core_status rpc_call_handle(core_call *c, const struct rpc_method *m,
    ProtobufCMessage *in, ProtobufCMessage *out, Core__V1__Response *resp);

/* Ends a call: wipes the request in msg, builds the reply into it (at
 * most max_msg bytes), releases the call's memory. Returns the reply, or
 * NULL if none could be built (msg is freed; the caller's deadline
 * fires). */
nng_msg *rpc_call_finish(core_call *c, core_status st,
    Core__V1__Response *resp, nng_msg *msg, int64_t recv_ms, size_t max_msg);

#endif
