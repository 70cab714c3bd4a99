/* REST <-> RPC: a route's request message from the HTTP request (the
 * route's filters, filters.c), the RPC run asynchronously while the
 * connection is suspended, and the answer from the response message. The
 * steps are the same for every route; what differs is in the table of
 * routes.c and the filters of its flags. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/json.h"
#include "core/pbfield.h"
#include "backends.h"
#include "filters.h"
#include "http.h"
#include "metrics.h"
#include "rest.h"

/* RPCs started and not yet completed: shutdown waits for them, since
 * their completions resume connections of the HTTP daemon. */
static _Atomic int rpcs_in_flight;

int
edge_rest_in_flight(void)
{
	return atomic_load(&rpcs_in_flight);
}

unsigned
edge_rest_http_status(int st)
{
	switch (st) {
	case CORE_OK:
		return 200;
	case CORE_INVALID_ARGUMENT:
	case CORE_OUT_OF_RANGE:
		return 400;
	case CORE_UNAUTHENTICATED:
		return 401;
	case CORE_PERMISSION_DENIED:
		return 403;
	case CORE_NOT_FOUND:
		return 404;
	case CORE_ALREADY_EXISTS:
	case CORE_ABORTED:
		return 409;
	case CORE_FAILED_PRECONDITION:
		/* As grpc-gateway maps it (the last admin); where If-Match
		 * made the call conditional its filter makes this 412. */
		return 400;
	case CORE_RESOURCE_EXHAUSTED:
		return 429;
	case CORE_CANCELLED:
		return 499;
	case CORE_UNIMPLEMENTED:
		return 501;
	case CORE_UNAVAILABLE:
		return 503;
	case CORE_DEADLINE_EXCEEDED:
		return 504;
	default:
		return 500;
	}
}

const char *
edge_http_title(unsigned status)
{
	static const struct {
		unsigned status;
		const char *title;
	} titles[] = {
	    {400, "Bad Request"},
	    {401, "Unauthorized"},
	    {403, "Forbidden"},
	    {404, "Not Found"},
	    {405, "Method Not Allowed"},
	    {409, "Conflict"},
	    {412, "Precondition Failed"},
	    {413, "Content Too Large"},
	    {415, "Unsupported Media Type"},
	    {429, "Too Many Requests"},
	    {499, "Client Closed Request"},
	    {501, "Not Implemented"},
	    {502, "Bad Gateway"},
	    {503, "Service Unavailable"},
	    {504, "Gateway Timeout"},
	};
	for (size_t i = 0; i < sizeof(titles) / sizeof(titles[0]); i++) {
		if (titles[i].status == status) {
			return titles[i].title;
		}
	}
	return "Internal Server Error";
}

/* Completion of a request's RPC, on one of nng's threads: keeps the reply
 * in the request's arena and resumes the connection. */
static void
rpc_done(void *arg, const core_rpc_reply *rep)
{
	edge_request *r = arg;
	core_arena *a = r->arena;
	core_rpc_reply *c = &r->reply;
	*c = (core_rpc_reply){.code = rep->code,
	    .message = "",
	    .retry_after_s = rep->retry_after_s};
	const char *msg = core_arena_strdup(a, rep->message);
	uint8_t *payload = rep->payload_len > 0
	                       ? core_arena_alloc(a, rep->payload_len)
	                       : NULL;
	const char **fields =
	    rep->n_details > 0
	        ? core_arena_alloc(a, rep->n_details * sizeof(char *))
	        : NULL;
	const char **descs =
	    rep->n_details > 0
	        ? core_arena_alloc(a, rep->n_details * sizeof(char *))
	        : NULL;
	if (msg == NULL || (rep->payload_len > 0 && payload == NULL) ||
	    (rep->n_details > 0 && (fields == NULL || descs == NULL))) {
		c->code = CORE_INTERNAL;
		c->message = "out of memory";
	} else {
		c->message = msg;
		if (payload != NULL) {
			memcpy(payload, rep->payload, rep->payload_len);
		}
		c->payload = payload;
		c->payload_len = rep->payload_len;
		size_t k = 0;
		for (size_t i = 0; i < rep->n_details; i++) {
			fields[k] =
			    core_arena_strdup(a, rep->detail_fields[i]);
			descs[k] =
			    core_arena_strdup(a, rep->detail_descriptions[i]);
			if (fields[k] != NULL && descs[k] != NULL) {
				k++;
			}
		}
		c->n_details = k;
		c->detail_fields = fields;
		c->detail_descriptions = descs;
	}
	edge_request_move(r, REQ_REPLY_READY);
	edge_http_resume(r);
	atomic_fetch_sub(&rpcs_in_flight, 1);
}

