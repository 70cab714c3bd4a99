/* edge: the HTTP front door. libmicrohttpd (thread pool + epoll) turning
 * REST/JSON into RPCs to the internal services.
 *
 * Serves GET /healthz (the process is up), GET /readyz (every service
 * answers core.v1.Health SERVING; 503 naming what is not), GET /metrics,
 * the web frontend's files (static.c), and the REST routes of routes.c,
 * each translated to one RPC. Errors are RFC 9457 problem+json. Browser
 * rules (cookies, CSRF, CORS) are in browser.c.
 *
 * A request's RPC runs asynchronously with its connection suspended; the
 * completion (on an nng thread) resumes it and the answer is written from
 * the HTTP thread. So EDGE_THREADS is about CPU, not about how many
 * requests may wait at once. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>
#include <microhttpd.h>

#include "core/v1/health.pb-c.h"

#include "core/config.h"
#include "core/json.h"
#include "core/log.h"
#include "registry.h"
#include "core/rpc.h"
#include "core/utf8.h"
#include "browser.h"
#include "metrics.h"
#include "routes.h"
#include "static.h"

#define MAX_URLS 8
#define N_TARGETS 3

static const char *const target_names[N_TARGETS] = {"auth", "user", "admin"};

/* The page policy: scripts, styles and API calls from this origin only;
 * avatars may be any https image. */
#define PAGE_CSP                                                             \
	"default-src 'none'; script-src 'self'; style-src 'self'; "          \
	"img-src 'self' https: data:; connect-src 'self'; "                  \
	"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
#define API_CSP "default-src 'none'; frame-ancestors 'none'"

typedef struct edge {
	core_rpc_client *clients[N_TARGETS];
	long rpc_timeout_ms;
	size_t max_body;
	bool cookie_secure;
	const char *cookie_access; /* cookie names */
	const char *cookie_refresh;
	edge_origins cors; /* may call cross-origin, with credentials */
	bool metrics;
} edge;

/* One HTTP request in progress (MHD's per-request pointer). */
typedef struct request {
	const edge_route *route;
	char id[64];       /* {id} of the path */
	char rid[65];      /* request id */
	char *body;
	size_t len;
	bool too_large;
	unsigned early;    /* a status decided before the body (405/415) */
	char allow[64];
	const char *origin;      /* the Origin header, or NULL */
	bool origin_ok;          /* listed, or this edge's own pages */
	bool cors;               /* listed: answer with CORS headers */
	uint64_t start_us;
	unsigned status;         /* what was answered (metrics) */
	unsigned label;          /* metrics route label */
	/* The RPC, while the connection is suspended waiting for it. */
	struct MHD_Connection *conn;
	core_arena *arena;       /* the call's memory, freed with the request */
	bool waiting;            /* suspended; rpc_done resumes */
	core_rpc_reply reply;    /* copied into arena by rpc_done */
} request;

/* RPCs started and not yet completed: shutdown waits for them, since
 * their completions resume connections of the HTTP daemon. */
static _Atomic int rpcs_in_flight;

static uint64_t
now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

static bool
unsafe_method(const char *m)
{
	return strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0 &&
	    strcmp(m, "OPTIONS") != 0;
}

/* Every answer leaves through here: request id, security headers, CORS,
 * and the status for the metrics. page: an HTML page (its own CSP). */
