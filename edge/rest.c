/* REST <-> RPC: a route's request message from the HTTP request, the RPC
 * run asynchronously while the connection is suspended, and the answer
 * from the response message. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/json.h"
#include "core/log.h"
#include "core/utf8.h"
#include "browser.h"
#include "fields.h"
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

/* A string field of a reply, "" when it has none. */
static const char *
string_or_empty(const ProtobufCMessage *m, const char *name)
{
	const char *s = edge_field_get_string(m, name);
	return s != NULL ? s : "";
}

/* An integer field of a reply, 0 when it has none. */
static long
int_or_zero(const ProtobufCMessage *m, const char *name)
{
	int64_t v = 0;
	edge_field_get_int64(m, name, &v);
	return (long) v;
}

/* Adds the token cookies of a TokenResponse (or expires them: out NULL). */
static void
token_cookies(const edge_config *e, edge_answer *ans, core_arena *a,
    const ProtobufCMessage *out)
{
	const char *names[2] = {e->cookie_access, e->cookie_refresh};
	const char *values[2] = {"", ""};
	long ages[2] = {0, 0};
	if (out != NULL) {
		values[0] = string_or_empty(out, "access_token");
		values[1] = string_or_empty(out, "refresh_token");
		ages[0] = int_or_zero(out, "expires_in");
		ages[1] = int_or_zero(out, "refresh_expires_in");
	}
	for (int i = 0; i < 2; i++) {
		char c[1024];
		if (edge_cookie_format(c, sizeof(c), names[i], values[i],
		        ages[i], e->cookie_secure) == 0) {
			edge_answer_header(ans, "Set-Cookie",
			    core_arena_strdup(a, c));
		} else {
			core_log_error("token does not fit in a cookie");
		}
	}
}

/* Parses If-Match: "v7", W/"v7" or 7. Returns 0 and the version, or -1. */
static int
parse_if_match(const char *v, long long *out)
{
	if (strncmp(v, "W/", 2) == 0) {
		v += 2;
	}
	if (*v == '"') {
		v++;
	}
	if (*v == 'v') {
		v++;
	}
	char *end;
	errno = 0;
	long long n = strtoll(v, &end, 10);
	if (errno != 0 || end == v || n < 0 || !(*end == '\0' || (*end == '"' &&
	                                                     end[1] == '\0'))) {
		return -1;
	}
	*out = n;
	return 0;
}

/* The query string as a JSON object of strings (the codec turns "20" into
 * an int32 and "USER_STATUS_ACTIVE" into an enum, as proto3 JSON allows). */
typedef struct query_args {
	json_t *obj;
	char *dup;    /* a parameter given twice */
	char *bad;    /* a parameter that is not UTF-8 text */
} query_args;

static bool
query_arg(void *cls, const char *key, const char *value)
{
	query_args *qa = cls;
	if (qa->obj == NULL || qa->dup != NULL || qa->bad != NULL) {
		return false;
	}
	if (json_object_get(qa->obj, key) != NULL) {
		qa->dup = strdup(key);
		return false;
	}
	/* jansson takes UTF-8 text only; NULL means "?key" alone. */
	bool key_ok = core_utf8_valid(key, strlen(key));
	json_t *v = key_ok ? json_string(value != NULL ? value : "") : NULL;
	if (v == NULL || json_object_set_new(qa->obj, key, v) != 0) {
		qa->bad = strdup(key_ok ? key : "(name)");
		return false;
	}
	return true;
}

/* Completion of a request's RPC, on one of nng's threads: keeps the reply
 * in the request's arena and resumes the connection. */
