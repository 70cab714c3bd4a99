/* The RPC core: protobuf over nng req/rep.
 *
 * Wire format (docs/rpc.md): the nng message body is a core.v1.Request
 * {method, payload, metadata}; the reply body is a core.v1.Response
 * {code, message, payload, details, retry_after_s}.
 *
 * Server: serves one or more protoc-c services on a rep0 socket through many
 * nng contexts driven by aio callbacks (on nng's own threads). A callback
 * decodes the request; a method marked CORE_METHOD_INLINE runs right there,
 * every other method is queued for a pool of worker threads. Each worker
 * owns a state pointer made by a service hook (its own database and Redis
 * connections), so those handlers may block and need no locks for their
 * connections.
 *
 * Client: one req0 socket per target service, dialed to every URL of its dial
 * list (nng spreads requests over connected servers), automatic resend
 * disabled (a resent Login would run twice), a deadline per call. */
#ifndef CORE_RPC_H
#define CORE_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "core/arena.h"
#include "core/jws.h"
#include "core/status.h"

#define CORE_RPC_DEFAULT_MAX_MSG (4u << 20) /* bytes */
#define CORE_RPC_DEFAULT_CONTEXTS 64
#define CORE_RPC_MAX_CONTEXTS 4096

/* Well-known metadata keys. */
#define CORE_MD_REQUEST_ID "request-id"
#define CORE_MD_DEADLINE "deadline-ms"
#define CORE_MD_AUTHORIZATION "authorization"
/* W3C trace context (core/trace.h): the caller's trace id and span id. A
 * server continues a valid one in a span of its own for the call (a new
 * trace when absent or invalid); calls made while a context is current
 * send it on. */
#define CORE_MD_TRACEPARENT "traceparent"
/* The end user's IP address as the edge saw it (for audit records). */
#define CORE_MD_CLIENT_IP "client-ip"
/* The identity whose client facts (client-ip, client_ip, user_agent) a
 * server believes over tls+tcp:// (docs/rpc.md). */
#define CORE_EDGE_IDENTITY "edge"

/* ---- Server ------------------------------------------------------------ */

typedef struct core_rpc_server core_rpc_server;
typedef struct core_call core_call;

/* A handler gets the decoded input and an output message already initialised
 * (allocated in the call's arena) to fill in. Strings and arrays it puts in
 * out should come from core_call_arena(call) (or be static); they are
 * released after the reply is sent. It returns CORE_OK, or an error status,
 * normally through core_call_error(). A handler returning CORE_INTERNAL has
 * its message replaced by "internal error" for the client (the detail is
 * logged). The method's rule has been checked before it runs; the verified
 * claims are core_call_claims(call). */
typedef core_status (*core_rpc_handler)(
    core_call *call, const ProtobufCMessage *in, ProtobufCMessage *out);

/* ---- Method rules ------------------------------------------------------ */

/* What a call must prove before its handler runs; the server checks it
 * (core/call_auth.h does the token work) and the handler sees only calls
 * that passed. Flags combine; every flag but CORE_RULE_PUBLIC implies a
 * valid access token in the call's "authorization: Bearer" metadata. */
enum {
	CORE_RULE_PUBLIC = 0,
	/* A valid access token (signature, issuer, audience, times) that is
	 * not revoked (blacklist, revoked_before). */
	CORE_RULE_USER = 1u << 0,
	/* The token's user is an admin now, by the service's own check
	 * (core_call_auth.is_admin: svc-auth reads its database). */
	CORE_RULE_ADMIN = 1u << 1,
	/* The user proved who they are (password or second factor) at most
	 * max_auth_age_s ago: the token's auth_time claim. */
	CORE_RULE_RECENT_AUTH = 1u << 2,
	/* With CORE_RULE_USER: a revoked (but otherwise valid) token passes
	 * too. For methods that are idempotent on a dead token (Logout). */
	CORE_RULE_REVOKED_OK = 1u << 3,
	/* Not a rule but a promise about the handler, in the same flags: it
	 * never blocks — no database, no Redis, no RPC, no sleeping, no lock
	 * held by a blocking thread. It then runs on nng's I/O thread that
	 * received the call (no hand-off to a worker: the fast path) with no
	 * worker state (core_call_state is NULL). A handler that blocks stalls
	 * part of all the process's RPC I/O. Only with CORE_RULE_PUBLIC (a
	 * token rule asks Redis about revocation) and without a callers list
	 * when the service has a denied hook (it may write an audit record);
	 * core_rpc_server_new refuses other combinations. */
	CORE_METHOD_INLINE = 1u << 8,
	/* A promise too: once its token is verified and its rule's Redis
	 * read (revocation and prefetch) is back, the handler can usually
	 * finish without blocking. The server then sends that read on its
	 * pipelined Redis connection (core/redis_pipe.h) from the receiving
	 * thread and runs the rest of the rule and the handler on the read's
	 * completion, with no worker (core_call_may_block is false,
	 * core_call_state NULL); a handler that must block there (a cache
	 * miss) returns core_call_to_worker(call) and runs again on a worker
	 * with the same claims and prefetched replies. Without the server's
	 * pipe (core_call_auth.redis_url NULL) the method runs on a worker as
	 * any other. Only with a token rule, a prefetch, no CORE_RULE_ADMIN
	 * (is_admin may block), not with CORE_METHOD_INLINE, and in a service
	 * without a denied hook; core_rpc_server_new refuses the rest. */
	CORE_METHOD_INLINE_ON_PREFETCH = 1u << 9,
};