/* r's exchange, in a new arena that r owns from here on, with an empty
 * request message (every field at its default: what a route without a
 * body or query sends). NULL when out of memory. */
static edge_exchange *
exchange_new(const edge_config *cfg, edge_request *r)
{
	const ProtobufCMessageDescriptor *d = r->route->in;
	r->arena = core_arena_new(0);
	edge_exchange *x = r->arena != NULL
	                       ? core_arena_calloc(r->arena, 1, sizeof(*x))
	                       : NULL;
	ProtobufCMessage *in =
	    x != NULL ? core_arena_alloc(r->arena, d->sizeof_message) : NULL;
	if (in == NULL) {
		return NULL;
	}
	protobuf_c_message_init(d, in);
	*x = (edge_exchange){.cfg = cfg,
	    .req = r,
	    .route = r->route,
	    .arena = r->arena,
	    .in = in,
	    /* Passed on whatever the route: the service decides. */
	    .authorization = edge_http_header(r->conn, "Authorization"),
	    .precondition_status =
	        edge_rest_http_status(CORE_FAILED_PRECONDITION)};
	/* Read once: the metadata and ROUTE_CLIENT_INFO both use it. */
	edge_http_client_ip(r->conn, cfg, x->peer, sizeof(x->peer));
	r->exchange = x;
	return x;
}

/* The reply of a call that could not start: rc from core_rpc_call_async
 * (UNAVAILABLE: no connection; INVALID_ARGUMENT: the request is larger
 * than an RPC may be; RESOURCE_EXHAUSTED: out of memory). */
static void
not_started(edge_exchange *x, int rc)
{
	const char *name = x->route->backend->name;
	core_rpc_reply *c = &x->req->reply;
	*c = (core_rpc_reply){.code = CORE_UNAVAILABLE, .retry_after_s = 1};
	if (rc == CORE_INVALID_ARGUMENT) {
		*c = (core_rpc_reply){.code = CORE_INVALID_ARGUMENT,
		    .message = "the request is too large"};
		return;
	}
	c->message = core_arena_printf(x->arena,
	    rc == CORE_UNAVAILABLE ? "%s service unavailable: no connection"
	                           : "%s service unavailable: out of memory",
	    name);
	if (c->message == NULL) {
		c->message = "service unavailable";
	}
}

/* Packs x's request message and starts the RPC, with the connection
 * suspended until the reply is in. */