static enum MHD_Result
send_response(struct MHD_Connection *conn, request *r, unsigned status,
    struct MHD_Response *resp, bool page)
{
	MHD_add_response_header(resp, "X-Request-Id", r->rid);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	MHD_add_response_header(resp, "Content-Security-Policy",
	    page ? PAGE_CSP : API_CSP);
	if (MHD_get_response_header(resp, "Cache-Control") == NULL) {
		MHD_add_response_header(resp, "Cache-Control", "no-store");
	}
	if (r->cors) {
		MHD_add_response_header(resp, "Access-Control-Allow-Origin",
		    r->origin);
		MHD_add_response_header(resp,
		    "Access-Control-Allow-Credentials", "true");
		MHD_add_response_header(resp, "Access-Control-Expose-Headers",
		    "ETag, Location, Retry-After, WWW-Authenticate, "
		    "X-Request-Id");
	}
	if (r->origin != NULL) {
		MHD_add_response_header(resp, "Vary", "Origin");
	}
	r->status = status;
	enum MHD_Result ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* Queues body (copied) with status and content type. */
static enum MHD_Result
reply(struct MHD_Connection *conn, request *r, unsigned status,
    const char *type, const char *body)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(
	    strlen(body), (void *) (uintptr_t) body, MHD_RESPMEM_MUST_COPY);
	if (resp == NULL) {
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", type);
	return send_response(conn, r, status, resp, false);
}

/* An RFC 9457 problem document. extra (may be NULL, consumed) is merged in.
 * 401 carries WWW-Authenticate, 429 Retry-After (retry_after_s), 405 Allow
 * (from extra's "allow"). */
static enum MHD_Result
problem_with(struct MHD_Connection *conn, request *r, unsigned status,
    const char *title, const char *detail, json_t *extra,
    unsigned retry_after_s)
{
	json_t *p = json_pack("{s:s, s:s, s:i, s:s, s:s}", "type",
	    "about:blank", "title", title, "status", (int) status, "detail",
	    detail, "request_id", r->rid);
	char allow[128] = "";
	if (extra != NULL && json_is_string(json_object_get(extra, "allow"))) {
		snprintf(allow, sizeof(allow), "%s",
		    json_string_value(json_object_get(extra, "allow")));
	}
	if (p != NULL && extra != NULL) {
		json_object_update(p, extra);
	}
	char *text = p ? json_dumps(p, JSON_COMPACT | JSON_PRESERVE_ORDER)
	               : NULL;
	json_decref(p);
	json_decref(extra);
	if (text == NULL) {
		return MHD_NO;
	}
	struct MHD_Response *resp = MHD_create_response_from_buffer(
	    strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type",
	    "application/problem+json");
	if (status == 401) {
		MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
	}
	if (retry_after_s > 0) {
		char ra[16];
		snprintf(ra, sizeof(ra), "%u", retry_after_s);
		MHD_add_response_header(resp, "Retry-After", ra);
	}
	if (allow[0] != '\0') {
		MHD_add_response_header(resp, "Allow", allow);
	}
	return send_response(conn, r, status, resp, false);
}

static enum MHD_Result
problem(struct MHD_Connection *conn, request *r, unsigned status,
    const char *title, const char *detail, json_t *extra)
{
	return problem_with(conn, r, status, title, detail, extra, 0);
}

static enum MHD_Result
readyz(edge *e, struct MHD_Connection *conn, request *r)
{
	json_t *down = json_array();
	json_t *checks = json_object();
	core_arena *a = core_arena_new(0);
	core_md md[] = {{CORE_MD_REQUEST_ID, r->rid}};
	core_rpc_opts opts = {
	    .timeout_ms = (int) e->rpc_timeout_ms, .md = md, .n_md = 1};

	for (int i = 0; i < N_TARGETS; i++) {
		Core__V1__HealthCheckRequest req =
		    CORE__V1__HEALTH_CHECK_REQUEST__INIT;
		ProtobufCMessage *out = NULL;
		core_rpc_reply rep;
		const char *state;
		core_status st = core_rpc_call(e->clients[i],
		    "/core.v1.Health/Check", &req.base,
		    &core__v1__health_check_response__descriptor, &out, &opts,
		    a, &rep);
		if (st != CORE_OK) {
			state = core_status_str(st);
		} else {
			const ProtobufCEnumValue *v =
			    protobuf_c_enum_descriptor_get_value(
			        &core__v1__health_check_response__serving_status__descriptor,
			        (int) ((Core__V1__HealthCheckResponse *) out)->status);
			state = v ? v->name : "UNKNOWN";
		}
		json_object_set_new(checks, target_names[i], json_string(state));
		if (strcmp(state, "SERVING") != 0) {
			json_array_append_new(down, json_string(target_names[i]));
		}
		core_arena_reset(a);
	}
	core_arena_free(a);
	if (json_array_size(down) == 0) {
		json_decref(down);
		json_t *ok = json_pack("{s:s, s:o}", "status", "ready", "checks",
		    checks);
		char *text = json_dumps(ok, JSON_COMPACT | JSON_PRESERVE_ORDER);
		json_decref(ok);
		enum MHD_Result ret = text ? reply(conn, r, MHD_HTTP_OK,
		                                 "application/json", text)
		                           : MHD_NO;
		free(text);
		return ret;
	}
	char detail[256] = "not ready:";
	size_t i;
	json_t *v;
	json_array_foreach (down, i, v) {
		size_t len = strlen(detail);
		snprintf(detail + len, sizeof(detail) - len, "%s %s",
		    i ? "," : "", json_string_value(v));
	}
	json_t *extra = json_pack("{s:o, s:o}", "down", down, "checks", checks);
	return problem(conn, r, MHD_HTTP_SERVICE_UNAVAILABLE,
	    "Service Unavailable", detail, extra);
}

static void
request_done(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	edge *e = cls;
	(void) conn;
	(void) toe;
	request *r = *con_cls;
	if (r != NULL) {
		if (r->status != 0 && e->metrics) {
			edge_metrics_request(r->label, r->status,
			    now_us() - r->start_us);
		}
		core_arena_free(r->arena);
		free(r->body);
		free(r);
		*con_cls = NULL;
	}
}

/* The storage of singular field name of m when it has that type, or NULL. */
static void *
field_ptr(const ProtobufCMessage *m, const char *name, ProtobufCType type)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
	if (f == NULL || f->type != type ||
	    f->label == PROTOBUF_C_LABEL_REPEATED) {
		return NULL;
	}
	return (char *) (uintptr_t) m + f->offset;
}

