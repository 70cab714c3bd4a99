/* edge: the HTTP front door. libmicrohttpd (thread pool + epoll) turning
 * REST/JSON into RPCs to the internal services.
 *
 * Serves GET /healthz (the process is up), GET /readyz (every service
 * answers core.v1.Health SERVING; 503 naming what is not), and the REST
 * routes of routes.c, each translated to one RPC. Errors are RFC 9457
 * problem+json. Handlers block on their RPC: the thread pool is sized for
 * that (EDGE_THREADS). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <microhttpd.h>

#include "core/v1/health.pb-c.h"

#include "core/config.h"
#include "core/json.h"
#include "core/log.h"
#include "core/registry.h"
#include "core/rpc.h"
#include "routes.h"

#define MAX_URLS 8
#define N_TARGETS 3

static const char *const target_names[N_TARGETS] = {"auth", "user", "admin"};

typedef struct edge {
	core_rpc_client *clients[N_TARGETS];
	long rpc_timeout_ms;
	size_t max_body;
} edge;

static void
add_security_headers(struct MHD_Response *r)
{
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "Content-Security-Policy",
	    "default-src 'none'; frame-ancestors 'none'");
	MHD_add_response_header(r, "Cache-Control", "no-store");
}

/* Queues body (copied) with status and content type. */
static enum MHD_Result
reply(struct MHD_Connection *conn, unsigned status, const char *type,
    const char *body, const char *request_id)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body),
	    (void *) (uintptr_t) body, MHD_RESPMEM_MUST_COPY);
	if (r == NULL) {
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "X-Request-Id", request_id);
	add_security_headers(r);
	enum MHD_Result ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* An RFC 9457 problem document. extra (may be NULL, consumed) is merged in.
 * 401 carries WWW-Authenticate, 429 Retry-After (retry_after_s), 405 Allow
 * (from extra's "allow"). */
static enum MHD_Result
problem_with(struct MHD_Connection *conn, unsigned status, const char *title,
    const char *detail, const char *request_id, json_t *extra,
    unsigned retry_after_s)
{
	json_t *p = json_pack("{s:s, s:s, s:i, s:s, s:s}", "type",
	    "about:blank", "title", title, "status", (int) status, "detail",
	    detail, "request_id", request_id);
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
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text),
	    text, MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "application/problem+json");
	MHD_add_response_header(r, "X-Request-Id", request_id);
	add_security_headers(r);
	if (status == 401) {
		MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
	}
	if (retry_after_s > 0) {
		char ra[16];
		snprintf(ra, sizeof(ra), "%u", retry_after_s);
		MHD_add_response_header(r, "Retry-After", ra);
	}
	if (allow[0] != '\0') {
		MHD_add_response_header(r, "Allow", allow);
	}
	enum MHD_Result ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
problem(struct MHD_Connection *conn, unsigned status, const char *title,
    const char *detail, const char *request_id, json_t *extra)
{
	return problem_with(conn, status, title, detail, request_id, extra, 0);
}

static enum MHD_Result
readyz(edge *e, struct MHD_Connection *conn, const char *request_id)
{
	json_t *down = json_array();
	json_t *checks = json_object();
	core_arena *a = core_arena_new(0);
	core_md md[] = {{CORE_MD_REQUEST_ID, request_id}};
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
		enum MHD_Result ret = text ? reply(conn, MHD_HTTP_OK,
		                                 "application/json", text,
		                                 request_id)
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
	return problem(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "Service Unavailable",
	    detail, request_id, extra);
}

/* One HTTP request in progress (MHD's per-request pointer). */
typedef struct request {
	const edge_route *route;
	char id[64];       /* {id} of the path */
	char rid[65];      /* request id */
	char *body;
	size_t len;
	bool too_large;
	unsigned early;    /* a status decided before the body (404/405/415) */
	char allow[64];
} request;

static void
request_done(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	(void) cls;
	(void) conn;
	(void) toe;
	request *r = *con_cls;
	if (r != NULL) {
		free(r->body);
		free(r);
		*con_cls = NULL;
	}
}