/* Default for CORE_RULE_RECENT_AUTH when a row gives no max_auth_age_s. */
#define CORE_RECENT_AUTH_DEFAULT_S 300

struct core_redis_extra; /* core/revocation.h */

/* One method of a service: bound by its full name, with its rule. */
typedef struct core_rpc_method {
	const char *name; /* "/auth.v1.AuthService/Login" */
	core_rpc_handler handler;
	unsigned rule;      /* CORE_RULE_* flags, CORE_METHOD_INLINE */
	int max_auth_age_s; /* CORE_RULE_RECENT_AUTH; 0 = the default */
	/* The calling services allowed (NULL-terminated identities, as the
	 * transport authenticates them); NULL = any caller. Over tls+tcp://
	 * a caller not listed gets PERMISSION_DENIED (logged with its
	 * identity and the method); plain transports authenticate nobody
	 * and are not checked (docs/rpc.md). */
	const char *const *callers;
	/* Optional: Redis reads to send in the same round trip as the
	 * revocation check (e.g. GET profile:<sub>), added with
	 * core_redis_extra_add; argv strings in the call's arena. Their
	 * replies are core_call_prefetched(call, i) in the handler. Returns 0,
	 * or -1 (the call fails with INTERNAL). */
	int (*prefetch)(core_call *call, const core_jwt_claims *claims,
	    struct core_redis_extra *extra);
} core_rpc_method;

/* Why the server refused a call before its handler: handed to the
 * service's denied hook (e.g. svc-admin records refusals in its audit
 * log). */
typedef struct core_call_denial {
	core_status code;    /* what the caller is answered */
	const char *message; /* what the caller is told (already set) */
	const char *reason;  /* static text for logs: "no bearer token", ... */
	/* The token's claims when its signature verified, else NULL; trusted
	 * when it is also not revoked (the claims then name the caller). */
	const core_jwt_claims *claims;
	bool trusted;
} core_call_denial;

/* One service: its descriptor and one row per method, in any order. The
 * server refuses to start when a method of desc has no row, a row names no
 * method of desc (or one twice), or a row has no handler. */
typedef struct core_rpc_service {
	const ProtobufCServiceDescriptor *desc;
	const core_rpc_method *methods;
	size_t n_methods;
	/* Optional: runs when a call of this service is refused by its rule
	 * (after the input is decoded: in may be used, e.g. for a target).
	 * Returns the status to answer, normally d->code. */
	core_status (*denied)(core_call *call, const ProtobufCMessage *in,
	    const core_call_denial *d);
} core_rpc_service;

struct core_call_auth; /* core/call_auth.h */

typedef struct core_rpc_server_config {
	const char *name;               /* for logs, e.g. "svc-auth" */
	const char *const *listen_urls; /* e.g. "tcp://127.0.0.1:7101" */
	size_t n_listen;
	int workers; /* threads for the methods that block; 0 = 8 */
	/* nng contexts receiving calls at once (each with its own arena);
	 * calls beyond wait in nng. 0 = CORE_RPC_DEFAULT_CONTEXTS, at most
	 * CORE_RPC_MAX_CONTEXTS. */
	int contexts;
	size_t max_msg_bytes; /* 0 = CORE_RPC_DEFAULT_MAX_MSG */
	int drain_ms; /* how long stop waits for in-flight calls; 0 = 10000 */
	size_t arena_cap; /* per-call memory cap; 0 = 4 x max_msg_bytes */
	/* Per-worker state: worker_init(app) runs on each worker thread before
	 * it serves (NULL return = the worker fails to start, the server does
	 * not start); worker_fini(state) when it ends. Both may be NULL. */
	void *(*worker_init)(void *app);
	void (*worker_fini)(void *state);
	void *app;
	/* Readiness for core.v1.Health/Check, run on a worker with its state
	 * (e.g. pings its database). NULL = always SERVING (and Health runs
	 * inline, without a worker). */
	bool (*health)(void *state);
	/* How tokens are checked for the method rules (copied). NULL = every
	 * method must be CORE_RULE_PUBLIC. */
	const struct core_call_auth *auth;
	/* Credentials of tls+tcp:// listeners (not owned; NULL = the default,
	 * core_tls_default(), read at start). Such a listener requires a
	 * client certificate of our CA and passes the caller's identity to
	 * the method rules (core_call_peer). */
	const struct core_tls *tls;
} core_rpc_server_config;