static bool
call(edge_exchange *x)
{
	edge_request *r = x->req;
	const edge_route *rt = x->route;
	size_t n = protobuf_c_message_get_packed_size(x->in);
	uint8_t *payload = core_arena_alloc(x->arena, n ? n : 1);
	if (payload == NULL) {
		return false;
	}
	protobuf_c_message_pack(x->in, payload);

	core_md md[4];
	size_t nmd = 0;
	md[nmd++] = (core_md){CORE_MD_REQUEST_ID, r->rid};
	md[nmd++] = (core_md){CORE_MD_TRACEPARENT, r->traceparent};
	if (x->peer[0] != '\0') {
		md[nmd++] = (core_md){CORE_MD_CLIENT_IP, x->peer};
	}
	if (x->authorization != NULL) {
		md[nmd++] = (core_md){CORE_MD_AUTHORIZATION, x->authorization};
	}
	core_rpc_opts opts = {
	    .timeout_ms = (int) x->cfg->rpc_timeout_ms, .md = md, .n_md = nmd};
	/* Suspended while the RPC runs, so this thread serves other
	 * connections meanwhile; rpc_done resumes it and edge_rest_finish
	 * answers. Suspending first means the completion can never race
	 * ahead of it. */
	edge_request_move(r, REQ_RPC_PENDING);
	atomic_fetch_add(&rpcs_in_flight, 1);
	edge_http_suspend(r);
	int rc = core_rpc_call_async(
	    rt->backend->client, rt->rpc, payload, n, &opts, rpc_done, r);
	if (rc != CORE_OK) {
		/* Not started: most often no connection to the service at
		 * this moment. Answered at once (503 for that), never by
		 * waiting on this thread for a connection. */
		not_started(x, rc);
		edge_request_move(r, REQ_REPLY_READY);
		atomic_fetch_sub(&rpcs_in_flight, 1);
		edge_http_resume(r);
	}
	return true;
}

bool
edge_rest_start(const edge_config *cfg, edge_request *r)
{
	edge_exchange *x = exchange_new(cfg, r);
	if (x == NULL) {
		return false;
	}
	if (edge_filters_request(x) != 0) {
		/* Refused: the problem is the answer. Status 0: out of
		 * memory. */
		if (x->refusal == 0) {
			json_decref(x->refusal_extra);
			return false;
		}
		return edge_http_problem(
		    r, x->refusal, x->refusal_detail, x->refusal_extra, 0);
	}
	if (x->route->path_field != NULL) {
		/* The path's {id} last: it wins over a body field of that
		 * name. */
		char *id = core_arena_strdup(x->arena, r->id);
		if (id == NULL) {
			return false;
		}
		core_pb_field_set_string(x->in, x->route->path_field, id);
	}
	return call(x);
}

/* The RPC failed: its status as HTTP, its message and field errors as a
 * problem document. */
static bool
answer_failure(edge_exchange *x, const core_rpc_reply *reply)
{
	core_status st = reply->code;
	edge_metrics_rpc_error(x->route->backend->index, st);
	unsigned hs = st == CORE_FAILED_PRECONDITION
	                  ? x->precondition_status
	                  : edge_rest_http_status(st);
	json_t *extra = json_object();
	if (reply->n_details > 0) {
		json_t *errs = json_array();
		for (size_t i = 0; i < reply->n_details; i++) {
			json_array_append_new(
			    errs, json_pack("{s:s, s:s}", "field",
			              reply->detail_fields[i], "message",
			              reply->detail_descriptions[i]));
		}
		json_object_set_new(extra, "errors", errs);
	}
	if (reply->retry_after_s > 0) {
		json_object_set_new(
		    extra, "retry_after", json_integer(reply->retry_after_s));
	}
	return edge_http_problem(
	    x->req, hs, reply->message, extra, reply->retry_after_s);
}

bool
edge_rest_finish(edge_request *r)
{
	edge_exchange *x = r->exchange;
	const core_rpc_reply *reply = &r->reply;
	if (reply->code != CORE_OK) {
		return answer_failure(x, reply);
	}
	x->out = protobuf_c_message_unpack(x->route->out,
	    core_arena_allocator(x->arena), reply->payload_len,
	    reply->payload);
	if (x->out == NULL) {
		return edge_http_problem(
		    r, 502, "the service sent an unreadable answer", NULL, 0);
	}
	x->answer = (edge_answer){
	    .status = x->route->success, .type = "application/json"};
	if (edge_filters_response(x) != 0) {
		free(x->answer.body);
		return false;
	}
	if (x->answer.body == NULL) {
		/* Unless a filter said otherwise: the message as JSON, in
		 * the REST style (docs/api.md "JSON style"). */
		x->answer.body = core_pb_to_json(x->out, CORE_JSON_REST, NULL);
	}
	return x->answer.body != NULL && edge_http_send(r, &x->answer);
}