/* Sets string field name of m (if it has one) to a copy of v. */
static void
set_string(ProtobufCMessage *m, const char *name, const char *v,
    core_arena *a)
{
	char **slot = field_ptr(m, name, PROTOBUF_C_TYPE_STRING);
	char *copy = slot != NULL ? core_arena_strdup(a, v) : NULL;
	if (copy != NULL) {
		*slot = copy;
	}
}

static const char *
get_string(const ProtobufCMessage *m, const char *name)
{
	char **slot = field_ptr(m, name, PROTOBUF_C_TYPE_STRING);
	return slot != NULL && *slot != NULL ? *slot : "";
}

static long
get_int32(const ProtobufCMessage *m, const char *name)
{
	int32_t *slot = field_ptr(m, name, PROTOBUF_C_TYPE_INT32);
	return slot != NULL ? (long) *slot : 0;
}

/* Adds the token cookies of a TokenResponse (or expires them: out NULL). */
static void
token_cookies(edge *e, struct MHD_Response *resp, const ProtobufCMessage *out)
{
	const char *names[2] = {e->cookie_access, e->cookie_refresh};
	const char *values[2] = {"", ""};
	long ages[2] = {0, 0};
	if (out != NULL) {
		values[0] = get_string(out, "access_token");
		values[1] = get_string(out, "refresh_token");
		ages[0] = get_int32(out, "expires_in");
		ages[1] = get_int32(out, "refresh_expires_in");
	}
	for (int i = 0; i < 2; i++) {
		char c[1024];
		if (edge_cookie_format(c, sizeof(c), names[i], values[i],
		        ages[i], e->cookie_secure) == 0) {
			MHD_add_response_header(resp, "Set-Cookie", c);
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

static void
client_ip(struct MHD_Connection *conn, char *buf, size_t len)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn,
	    MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	buf[0] = '\0';
	if (ci != NULL && ci->client_addr != NULL &&
	    ci->client_addr->sa_family == AF_INET) {
		const struct sockaddr_in *in =
		    (const struct sockaddr_in *) (const void *) ci->client_addr;
		inet_ntop(AF_INET, &in->sin_addr, buf, (socklen_t) len);
	}
}

/* The query string as a JSON object of strings (the codec turns "20" into
 * an int32 and "USER_STATUS_ACTIVE" into an enum, as proto3 JSON allows). */
typedef struct query_args {
	json_t *obj;
	char *dup;    /* a parameter given twice */
	char *bad;    /* a parameter that is not UTF-8 text */
} query_args;

static enum MHD_Result
query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	(void) kind;
	query_args *qa = cls;
	if (qa->obj == NULL || qa->dup != NULL || qa->bad != NULL) {
		return MHD_NO;
	}
	if (json_object_get(qa->obj, key) != NULL) {
		qa->dup = strdup(key);
		return MHD_NO;
	}
	/* jansson takes UTF-8 text only; NULL means "?key" alone. */
	bool key_ok = core_utf8_valid(key, strlen(key));
	json_t *v = key_ok ? json_string(value != NULL ? value : "") : NULL;
	if (v == NULL || json_object_set_new(qa->obj, key, v) != 0) {
		qa->bad = strdup(key_ok ? key : "(name)");
		return MHD_NO;
	}
	return MHD_YES;
}

/* Completion of a request's RPC, on one of nng's threads: keeps the reply
 * in the request's arena and resumes the connection. */
static void
rpc_done(void *arg, const core_rpc_reply *rep)
{
	request *r = arg;
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
	r->waiting = false;
	MHD_resume_connection(r->conn);
	atomic_fetch_sub(&rpcs_in_flight, 1);
}

/* Builds the RPC request from the HTTP request and starts the call. */
static enum MHD_Result
serve_rpc(edge *e, struct MHD_Connection *conn, request *r,
    const char *method)
{
	const edge_route *rt = r->route;
	core_json_error jerr;
	ProtobufCMessage *in = NULL;
	enum MHD_Result ret;
	const char *text = r->body != NULL ? r->body : "{}";
	size_t len = r->body != NULL ? r->len : 2;
	bool from_cookie = false;
	char peer[64];
	client_ip(conn, peer, sizeof(peer));

	core_arena *a = core_arena_new(0);
	if (a == NULL) {
		return MHD_NO;
	}
	char *query = NULL;
	if (rt->flags & ROUTE_QUERY) {
		query_args qa = {.obj = json_object()};
		MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, query_arg,
		    &qa);
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
			return problem(conn, r, 400, "Bad Request", detail, NULL);
		}
		query = qa.obj != NULL ? json_dumps(qa.obj, JSON_COMPACT) : NULL;
		json_decref(qa.obj);
		if (query == NULL) {
			core_arena_free(a);
			return MHD_NO;
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
		ret = problem(conn, r, 400, "Bad Request", detail,
		    json_pack("{s:o}", "errors", errs));
		core_arena_free(a);
		return ret;
	}
	if (rt->path_field != NULL) {
		set_string(in, rt->path_field, r->id, a);
	}
	if (rt->flags & ROUTE_CLIENT_INFO) {
		/* From the connection, never from the body: the body is the
		 * client's word. */
		set_string(in, "client_ip", peer, a);
		const char *ua = MHD_lookup_connection_value(conn,
		    MHD_HEADER_KIND, "User-Agent");
		char uab[256];
		snprintf(uab, sizeof(uab), "%s", ua ? ua : "");
		set_string(in, "user_agent", uab, a);
	}
	if (rt->flags & ROUTE_REFRESH_COOKIE) {
		const char *rc = MHD_lookup_connection_value(conn,
		    MHD_COOKIE_KIND, e->cookie_refresh);
		if (get_string(in, "refresh_token")[0] == '\0' && rc != NULL &&
		    rc[0] != '\0') {
			set_string(in, "refresh_token", rc, a);
			from_cookie = true;
		}
	}
	if (rt->flags & ROUTE_IF_MATCH) {
		const char *im = MHD_lookup_connection_value(conn,
		    MHD_HEADER_KIND, "If-Match");
		long long v;
		if (im != NULL && parse_if_match(im, &v) != 0) {
			core_arena_free(a);
			return problem(conn, r, 400, "Bad Request",
			    "If-Match must be an ETag of this API, e.g. \"v3\"",
			    NULL);
		}
		const ProtobufCFieldDescriptor *f =
		    protobuf_c_message_descriptor_get_field_by_name(
		        in->descriptor, "expected_version");
		if (im != NULL && f != NULL &&
		    (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)) {
			*(int64_t *) (void *) ((char *) in + f->offset) = v;
			*(uint32_t *) (void *) ((char *) in +
			    f->quantifier_offset) = f->id;
		}
	}

	/* The end user's token: the Authorization header, else (on routes
	 * that take one) the access cookie a browser sends. */
	const char *authz = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    "Authorization");
	if (authz == NULL && (rt->flags & ROUTE_AUTH)) {
		const char *ac = MHD_lookup_connection_value(conn,
		    MHD_COOKIE_KIND, e->cookie_access);
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
	if (from_cookie && unsafe_method(method)) {
		if (r->origin == NULL || !r->origin_ok) {
			core_arena_free(a);
			return problem(conn, r, 403, "Forbidden",
			    "a cookie-authenticated request needs the Origin "
			    "header of an allowed page (or use an "
			    "Authorization header)",
			    NULL);
		}
		if (!edge_is_json_type(MHD_lookup_connection_value(conn,
		        MHD_HEADER_KIND, "Content-Type"))) {
			core_arena_free(a);
			return problem(conn, r, 415, "Unsupported Media Type",
			    "a cookie-authenticated request must be sent as "
			    "application/json",
			    NULL);
		}
	}

	size_t n = protobuf_c_message_get_packed_size(in);
	uint8_t *payload = core_arena_alloc(a, n ? n : 1);
	if (payload == NULL) {
		core_arena_free(a);
		return MHD_NO;
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
	r->conn = conn;
	r->arena = a;
	r->waiting = true;
	atomic_fetch_add(&rpcs_in_flight, 1);
	MHD_suspend_connection(conn);
	int rc = core_rpc_call_async(e->clients[rt->target], rt->rpc, payload,
	    n, &opts, rpc_done, r);
	if (rc != CORE_OK) {
		/* Not started (most often: no connection to the service at
		 * this moment). The blocking call waits a little for one. */
		core_rpc_call_raw(e->clients[rt->target], rt->rpc, payload, n,
		    &opts, a, &r->reply);
		r->waiting = false;
		atomic_fetch_sub(&rpcs_in_flight, 1);
		MHD_resume_connection(conn);
	}
	return MHD_YES;
}

/* Answers the HTTP request from the RPC's reply (r->reply, in r->arena). */
static enum MHD_Result
finish_rpc(edge *e, struct MHD_Connection *conn, request *r)
{
	const edge_route *rt = r->route;
	core_arena *a = r->arena;
	core_rpc_reply reply = r->reply;
	core_status st = reply.code;
	enum MHD_Result ret;
	if (st != CORE_OK) {
		if (e->metrics) {
			edge_metrics_rpc_error(rt->target, st);
		}
		unsigned hs = edge_http_status(st);
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
		ret = problem_with(conn, r, hs, edge_http_title(hs),
		    reply.message, extra, reply.retry_after_s);
		return ret;
	}
	ProtobufCMessage *out = protobuf_c_message_unpack(rt->out,
	    core_arena_allocator(a), reply.payload_len, reply.payload);
	if (out == NULL) {
		return problem(conn, r, 502, "Bad Gateway",
		    "the service sent an unreadable answer", NULL);
	}
	char *body = NULL;
	const char *type = "application/json";
	char etag[40] = "";
	if (rt->flags & ROUTE_JWKS) {
		body = strdup(get_string(out, "json"));
		type = "application/jwk-set+json";
	} else {
		body = core_pb_to_json(out, 0, NULL);
	}
	if (rt->flags & ROUTE_ETAG) {
		ProtobufCMessage **pp = field_ptr(out, "profile",
		    PROTOBUF_C_TYPE_MESSAGE);
		int64_t *vp = pp != NULL && *pp != NULL
		    ? field_ptr(*pp, "version", PROTOBUF_C_TYPE_INT64)
		    : NULL;
		if (vp != NULL) {
			snprintf(etag, sizeof(etag), "\"v%lld\"",
			    (long long) *vp);
		}
	}
	struct MHD_Response *resp = body != NULL
	    ? MHD_create_response_from_buffer(strlen(body), body,
	          MHD_RESPMEM_MUST_FREE)
	    : NULL;
	if (resp == NULL) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", type);
	if (rt->flags & ROUTE_JWKS) {
		MHD_add_response_header(resp, "Cache-Control",
		    "public, max-age=60");
	}
	if (etag[0] != '\0') {
		MHD_add_response_header(resp, "ETag", etag);
	}
	if (rt->flags & ROUTE_LOCATION) {
		MHD_add_response_header(resp, "Location", "/profile");
	}
	if (rt->flags & ROUTE_SET_COOKIES) {
		token_cookies(e, resp, out);
	}
	if (rt->flags & ROUTE_CLEAR_COOKIES) {
		token_cookies(e, resp, NULL);
	}
	return send_response(conn, r, rt->success, resp, false);
}

static enum MHD_Result
empty(struct MHD_Connection *conn, request *r, unsigned status,
    const char *allow)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL,
	    MHD_RESPMEM_PERSISTENT);
	if (resp == NULL) {
		return MHD_NO;
	}
	if (allow != NULL) {
		MHD_add_response_header(resp, "Allow", allow);
	}
	return send_response(conn, r, status, resp, false);
}

