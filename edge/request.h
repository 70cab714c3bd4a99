/* One HTTP request in progress (libmicrohttpd's per-request pointer) and
 * the stage it has reached. The access handler (http.c) switches on the
 * stage; nothing infers it from which pointers happen to be set. */
#ifndef EDGE_REQUEST_H
#define EDGE_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/rpc.h"
#include "core/trace.h"
#include "routes.h"

struct MHD_Connection;
struct edge_exchange;

/* The stages, in order. A request moves only forward, along these arrows
 * (edge_request_can_move):
 *
 *   NEW -> READING_BODY -> RPC_PENDING -> REPLY_READY -> DONE
 *    |          |                                        ^
 *    +----------+----------------------------------------+
 *                 answered without an RPC (a fixed resource, a refusal)
 *
 * X(name, what it means) */
#define EDGE_REQUEST_STATES(X)                                                \
	X(REQ_NEW, "headers read, route looked up")                           \
	X(REQ_READING_BODY, "body arriving (kept only for ROUTE_BODY)")       \
	X(REQ_RPC_PENDING, "RPC started, connection suspended")               \
	X(REQ_REPLY_READY, "reply in the arena, connection resumed")          \
	X(REQ_DONE, "an answer is queued")

typedef enum edge_request_state {
#define EDGE_REQUEST_STATE_ENUM(name, what) name,
	EDGE_REQUEST_STATES(EDGE_REQUEST_STATE_ENUM)
#undef EDGE_REQUEST_STATE_ENUM
	    REQ_N_STATES
} edge_request_state;

typedef struct edge_request {
	edge_request_state state;
	const edge_route *route; /* NULL: not a REST route */
	char id[64];             /* {id} of the path */
	char rid[65];            /* request id */
	/* The edge's span of the request's trace (the client's traceparent
	 * continued, or a new trace), current on the threads that work for
	 * the request, and as sent on (its RPC, the response header). */
	core_trace trace;
	char traceparent[CORE_TRACEPARENT_LEN + 1];
	bool unsafe; /* a method that may write: not GET, HEAD,
	                            OPTIONS */
	char *body;  /* malloc'd, NUL-terminated; ROUTE_BODY */
	size_t len;
	size_t cap;         /* bytes allocated at body */
	size_t received;    /* body bytes read, kept or not */
	bool too_large;     /* declared past EDGE_MAX_BODY_BYTES: 413 */
	unsigned early;     /* a status decided before the body
	                            (405/415) */
	char allow[64];     /* the path's methods, for 405 */
	const char *origin; /* the Origin header, or NULL */
	bool origin_ok;     /* listed, or this edge's own pages */
	bool cors;          /* listed: answer with CORS headers */
	uint64_t start_us;
	unsigned status; /* what was answered (metrics) */
	unsigned label;  /* metrics route label */
	/* The RPC (REQ_RPC_PENDING, REQ_REPLY_READY): its memory, what the
	 * filters share, and the reply rest.c's completion copies into the
	 * arena. */
	struct MHD_Connection *conn;
	core_arena *arena;
	struct edge_exchange *exchange;
	core_rpc_reply reply;
} edge_request;

/* Whether a request may move from one stage to the other (the arrows
 * above). Pure. */
bool edge_request_can_move(edge_request_state from, edge_request_state to);

/* Moves r to stage to. A move against the arrows is a bug: logged, and it
 * ends the process in builds with assertions. */
void edge_request_move(edge_request *r, edge_request_state to);

/* A stage's name ("REQ_RPC_PENDING"); "?" out of range. Never NULL. */
const char *edge_request_state_name(edge_request_state s);

/* Whether a Content-Length header value declares a body larger than max
 * bytes: a run of digits above max (however many) is; anything else
 * (within max, or not a number: libmicrohttpd refuses those itself) is
 * not. Pure. */
bool edge_body_declared_too_large(const char *content_length, size_t max);

/* A new request in REQ_NEW (all else zero), or NULL when out of memory. */
edge_request *edge_request_new(void);

/* Appends size bytes of data to r's body (kept NUL-terminated). A buffer
 * it outgrows is wiped before it is freed: bodies hold passwords. Returns
 * false when out of memory (the body is then dropped). */
bool edge_request_body_append(edge_request *r, const char *data, size_t size);

/* Wipes and frees r's body; len 0. */
void edge_request_body_drop(edge_request *r);

/* Frees r with its body (wiped) and arena (wiped). NULL is a no-op. */
void edge_request_free(edge_request *r);

/* Whether an HTTP method is unsafe (RFC 9110 section 9.2.1): anything but
 * GET, HEAD and OPTIONS. */
bool edge_method_unsafe(const char *method);

#endif