/* Sets string field name of m (if it has one) to a copy of v. */
static void
set_string(ProtobufCMessage *m, const char *name, const char *v,
    core_arena *a)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
	if (f == NULL || f->type != PROTOBUF_C_TYPE_STRING ||
	    f->label == PROTOBUF_C_LABEL_REPEATED) {
		return;
	}
	char *copy = core_arena_strdup(a, v);
	if (copy != NULL) {
		*(char **) (void *) ((char *) m + f->offset) = copy;
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

/* Builds the RPC request from the HTTP request, calls, and answers. */
static enum MHD_Result
serve_rpc(edge *e, struct MHD_Connection *conn, request *r)
{
	const edge_route *rt = r->route;
	core_arena *a = core_arena_new(0);
	core_json_error jerr;
	ProtobufCMessage *in = NULL;
	enum MHD_Result ret;
	const char *text = r->body != NULL ? r->body : "{}";
	size_t len = r->body != NULL ? r->len : 2;

	if (a == NULL) {
		return MHD_NO;
	}
	if (r->body == NULL && (rt->flags & ROUTE_BODY)) {
		text = "{}";
		len = 2;
	}
	if (core_json_to_pb(rt->in, text, len, NULL, core_arena_allocator(a),
	        &in, &jerr) != 0) {
		json_t *errs = json_pack("[{s:s, s:s}]", "field", jerr.field,
		    "message", jerr.message);
		char detail[512];
		snprintf(detail, sizeof(detail), "%s%s%s", jerr.field,
		    jerr.field[0] ? ": " : "", jerr.message);
		ret = problem(conn, 400, "Bad Request", detail, r->rid,
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
		char ip[64];
		client_ip(conn, ip, sizeof(ip));
		set_string(in, "client_ip", ip, a);
		const char *ua = MHD_lookup_connection_value(conn,
		    MHD_HEADER_KIND, "User-Agent");
		char uab[256];
		snprintf(uab, sizeof(uab), "%s", ua ? ua : "");
		set_string(in, "user_agent", uab, a);
	}
	if (rt->flags & ROUTE_IF_MATCH) {
		const char *im = MHD_lookup_connection_value(conn,
		    MHD_HEADER_KIND, "If-Match");
		long long v;
		if (im != NULL && parse_if_match(im, &v) != 0) {
			core_arena_free(a);
			return problem(conn, 400, "Bad Request",
			    "If-Match must be an ETag of this API, e.g. \"v3\"",
			    r->rid, NULL);
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
	size_t n = protobuf_c_message_get_packed_size(in);
	uint8_t *payload = core_arena_alloc(a, n);
	if (payload == NULL) {
		core_arena_free(a);
		return MHD_NO;
	}
	protobuf_c_message_pack(in, payload);

	core_md md[2];
	size_t nmd = 0;
	md[nmd++] = (core_md) {CORE_MD_REQUEST_ID, r->rid};
	const char *authz = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    "Authorization");
	if (authz != NULL) {
		md[nmd++] = (core_md) {CORE_MD_AUTHORIZATION, authz};
	}
	core_rpc_opts opts = {
	    .timeout_ms = (int) e->rpc_timeout_ms, .md = md, .n_md = nmd};
	core_rpc_reply reply;
	core_status st = core_rpc_call_raw(e->clients[rt->target], rt->rpc,
	    payload, n, &opts, a, &reply);
	if (st != CORE_OK) {
		unsigned hs = edge_http_status(st);
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
		ret = problem_with(conn, hs, edge_http_title(hs), reply.message,
		    r->rid, extra, reply.retry_after_s);
		core_arena_free(a);
		return ret;
	}
	ProtobufCMessage *out = protobuf_c_message_unpack(rt->out,
	    core_arena_allocator(a), reply.payload_len, reply.payload);
	if (out == NULL) {
		core_arena_free(a);
		return problem(conn, 502, "Bad Gateway",
		    "the service sent an unreadable answer", r->rid, NULL);
	}
	char *body = NULL;
	const char *type = "application/json";
	char etag[40] = "";
	if (rt->flags & ROUTE_JWKS) {
		const ProtobufCFieldDescriptor *f =
		    protobuf_c_message_descriptor_get_field_by_name(rt->out,
		        "json");
		body = strdup(*(char **) (void *) ((char *) out + f->offset));
		type = "application/jwk-set+json";
	} else {
		body = core_pb_to_json(out, 0, NULL);
	}
	if (rt->flags & ROUTE_ETAG) {
		const ProtobufCFieldDescriptor *f =
		    protobuf_c_message_descriptor_get_field_by_name(rt->out,
		        "profile");
		const ProtobufCMessage *p = f ? *(ProtobufCMessage **) (void *) (
		                                    (char *) out + f->offset)
		                              : NULL;
		const ProtobufCFieldDescriptor *vf = p
		    ? protobuf_c_message_descriptor_get_field_by_name(
		          p->descriptor, "version")
		    : NULL;
		if (vf != NULL) {
			snprintf(etag, sizeof(etag), "\"v%lld\"",
			    (long long) *(const int64_t *) (const void *) (
			        (const char *) p + vf->offset));
		}
	}
	core_arena_free(a);
	if (body == NULL) {
		return MHD_NO;
	}
	struct MHD_Response *resp = MHD_create_response_from_buffer(
	    strlen(body), body, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", type);
	MHD_add_response_header(resp, "X-Request-Id", r->rid);
	add_security_headers(resp);
	if (rt->flags & ROUTE_JWKS) {
		MHD_del_response_header(resp, "Cache-Control", "no-store");
		MHD_add_response_header(resp, "Cache-Control",
		    "public, max-age=60");
	}
	if (etag[0] != '\0') {
		MHD_add_response_header(resp, "ETag", etag);
	}
	if (rt->flags & ROUTE_LOCATION) {
		MHD_add_response_header(resp, "Location", "/profile");
	}
	ret = MHD_queue_response(conn, rt->success, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result
handle(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_size, void **con_cls)
{
	edge *e = cls;
	(void) version;
	request *r = *con_cls;

	/* First call per request: headers only. Decide what we can now. */
	if (r == NULL) {
		if ((r = calloc(1, sizeof(*r))) == NULL) {
			return MHD_NO;
		}
		*con_cls = r;
		const char *rid = MHD_lookup_connection_value(conn,
		    MHD_HEADER_KIND, "X-Request-Id");
		if (rid != NULL && core_rpc_request_id_valid(rid)) {
			snprintf(r->rid, sizeof(r->rid), "%s", rid);
		} else {
			core_rpc_new_request_id(r->rid);
		}
		bool known = false;
		r->route = edge_route_find(method, url, r->id, sizeof(r->id),
		    &known, r->allow, sizeof(r->allow));
		if (r->route == NULL && known) {
			r->early = 405;
		} else if (r->route != NULL && (r->route->flags & ROUTE_BODY)) {
			const char *ct = MHD_lookup_connection_value(conn,
			    MHD_HEADER_KIND, "Content-Type");
			if (ct == NULL ||
			    strncasecmp(ct, "application/json", 16) != 0 ||
			    (ct[16] != '\0' && ct[16] != ';')) {
				r->early = 415;
			}
		}
		return MHD_YES;
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

	bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	if (strcmp(url, "/healthz") == 0 || strcmp(url, "/readyz") == 0) {
		if (!get) {
			struct MHD_Response *resp =
			    MHD_create_response_from_buffer(0, NULL,
			        MHD_RESPMEM_PERSISTENT);
			MHD_add_response_header(resp, "Allow", "GET, HEAD");
			add_security_headers(resp);
			enum MHD_Result ret = MHD_queue_response(conn,
			    MHD_HTTP_METHOD_NOT_ALLOWED, resp);
			MHD_destroy_response(resp);
			return ret;
		}
		if (url[1] == 'h') {
			return reply(conn, MHD_HTTP_OK, "application/json",
			    "{\"status\":\"ok\"}", r->rid);
		}
		return readyz(e, conn, r->rid);
	}
	if (r->early == 405) {
		json_t *extra = json_pack("{s:s}", "allow", r->allow);
		return problem_with(conn, 405, "Method Not Allowed",
		    "this method is not allowed here", r->rid, extra, 0);
	}
	if (r->early == 415) {
		return problem(conn, 415, "Unsupported Media Type",
		    "send the body as application/json", r->rid, NULL);
	}
	if (r->too_large) {
		return problem(conn, 413, "Content Too Large",
		    "the body is larger than the limit", r->rid, NULL);
	}
	if (r->route != NULL) {
		return serve_rpc(e, conn, r);
	}
	if (strcmp(url, "/") == 0 && get) {
		/* Until the web frontend is served here, say what is. */
		return reply(conn, MHD_HTTP_OK, "application/json",
		    "{\"service\":\"microcore edge\",\"endpoints\":"
		    "[\"/healthz\",\"/readyz\",\"/register\",\"/login\","
		    "\"/refresh\",\"/logout\",\"/profile\",\"/sessions\","
		    "\"/.well-known/jwks.json\"]}",
		    r->rid);
	}
	return problem(conn, MHD_HTTP_NOT_FOUND, "Not Found",
	    "no such resource", r->rid, NULL);
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
	long threads = 0, rpc_timeout = 0, conn_timeout = 0, max_conns = 0,
	     per_ip = 0, max_body = 0;
	const core_config_item items[] = {
	    {"LOG_LEVEL", "info", CORE_CONFIG_STR, 0, 0, false,
	        "debug, info, warn or error", &log_level},
	    {"EDGE_LISTEN", "127.0.0.1:8080", CORE_CONFIG_STR, 0, 0, false,
	        "HTTP listen address (IPv4 host:port)", &listen},
	    {"EDGE_THREADS", "16", CORE_CONFIG_INT, 1, 256, false,
	        "HTTP worker threads", &threads},
	    {"EDGE_MAX_CONNECTIONS", "1024", CORE_CONFIG_INT, 1, 65536, false,
	        "open connections at most", &max_conns},
	    {"EDGE_MAX_CONNECTIONS_PER_IP", "64", CORE_CONFIG_INT, 1, 65536,
	        false, "open connections per client IP", &per_ip},
	    {"EDGE_CONNECTION_TIMEOUT_S", "15", CORE_CONFIG_INT, 1, 3600, false,
	        "idle or slow connections are closed after this", &conn_timeout},
	    {"EDGE_MAX_BODY_BYTES", "65536", CORE_CONFIG_INT, 1024, 1048576,
	        false, "largest request body (413 past it)", &max_body},
	    {"EDGE_RPC_TIMEOUT_MS", "3000", CORE_CONFIG_INT, 10, 600000, false,
	        "deadline of each RPC", &rpc_timeout},
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

	edge e = {.rpc_timeout_ms = rpc_timeout, .max_body = (size_t) max_body};
	if (edge_routes_init() != 0) {
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
	        MHD_USE_ERROR_LOG,
	    (uint16_t) port, NULL, NULL, handle, &e, MHD_OPTION_SOCK_ADDR,
	    (struct sockaddr *) &addr, MHD_OPTION_THREAD_POOL_SIZE,
	    (unsigned) threads, MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned) max_conns, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
	    (unsigned) per_ip, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned) conn_timeout, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	    (size_t) 64 * 1024, MHD_OPTION_NOTIFY_COMPLETED, request_done, NULL,
	    MHD_OPTION_END);
	if (d == NULL) {
		core_log_error("cannot listen on %s", listen);
		goto done;
	}
	core_log_kv(CORE_LOG_INFO, "listening", "url", listen, NULL);
	int sig = core_rpc_wait_signal();
	core_log_info("signal %d: stopping", sig);
	/* Stops accepting, lets handlers in progress finish, joins threads. */
	MHD_stop_daemon(d);
	status = 0;
done:
	for (int i = 0; i < N_TARGETS; i++) {
		core_rpc_client_free(e.clients[i]);
	}
	core_log_info("stopped");
	return status;
}