static void
rpc_done(void *arg, const core_rpc_reply *rep)
{
	edge_request *r = arg;
	core_arena *a = r->arena;
	core_rpc_reply *c = &r->reply;
	*c = (core_rpc_reply) {.code = rep->code, .message = "",
	    .retry_after_s = rep->retry_after_s};
	const char *msg = core_arena_strdup(a, rep->message);
	uint8_t *payload = rep->payload_len > 0
	    ? core_arena_alloc(a, rep->payload_len)
	    : NULL;
	const char **fields = rep->n_details > 0
	    ? core_arena_alloc(a, rep->n_details * sizeof(char *))
	    : NULL;
	const char **descs = rep->n_details > 0
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
			fields[k] = core_arena_strdup(a, rep->detail_fields[i]);
			descs[k] = core_arena_strdup(a,
			    rep->detail_descriptions[i]);
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

/* Builds the RPC request from the HTTP request and starts the call. */
bool
edge_rest_start(const edge_config *e, edge_request *r)
{
	const edge_route *rt = r->route;
	core_json_error jerr;
	ProtobufCMessage *in = NULL;
	struct MHD_Connection *conn = r->conn;
	bool ret;
	const char *text = r->body != NULL ? r->body : "{}";
	size_t len = r->body != NULL ? r->len : 2;
	bool from_cookie = false;
	char peer[64];
	edge_http_client_ip(conn, peer, sizeof(peer));

	core_arena *a = core_arena_new(0);
	if (a == NULL) {
		return false;
	}
	char *query = NULL;
	if (rt->flags & ROUTE_QUERY) {
		query_args qa = {.obj = json_object()};
		edge_http_each_param(conn, query_arg, &qa);
		if (qa.dup != NULL || qa.bad != NULL) {
			char detail[160];
			snprintf(detail, sizeof(detail),
			    qa.dup != NULL
			        ? "the parameter \"%.64s\" is given twice"
			        : "the parameter \"%.64s\" is not valid UTF-8",
			    qa.dup != NULL ? qa.dup : qa.bad);
			free(qa.dup);
			free(qa.bad);
			json_decref(qa.obj);
			core_arena_free(a);
			return edge_http_problem(r, 400, detail, NULL, 0);
		}
		query = qa.obj != NULL ? json_dumps(qa.obj, JSON_COMPACT) : NULL;
		json_decref(qa.obj);
		if (query == NULL) {
			core_arena_free(a);
			return false;
		}
		text = query;
		len = strlen(query);
	}
	int jrc = core_json_to_pb(rt->in, text, len, NULL,
	    core_arena_allocator(a), &in, &jerr);
	free(query);
	if (jrc != 0) {
		json_t *errs = json_pack("[{s:s, s:s}]", "field", jerr.field,
		    "message", jerr.message);
		char detail[512];
		snprintf(detail, sizeof(detail), "%s%s%s", jerr.field,
		    jerr.field[0] ? ": " : "", jerr.message);
		ret = edge_http_problem(r, 400, detail,
		    json_pack("{s:o}", "errors", errs), 0);
		core_arena_free(a);
		return ret;
	}
	if (rt->path_field != NULL) {
		edge_field_set_string(in, rt->path_field,
		    core_arena_strdup(a, r->id));
	}
	if (rt->flags & ROUTE_CLIENT_INFO) {
		/* From the connection, never from the body: the body is the
		 * client's word. */
		edge_field_set_string(in, "client_ip",
		    core_arena_strdup(a, peer));
		const char *ua = edge_http_header(conn, "User-Agent");
		char uab[256];
		snprintf(uab, sizeof(uab), "%s", ua ? ua : "");
		edge_field_set_string(in, "user_agent",
		    core_arena_strdup(a, uab));
	}
	if (rt->flags & ROUTE_REFRESH_COOKIE) {
		const char *rc = edge_http_cookie(conn, e->cookie_refresh);
		const char *given = edge_field_get_string(in, "refresh_token");
		if (given != NULL && given[0] == '\0' && rc != NULL &&
		    rc[0] != '\0' &&
		    edge_field_set_string(in, "refresh_token",
		        core_arena_strdup(a, rc)) == 0) {
			from_cookie = true;
		}
	}
	if (rt->flags & ROUTE_IF_MATCH) {
		const char *im = edge_http_header(conn, "If-Match");
		long long v;
		if (im != NULL && parse_if_match(im, &v) != 0) {
			core_arena_free(a);
			return edge_http_problem(r, 400,
			    "If-Match must be an ETag of this API, e.g. \"v3\"",
			    NULL, 0);
		}
		if (im != NULL) {
			edge_field_set_int64(in, "expected_version", v);
		}
	}

	/* The end user's token: the Authorization header, else (on routes
	 * that take one) the access cookie a browser sends. */
	const char *authz = edge_http_header(conn, "Authorization");
	if (authz == NULL && (rt->flags & ROUTE_AUTH)) {
		const char *ac = edge_http_cookie(conn, e->cookie_access);
		if (ac != NULL && ac[0] != '\0') {
			size_t n = strlen(ac) + 8;
			char *b = core_arena_alloc(a, n);
			if (b != NULL) {
				snprintf(b, n, "Bearer %s", ac);
				authz = b;
				from_cookie = true;
			}
		}
	}
	/* CSRF: a write the browser authenticated by itself (cookies) must
	 * come from an allowed page and carry JSON, which no cross-site form
	 * can send. */
	if (from_cookie && r->unsafe) {
		if (r->origin == NULL || !r->origin_ok) {
			core_arena_free(a);
			return edge_http_problem(r, 403,
			    "a cookie-authenticated request needs the Origin "
			    "header of an allowed page (or use an "
			    "Authorization header)",
			    NULL, 0);
		}
		if (!edge_is_json_type(edge_http_header(conn,
		        "Content-Type"))) {
			core_arena_free(a);
			return edge_http_problem(r, 415,
			    "a cookie-authenticated request must be sent as "
			    "application/json",
			    NULL, 0);
		}
	}

	size_t n = protobuf_c_message_get_packed_size(in);
	uint8_t *payload = core_arena_alloc(a, n ? n : 1);
	if (payload == NULL) {
		core_arena_free(a);
		return false;
	}
	protobuf_c_message_pack(in, payload);

	core_md md[3];
	size_t nmd = 0;
	md[nmd++] = (core_md) {CORE_MD_REQUEST_ID, r->rid};
	if (peer[0] != '\0') {
		md[nmd++] = (core_md) {CORE_MD_CLIENT_IP, peer};
	}
	if (authz != NULL) {
		md[nmd++] = (core_md) {CORE_MD_AUTHORIZATION, authz};
	}
	core_rpc_opts opts = {
	    .timeout_ms = (int) e->rpc_timeout_ms, .md = md, .n_md = nmd};
	/* Suspended while the RPC runs, so this thread serves other
	 * connections meanwhile; rpc_done resumes it and finish_rpc answers.
	 * Suspending first means the completion can never race ahead of it. */
	r->arena = a;
	edge_request_move(r, REQ_RPC_PENDING);
	atomic_fetch_add(&rpcs_in_flight, 1);
	edge_http_suspend(r);
	int rc = core_rpc_call_async(rt->backend->client, rt->rpc, payload,
	    n, &opts, rpc_done, r);
	if (rc != CORE_OK) {
		/* Not started (most often: no connection to the service at
		 * this moment). The blocking call waits a little for one. */
		core_rpc_call_raw(rt->backend->client, rt->rpc, payload, n,
		    &opts, a, &r->reply);
		edge_request_move(r, REQ_REPLY_READY);
		atomic_fetch_sub(&rpcs_in_flight, 1);
		edge_http_resume(r);
	}
	return true;
}

/* Answers the HTTP request from the RPC's reply (r->reply, in r->arena). */
bool
edge_rest_finish(const edge_config *e, edge_request *r)
{
	const edge_route *rt = r->route;
	core_arena *a = r->arena;
	core_rpc_reply reply = r->reply;
	core_status st = reply.code;
	if (st != CORE_OK) {
		if (e->metrics) {
			edge_metrics_rpc_error(rt->backend->index, st);
		}
		unsigned hs = edge_rest_http_status(st);
		if (st == CORE_FAILED_PRECONDITION &&
		    !(rt->flags & ROUTE_IF_MATCH)) {
			/* 412 is for If-Match; other preconditions (the last
			 * admin) are 400, as grpc-gateway maps them. */
			hs = 400;
		}
		json_t *extra = json_object();
		if (reply.n_details > 0) {
			json_t *errs = json_array();
			for (size_t i = 0; i < reply.n_details; i++) {
				json_array_append_new(errs,
				    json_pack("{s:s, s:s}", "field",
				        reply.detail_fields[i], "message",
				        reply.detail_descriptions[i]));
			}
			json_object_set_new(extra, "errors", errs);
		}
		if (reply.retry_after_s > 0) {
			json_object_set_new(extra, "retry_after",
			    json_integer(reply.retry_after_s));
		}
		return edge_http_problem(r, hs, reply.message, extra,
		    reply.retry_after_s);
	}
	ProtobufCMessage *out = protobuf_c_message_unpack(rt->out,
	    core_arena_allocator(a), reply.payload_len, reply.payload);
	if (out == NULL) {
		return edge_http_problem(r, 502,
		    "the service sent an unreadable answer", NULL, 0);
	}
	char *body = NULL;
	const char *type = "application/json";
	char etag[40] = "";
	if (rt->flags & ROUTE_JWKS) {
		body = strdup(string_or_empty(out, "json"));
		type = "application/jwk-set+json";
	} else {
		body = core_pb_to_json(out, 0, NULL);
	}
	if (rt->flags & ROUTE_ETAG) {
		const ProtobufCMessage *profile =
		    edge_field_get_message(out, "profile");
		int64_t version;
		if (profile != NULL &&
		    edge_field_get_int64(profile, "version", &version) == 0) {
			snprintf(etag, sizeof(etag), "\"v%lld\"",
			    (long long) version);
		}
	}
	if (body == NULL) {
		return false;
	}
	edge_answer ans = {.status = rt->success, .type = type, .body = body};
	if (rt->flags & ROUTE_JWKS) {
		edge_answer_header(&ans, "Cache-Control", "public, max-age=60");
	}
	if (etag[0] != '\0') {
		edge_answer_header(&ans, "ETag", etag);
	}
	if (rt->flags & ROUTE_LOCATION) {
		edge_answer_header(&ans, "Location", "/profile");
	}
	if (rt->flags & ROUTE_SET_COOKIES) {
		token_cookies(e, &ans, a, out);
	}
	if (rt->flags & ROUTE_CLEAR_COOKIES) {
		token_cookies(e, &ans, a, NULL);
	}
	return edge_http_send(r, &ans);
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
		/* On the If-Match routes (the profile version); the caller
		 * answers 400 elsewhere. */
		return 412;
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