/* Creates a server for the given services (core.v1.Health is added by the
 * server itself). Copies what it needs from cfg; services must outlive the
 * server. Returns 0 or a negative errno-style code: -EINVAL (logged) for a
 * bad config or method table (see core_rpc_service), a rule other than
 * public without cfg->auth, or CORE_METHOD_INLINE where the rule checks
 * could block (see there); -ENOMEM. */
int core_rpc_server_new(const core_rpc_server_config *cfg,
    const core_rpc_service *services, size_t n_services,
    core_rpc_server **out);

/* Starts the workers and listens on every URL. Returns 0, or -1 (logged:
 * address in use, bad URL, a tls+tcp:// URL without credentials,
 * worker_init failure). Every plain tcp:// listener logs a warning naming
 * the risk. */
int core_rpc_server_start(core_rpc_server *s);

/* Stops receiving, lets in-flight calls finish (up to drain_ms), then closes
 * the socket and joins the workers. Safe to call once after start. */
void core_rpc_server_stop(core_rpc_server *s);

/* Frees a stopped (or never started) server. NULL is a no-op. */
void core_rpc_server_free(core_rpc_server *s);

/* Blocks SIGINT/SIGTERM and SIGHUP in the calling thread (call this in
 * main before creating any thread, so every thread inherits the mask).
 * SIGHUP is for core_tls_wait_signal (reload the TLS credentials); a
 * process that only calls core_rpc_wait_signal leaves it pending. */
void core_rpc_block_signals(void);

/* Waits for SIGINT or SIGTERM (blocked by core_rpc_block_signals) and
 * returns the signal number. */
int core_rpc_wait_signal(void);

/* The TCP port the first tcp:// or tls+tcp:// listener is bound to
 * (useful with port 0), or -1 if there is none. Valid after start. */
int core_rpc_server_port(const core_rpc_server *s);

/* Calls answered since start (for tests and metrics). */
uint64_t core_rpc_server_calls(const core_rpc_server *s);

/* ---- Inside a handler --------------------------------------------------- */

/* Metadata value for key, or NULL. */
const char *core_call_metadata(const core_call *c, const char *key);
/* The token of an "authorization: Bearer <token>" metadata entry, or NULL
 * when there is none (or another scheme). */
const char *core_call_bearer(const core_call *c);
/* The verified claims of the caller's token: set for every method whose rule
 * is not CORE_RULE_PUBLIC, NULL otherwise. Valid during the call. */
const core_jwt_claims *core_call_claims(const core_call *c);
/* Full method name ("/pkg.Service/Method"). */
const char *core_call_method(const core_call *c);
/* This worker's state from worker_init; NULL in a CORE_METHOD_INLINE
 * method (it runs on no worker). */
void *core_call_state(const core_call *c);
/* Whether the handler may block: false only for a
 * CORE_METHOD_INLINE_ON_PREFETCH method running on its read's
 * completion. */
bool core_call_may_block(const core_call *c);
/* From a handler where core_call_may_block is false: the call is run again
 * on a worker (its claims and prefetched replies kept, the reply not sent
 * now); the handler returns what this returns, having kept nothing in its
 * output. Elsewhere an INTERNAL error. */
core_status core_call_to_worker(core_call *c);
/* The call's arena (released after the reply is sent). */
core_arena *core_call_arena(core_call *c);
/* Milliseconds left before the caller's deadline; INT64_MAX if none. */
int64_t core_call_remaining_ms(const core_call *c);

/* Sets the status message the client sees and returns code, so a handler
 * can write: return core_call_error(c, CORE_NOT_FOUND, "no such user"); */
core_status core_call_error(core_call *c, core_status code, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));

/* INVALID_ARGUMENT naming a field: sets the message to "<field>: <text>",
 * adds an ErrorDetail, and returns CORE_INVALID_ARGUMENT. May be called
 * several times to report several fields. */