static enum MHD_Result
method_not_allowed(struct MHD_Connection *conn, request *r, const char *allow)
{
	json_t *extra = json_pack("{s:s}", "allow", allow);
	return problem_with(conn, r, 405, "Method Not Allowed",
	    "this method is not allowed here", extra, 0);
}

/* A CORS preflight (or a plain OPTIONS). */
static enum MHD_Result
preflight(struct MHD_Connection *conn, request *r, const char *allow)
{
	if (r->origin == NULL) {
		return empty(conn, r, 204, allow);
	}
	if (!r->cors) {
		return problem(conn, r, 403, "Forbidden",
		    "this origin may not call the API cross-origin", NULL);
	}
	struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL,
	    MHD_RESPMEM_PERSISTENT);
	if (resp == NULL) {
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Allow", allow);
	MHD_add_response_header(resp, "Access-Control-Allow-Methods", allow);
	MHD_add_response_header(resp, "Access-Control-Allow-Headers",
	    "Authorization, Content-Type, If-Match, X-Request-Id");
	MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
	return send_response(conn, r, 204, resp, false);
}

static enum MHD_Result
serve_static(struct MHD_Connection *conn, request *r, const edge_file *f)
{
	const char *inm = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    "If-None-Match");
	bool fresh = inm != NULL && edge_static_etag_match(inm, f->etag);
	struct MHD_Response *resp = fresh
	    ? MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT)
	    : MHD_create_response_from_buffer(f->len, f->data,
	          MHD_RESPMEM_PERSISTENT);
	if (resp == NULL) {
		return MHD_NO;
	}
	if (!fresh) {
		MHD_add_response_header(resp, "Content-Type", f->type);
	}
	MHD_add_response_header(resp, "ETag", f->etag);
	MHD_add_response_header(resp, "Cache-Control", "no-cache");
	return send_response(conn, r, fresh ? 304 : 200, resp, f->page);
}