core_status core_call_field_error(core_call *c, const char *field,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Hint returned with RESOURCE_EXHAUSTED. */
void core_call_set_retry_after(core_call *c, uint32_t seconds);

/* ---- Client ------------------------------------------------------------- */

typedef struct core_rpc_client core_rpc_client;

typedef struct core_rpc_client_config {
	const char *name;        /* target, for logs: "auth" */
	const char *const *urls; /* dial list */
	size_t n_urls;
	int conns_per_url;      /* connections dialed to each URL; 0 = 2 */
	size_t max_msg_bytes;   /* 0 = CORE_RPC_DEFAULT_MAX_MSG */
	int connect_wait_ms;    /* how long a call waits for a first connection
	                          before UNAVAILABLE; 0 = 1500 (longer than
	                          the dialer's longest pause, 1 s) */
	int default_timeout_ms; /* deadline when a call gives none; 0 = 5000 */
	/* tls+tcp:// URLs: this process's credentials (NULL = the default,
	 * core_tls_default(); a tls URL with neither is an error), and the
	 * identity the server's certificate must name ("svc-auth"; NULL =
	 * any certificate of our CA). The URL's host is not checked against
	 * the certificate, so URLs may use IP addresses. */
	const struct core_tls *tls;
	const char *peer_identity;
	/* Called when the client goes from no connection to one (on one of
	 * nng's threads, after the connection counts: must not block, must
	 * not call into this client). NULL = none. For a probe that should
	 * ask at once instead of at its next interval. */
	void (*on_connect)(void *arg);
	void *on_connect_arg;
} core_rpc_client_config;

/* Creates a client and starts dialing every URL in the background
 * (reconnecting as needed). A plain tcp:// URL logs a warning. Returns 0,
 * or -EINVAL (bad URL, a tls+tcp:// URL without credentials; logged),
 * -ENOMEM. */
int core_rpc_client_new(
    const core_rpc_client_config *cfg, core_rpc_client **out);

/* Closes the socket and frees the client. NULL is a no-op. No call may be
 * in flight or start once this begins. */
void core_rpc_client_free(core_rpc_client *c);

/* Number of live connections (for readiness and tests). */
int core_rpc_client_connections(const core_rpc_client *c);

typedef struct core_md {
	const char *key;
	const char *value;
} core_md;

typedef struct core_rpc_opts {
	int timeout_ms;    /* 0 = the client's default */
	const core_md *md; /* metadata sent with the call */
	size_t n_md;
} core_rpc_opts;

/* The outcome of a call. Strings point into the arena passed to the call. */
typedef struct core_rpc_reply {
	core_status code;
	const char *message; /* never NULL */
	uint32_t retry_after_s;
	size_t n_details;
	const char *const *detail_fields;
	const char *const *detail_descriptions;
	/* Raw output payload (core_rpc_call_raw only). */
	const uint8_t *payload;
	size_t payload_len;
} core_rpc_reply;

/* Sends payload (an encoded input message) to method and waits for the
 * answer. Everything in *reply is allocated in arena. Returns reply->code:
 * the server's status, or locally DEADLINE_EXCEEDED (deadline passed),
 * UNAVAILABLE (no server reachable or the connection was lost),
 * INVALID_ARGUMENT (request larger than max_msg_bytes), INTERNAL (the reply
 * could not be decoded). Thread-safe: any number of threads may call. */
core_status core_rpc_call_raw(core_rpc_client *c, const char *method,
    const uint8_t *payload, size_t len, const core_rpc_opts *opts,
    core_arena *arena, core_rpc_reply *reply);

/* Completion of an asynchronous call. reply (and everything it points to)
 * is valid only during the callback. Runs on one of nng's threads: it must
 * not block (it may start another asynchronous call). */
typedef void (*core_rpc_done_fn)(void *arg, const core_rpc_reply *reply);

/* Starts a call without waiting: done(arg, reply) runs exactly once when
 * the reply (or an error: DEADLINE_EXCEEDED, UNAVAILABLE) arrives.
 * Returns CORE_OK when the call was started; otherwise done is not called
 * and the return value says why: UNAVAILABLE (no connection right now;
 * unlike the blocking call this does not wait for one), INVALID_ARGUMENT
 * (request too large), RESOURCE_EXHAUSTED (out of memory). payload is
 * copied before this returns. */
int core_rpc_call_async(core_rpc_client *c, const char *method,
    const uint8_t *payload, size_t len, const core_rpc_opts *opts,
    core_rpc_done_fn done, void *arg);

/* Typed call: packs in, and on OK unpacks the output (of type out_desc) into
 * arena and writes it to *out. */
core_status core_rpc_call(core_rpc_client *c, const char *method,
    const ProtobufCMessage *in, const ProtobufCMessageDescriptor *out_desc,
    ProtobufCMessage **out, const core_rpc_opts *opts, core_arena *arena,
    core_rpc_reply *reply);

/* Fills opts to propagate the current call downstream: its request id and
 * authorization, and a timeout of the remaining deadline budget. md must
 * have room for 2 entries. */
void core_rpc_opts_from_call(
    const core_call *c, core_rpc_opts *opts, core_md md[2]);

/* Generates a random request id (32 hex chars) into buf (>= 33 bytes). */
void core_rpc_new_request_id(char *buf);

/* Whether a request id from outside is acceptable: 1-64 chars of
 * [A-Za-z0-9._-]. */
bool core_rpc_request_id_valid(const char *s);

#endif