static enum MHD_Result
serve_metrics(struct MHD_Connection *conn, request *r)
{
	char *text = edge_metrics_render();
	if (text == NULL) {
		return MHD_NO;
	}
	struct MHD_Response *resp = MHD_create_response_from_buffer(
	    strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type",
	    "text/plain; version=0.0.4; charset=utf-8");
	return send_response(conn, r, 200, resp, false);
}

/* The first call for a request: headers only. Decides what it can. */
static request *
request_start(edge *e, struct MHD_Connection *conn, const char *url,
    const char *method)
{
	request *r = calloc(1, sizeof(*r));
	if (r == NULL) {
		return NULL;
	}
	r->start_us = now_us();
	r->label = edge_metrics_extra(METRIC_UNMATCHED);
	const char *rid = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    "X-Request-Id");
	if (rid != NULL && core_rpc_request_id_valid(rid)) {
		snprintf(r->rid, sizeof(r->rid), "%s", rid);
	} else {
		core_rpc_new_request_id(r->rid);
	}
	r->origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    "Origin");
	if (r->origin != NULL) {
		r->cors = edge_origin_listed(&e->cors, r->origin);
		r->origin_ok = r->cors ||
		    edge_origin_same_host(r->origin,
		        MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		            "Host"));
	}
	bool known = false;
	r->route = edge_route_find(method, url, r->id, sizeof(r->id), &known,
	    r->allow, sizeof(r->allow));
	if (r->route != NULL) {
		r->label = edge_metrics_route(r->route->index);
		/* No body at all is {}; a body must be JSON. */
		const char *ct = MHD_lookup_connection_value(conn,
		    MHD_HEADER_KIND, "Content-Type");
		const char *cl = MHD_lookup_connection_value(conn,
		    MHD_HEADER_KIND, "Content-Length");
		bool body = (cl != NULL && strcmp(cl, "0") != 0) ||
		    MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		        "Transfer-Encoding") != NULL;
		if ((r->route->flags & ROUTE_BODY) &&
		    (ct != NULL || body) && !edge_is_json_type(ct)) {
			r->early = 415;
		}
	} else if (known) {
		r->early = 405;
	}
	return r;
}

static enum MHD_Result
handle(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_size, void **con_cls)
{
	edge *e = cls;
	(void) version;
	request *r = *con_cls;

	if (r == NULL) {
		*con_cls = r = request_start(e, conn, url, method);
		return r != NULL ? MHD_YES : MHD_NO;
	}
	if (*upload_size != 0) {
		/* Bodies are bounded; past the limit the rest is discarded and
		 * the answer is 413. */
		if (!r->too_large && r->early == 0 && r->route != NULL &&
		    (r->route->flags & ROUTE_BODY)) {
			if (r->len + *upload_size > e->max_body) {
				r->too_large = true;
				free(r->body);
				r->body = NULL;
				r->len = 0;
			} else {
				char *nb = realloc(r->body, r->len + *upload_size + 1);
				if (nb == NULL) {
					return MHD_NO;
				}
				memcpy(nb + r->len, upload_data, *upload_size);
				r->len += *upload_size;
				nb[r->len] = '\0';
				r->body = nb;
			}
		}
		*upload_size = 0;
		return MHD_YES;
	}

	if (r->arena != NULL) {
		/* Resumed: the RPC has completed. */
		return finish_rpc(e, conn, r);
	}
	bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	bool options = strcmp(method, "OPTIONS") == 0;
	const edge_file *file = NULL;
	unsigned fixed = METRIC_N_EXTRA; /* a fixed resource of the edge */
	if (strcmp(url, "/healthz") == 0) {
		fixed = METRIC_HEALTHZ;
	} else if (strcmp(url, "/readyz") == 0) {
		fixed = METRIC_READYZ;
	} else if (strcmp(url, "/metrics") == 0 && e->metrics) {
		fixed = METRIC_METRICS;
	} else if (r->route == NULL && r->early != 405) {
		file = edge_static_find(url);
		if (file != NULL) {
			fixed = METRIC_STATIC;
		}
	}
	if (options) {
		r->label = edge_metrics_extra(METRIC_PREFLIGHT);
		if (fixed != METRIC_N_EXTRA) {
			return preflight(conn, r, "GET, HEAD");
		}
		if (r->early == 405) {
			return preflight(conn, r, r->allow);
		}
		if (strcmp(url, "/") == 0) {
			return preflight(conn, r, "GET, HEAD");
		}
		return problem(conn, r, MHD_HTTP_NOT_FOUND, "Not Found",
		    "no such resource", NULL);
	}
	if (fixed != METRIC_N_EXTRA) {
		r->label = edge_metrics_extra(fixed);
		if (!get) {
			return method_not_allowed(conn, r, "GET, HEAD");
		}
		switch (fixed) {
		case METRIC_HEALTHZ:
			return reply(conn, r, MHD_HTTP_OK, "application/json",
			    "{\"status\":\"ok\"}");
		case METRIC_READYZ:
			return readyz(e, conn, r);
		case METRIC_METRICS:
			return serve_metrics(conn, r);
		default:
			return serve_static(conn, r, file);
		}
	}
	if (r->early == 405) {
		return method_not_allowed(conn, r, r->allow);
	}
	/* A browser page of another origin may not make writes here at all
	 * (its own requests carry its Origin); clients without an Origin
	 * (curl, services) are not browsers and are not affected. */
	if (unsafe_method(method) && r->origin != NULL && !r->origin_ok) {
		return problem(conn, r, 403, "Forbidden",
		    "requests from this origin are not allowed", NULL);
	}
	if (r->early == 415) {
		return problem(conn, r, 415, "Unsupported Media Type",
		    "send the body as application/json", NULL);
	}
	if (r->too_large) {
		return problem(conn, r, 413, "Content Too Large",
		    "the body is larger than the limit", NULL);
	}
	if (r->route != NULL) {
		return serve_rpc(e, conn, r, method);
	}
	if (strcmp(url, "/") == 0 && get) {
		/* No web frontend loaded: say what is here. */
		return reply(conn, r, MHD_HTTP_OK, "application/json",
		    "{\"service\":\"microcore edge\",\"endpoints\":"
		    "[\"/healthz\",\"/readyz\",\"/metrics\",\"/register\","
		    "\"/login\",\"/refresh\",\"/logout\",\"/profile\","
		    "\"/sessions\",\"/.well-known/jwks.json\"]}");
	}
	return problem(conn, r, MHD_HTTP_NOT_FOUND, "Not Found",
	    "no such resource", NULL);
}

static size_t
unescape(void *cls, struct MHD_Connection *conn, char *s)
{
	(void) cls;
	(void) conn;
	return edge_unescape(s);
}

static int
parse_listen(const char *s, char *host, size_t hostlen, unsigned *port)
{
	const char *colon = strrchr(s, ':');
	if (colon == NULL || (size_t) (colon - s) >= hostlen) {
		return -1;
	}
	char *end;
	long p = strtol(colon + 1, &end, 10);
	if (*end != '\0' || p < 1 || p > 65535) {
		return -1;
	}
	memcpy(host, s, (size_t) (colon - s));
	host[colon - s] = '\0';
	*port = (unsigned) p;
	return 0;
}

int
main(void)
{
	const char *listen = NULL, *log_level = NULL, *dial[N_TARGETS] = {0};
	const char *www = NULL, *cors = NULL;
	long threads = 0, rpc_timeout = 0, conn_timeout = 0, max_conns = 0,
	     per_ip = 0, max_body = 0, max_header = 0;
	bool cookie_secure = true, metrics = true;
	const core_config_item items[] = {
	    {"LOG_LEVEL", "info", CORE_CONFIG_STR, 0, 0, false,
	        "debug, info, warn or error", &log_level},
	    {"EDGE_LISTEN", "127.0.0.1:8080", CORE_CONFIG_STR, 0, 0, false,
	        "HTTP listen address (IPv4 host:port)", &listen},
	    {"EDGE_THREADS", "4", CORE_CONFIG_INT, 1, 256, false,
	        "HTTP worker threads", &threads},
	    {"EDGE_MAX_CONNECTIONS", "1024", CORE_CONFIG_INT, 1, 65536, false,
	        "open connections at most", &max_conns},
	    {"EDGE_MAX_CONNECTIONS_PER_IP", "64", CORE_CONFIG_INT, 1, 65536,
	        false, "open connections per client IP", &per_ip},
	    {"EDGE_CONNECTION_TIMEOUT_S", "15", CORE_CONFIG_INT, 1, 3600, false,
	        "idle or slow connections are closed after this", &conn_timeout},
	    {"EDGE_MAX_BODY_BYTES", "65536", CORE_CONFIG_INT, 1024, 1048576,
	        false, "largest request body (413 past it)", &max_body},
	    {"EDGE_MAX_HEADER_BYTES", "16384", CORE_CONFIG_INT, 4096, 1048576,
	        false, "request line and headers at most (431 past it)",
	        &max_header},
	    {"EDGE_RPC_TIMEOUT_MS", "3000", CORE_CONFIG_INT, 10, 600000, false,
	        "deadline of each RPC", &rpc_timeout},
	    {"EDGE_WWW_DIR", EDGE_WWW_DEFAULT, CORE_CONFIG_STR, 0, 0, false,
	        "the web frontend's files (none: API only)", &www},
	    {"EDGE_COOKIE_SECURE", "true", CORE_CONFIG_BOOL, 0, 0, false,
	        "token cookies are __Host- and Secure (false only for plain "
	        "http on localhost in development)",
	        &cookie_secure},
	    {"EDGE_CORS_ORIGINS", "", CORE_CONFIG_STR, 0, 0, false,
	        "origins allowed to call cross-origin with credentials "
	        "(comma-separated)",
	        &cors},
	    {"EDGE_METRICS", "true", CORE_CONFIG_BOOL, 0, 0, false,
	        "serve GET /metrics", &metrics},
	    {"AUTH_RPC_DIAL", "tcp://127.0.0.1:7101", CORE_CONFIG_STR, 0, 0,
	        false, "auth service URLs", &dial[0]},
	    {"USER_RPC_DIAL", "tcp://127.0.0.1:7102", CORE_CONFIG_STR, 0, 0,
	        false, "user service URLs", &dial[1]},
	    {"ADMIN_RPC_DIAL", "tcp://127.0.0.1:7103", CORE_CONFIG_STR, 0, 0,
	        false, "admin service URLs", &dial[2]},
	};
	char err[256];
	core_rpc_block_signals();
	core_log_init("edge", CORE_LOG_INFO, true);
	if (core_config_load(items, sizeof(items) / sizeof(items[0]), err,
	        sizeof(err)) != 0) {
		core_log_error("bad configuration: %s", err);
		return 2;
	}
	core_log_level level;
	if (core_log_level_parse(log_level, &level) != 0) {
		core_log_error("bad configuration: LOG_LEVEL");
		return 2;
	}
	core_log_init("edge", level, true);
	core_config_log(items, sizeof(items) / sizeof(items[0]));

	char host[64];
	unsigned port;
	struct sockaddr_in addr = {.sin_family = AF_INET};
	if (parse_listen(listen, host, sizeof(host), &port) != 0 ||
	    inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
		core_log_error("bad configuration: EDGE_LISTEN must be "
		               "IPv4:port, got \"%s\"",
		    listen);
		return 2;
	}
	addr.sin_port = htons((uint16_t) port);

	edge e = {
	    .rpc_timeout_ms = rpc_timeout,
	    .max_body = (size_t) max_body,
	    .cookie_secure = cookie_secure,
	    .cookie_access = cookie_secure ? "__Host-access" : "access",
	    .cookie_refresh = cookie_secure ? "__Host-refresh" : "refresh",
	    .metrics = metrics,
	};
	if (edge_origins_parse(&e.cors, cors, err, sizeof(err)) != 0) {
		core_log_error("bad configuration: EDGE_CORS_ORIGINS: %s", err);
		return 2;
	}
	if (edge_routes_init() != 0 ||
	    edge_metrics_init(edge_route_count(), edge_route_name) != 0) {
		return 1;
	}
	int n_files = edge_static_load(strcmp(www, "none") == 0 ? "" : www);
	if (n_files < 0) {
		edge_metrics_free();
		return 1;
	}
	int status = 1;
	for (int i = 0; i < N_TARGETS; i++) {
		char buf[1024];
		const char *urls[MAX_URLS];
		int n = core_config_split(dial[i], buf, sizeof(buf), urls,
		    MAX_URLS);
		core_rpc_client_config cfg = {
		    .name = target_names[i],
		    .urls = urls,
		    .n_urls = n > 0 ? (size_t) n : 0,
		    .default_timeout_ms = (int) rpc_timeout,
		};
		if (n <= 0 || core_rpc_client_new(&cfg, &e.clients[i]) != 0) {
			core_log_error("bad configuration: cannot dial the %s "
			               "service at \"%s\"",
			    target_names[i], dial[i]);
			goto done;
		}
	}

	struct MHD_Daemon *d = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
	        MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG,
	    (uint16_t) port, NULL, NULL, handle, &e, MHD_OPTION_SOCK_ADDR,
	    (struct sockaddr *) &addr, MHD_OPTION_THREAD_POOL_SIZE,
	    (unsigned) threads, MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned) max_conns, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
	    (unsigned) per_ip, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned) conn_timeout, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	    (size_t) max_header, MHD_OPTION_NOTIFY_COMPLETED, request_done, &e,
	    MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
	    MHD_OPTION_END);
	if (d == NULL) {
		core_log_error("cannot listen on %s", listen);
		goto done;
	}
	char nf[16];
	snprintf(nf, sizeof(nf), "%d", n_files);
	core_log_kv(CORE_LOG_INFO, "listening", "url", listen, "web_files", nf,
	    NULL);
	int sig = core_rpc_wait_signal();
	core_log_info("signal %d: stopping", sig);
	/* Stop accepting; let the RPCs in flight complete (each within its
	 * deadline) so that no completion resumes a connection of a stopped
	 * daemon; then let handlers finish and join the threads. */
	MHD_quiesce_daemon(d);
	for (long waited = 0; atomic_load(&rpcs_in_flight) > 0 &&
	     waited < rpc_timeout + 2000;
	     waited += 10) {
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	MHD_stop_daemon(d);
	status = 0;
done:
	for (int i = 0; i < N_TARGETS; i++) {
		core_rpc_client_free(e.clients[i]);
	}
	edge_static_free();
	edge_metrics_free();
	core_log_info("stopped");
	return status;
}
