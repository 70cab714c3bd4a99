/* libmicrohttpd (thread pool + epoll) under the edge: the daemon, the
 * access handler that walks a request through its stages, the fixed
 * resources (/healthz, /metrics, /openapi.json, the frontend's files,
 * OPTIONS, the index)
 * and every answer's way out. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <microhttpd.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/utf8.h"
#include "browser.h"
#include "http.h"
#include "metrics.h"
#include "openapi.h"
#include "ready.h"
#include "rest.h"
#include "static.h"

/* The page policy: scripts, styles and API calls from this origin only;
 * avatars may be any https image. */
#define PAGE_CSP                                                              \
	"default-src 'none'; script-src 'self'; style-src 'self'; "           \
	"img-src 'self' https: data:; connect-src 'self'; "                   \
	"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
#define API_CSP "default-src 'none'; frame-ancestors 'none'"

struct edge_http {
	struct MHD_Daemon *daemon;
};

static uint64_t
now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

/* ---- Answers ------------------------------------------------------------ */

/* Every answer leaves through here: request id, security headers, CORS,
 * and the status for the metrics. page: an HTML page (its own CSP). */
static bool
send_response(
    edge_request *r, unsigned status, struct MHD_Response *resp, bool page)
{
	MHD_add_response_header(resp, "X-Request-Id", r->rid);
	MHD_add_response_header(resp, "traceparent", r->traceparent);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	MHD_add_response_header(
	    resp, "Content-Security-Policy", page ? PAGE_CSP : API_CSP);
	if (MHD_get_response_header(resp, "Cache-Control") == NULL) {
		MHD_add_response_header(resp, "Cache-Control", "no-store");
	}
	if (r->cors) {
		MHD_add_response_header(
		    resp, "Access-Control-Allow-Origin", r->origin);
		MHD_add_response_header(
		    resp, "Access-Control-Allow-Credentials", "true");
		MHD_add_response_header(resp, "Access-Control-Expose-Headers",
		    "ETag, Location, Retry-After, WWW-Authenticate, "
		    "X-Request-Id, traceparent");
	}
	if (r->origin != NULL) {
		MHD_add_response_header(resp, "Vary", "Origin");
	}
	r->status = status;
	edge_request_move(r, REQ_DONE);
	enum MHD_Result ret = MHD_queue_response(r->conn, status, resp);
	MHD_destroy_response(resp);
	return ret == MHD_YES;
}

int
edge_answer_header(edge_answer *a, const char *name, const char *value)
{
	if (a->n_headers == EDGE_ANSWER_MAX_HEADERS) {
		core_log_error("answer: no room for the header %s", name);
		return -1;
	}
	a->headers[a->n_headers].name = name;
	a->headers[a->n_headers].value = value;
	a->n_headers++;
	return 0;
}

bool
edge_http_send(edge_request *r, edge_answer *a)
{
	char *body = a->body;
	a->body = NULL;
	struct MHD_Response *resp =
	    body != NULL ? MHD_create_response_from_buffer(
	                       strlen(body), body, MHD_RESPMEM_MUST_FREE)
	                 : MHD_create_response_from_buffer(
	                       0, NULL, MHD_RESPMEM_PERSISTENT);
	if (resp == NULL) {
		free(body);
		return false;
	}
	if (a->type != NULL) {
		MHD_add_response_header(resp, "Content-Type", a->type);
	}
	for (size_t i = 0; i < a->n_headers; i++) {
		MHD_add_response_header(
		    resp, a->headers[i].name, a->headers[i].value);
	}
	return send_response(r, a->status, resp, false);
}

/* Queues text (copied) with status and content type. */
static bool
send_text(edge_request *r, unsigned status, const char *type, const char *text)
{
	edge_answer a = {.status = status, .type = type, .body = strdup(text)};
	return a.body != NULL && edge_http_send(r, &a);
}

/* A problem document; allow (may be NULL) is also the Allow header. */
static bool
problem_allow(edge_request *r, unsigned status, const char *detail,
    json_t *extra, unsigned retry_after_s, const char *allow)
{
	/* JSON holds only UTF-8: a detail quoting something else would
	 * leave the request unanswered. */
	char clean[512];
	if (!core_utf8_valid(detail, strlen(detail))) {
		core_utf8_clean(clean, sizeof(clean), detail);
		detail = clean;
	}
	json_t *p = json_pack("{s:s, s:s, s:i, s:s, s:s}", "type",
	    "about:blank", "title", edge_http_title(status), "status",
	    (int) status, "detail", detail, "request_id", r->rid);
	if (p != NULL && extra != NULL) {
		json_object_update(p, extra);
	}
	edge_answer a = {.status = status,
	    .type = "application/problem+json",
	    .body =
	        p ? json_dumps(p, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL};
	json_decref(p);
	json_decref(extra);
	if (a.body == NULL) {
		return false;
	}
	char ra[16];
	if (status == 401) {
		edge_answer_header(&a, "WWW-Authenticate", "Bearer");
	}
	if (retry_after_s > 0) {
		snprintf(ra, sizeof(ra), "%u", retry_after_s);
		edge_answer_header(&a, "Retry-After", ra);
	}
	if (allow != NULL) {
		edge_answer_header(&a, "Allow", allow);
	}
	return edge_http_send(r, &a);
}

bool
edge_http_problem(edge_request *r, unsigned status, const char *detail,
    json_t *extra, unsigned retry_after_s)
{
	return problem_allow(r, status, detail, extra, retry_after_s, NULL);
}

static bool
method_not_allowed(edge_request *r, const char *allow)
{
	return problem_allow(r, 405, "this method is not allowed here",
	    json_pack("{s:s}", "allow", allow), 0, allow);
}

static bool
not_found(edge_request *r)
{
	return edge_http_problem(r, 404, "no such resource", NULL, 0);
}

/* A CORS preflight (or a plain OPTIONS). */
static bool
preflight(edge_request *r, const char *allow)
{
	edge_answer a = {.status = 204};
	edge_answer_header(&a, "Allow", allow);
	if (r->origin == NULL) {
		return edge_http_send(r, &a);
	}
	if (!r->cors) {
		return edge_http_problem(r, 403,
		    "this origin may not call the API cross-origin", NULL, 0);
	}
	edge_answer_header(&a, "Access-Control-Allow-Methods", allow);
	edge_answer_header(&a, "Access-Control-Allow-Headers",
	    "Authorization, Content-Type, If-Match, Token-Delivery, "
	    "X-Request-Id, traceparent");
	edge_answer_header(&a, "Access-Control-Max-Age", "600");
	return edge_http_send(r, &a);
}

/* ---- Fixed resources ---------------------------------------------------- */

static bool
serve_static(edge_request *r, const edge_file *f)
{
	const char *inm = edge_http_header(r->conn, "If-None-Match");
	bool fresh = inm != NULL && edge_static_etag_match(inm, f->etag);
	struct MHD_Response *resp =
	    fresh ? MHD_create_response_from_buffer(
	                0, NULL, MHD_RESPMEM_PERSISTENT)
	          : MHD_create_response_from_buffer(
	                f->len, f->data, MHD_RESPMEM_PERSISTENT);
	if (resp == NULL) {
		return false;
	}
	if (!fresh) {
		MHD_add_response_header(resp, "Content-Type", f->type);
	}
	MHD_add_response_header(resp, "ETag", f->etag);
	MHD_add_response_header(resp, "Cache-Control", "no-cache");
	return send_response(r, fresh ? 304 : 200, resp, f->page);
}

static bool
serve_metrics(edge_request *r)
{
	edge_answer a = {.status = 200,
	    .type = CORE_METRICS_CONTENT_TYPE,
	    .body = core_metrics_render(NULL)};
	return a.body != NULL && edge_http_send(r, &a);
}

/* Which fixed resource of the edge url names: METRIC_HEALTHZ,
 * METRIC_READYZ, METRIC_METRICS (when enabled), METRIC_OPENAPI,
 * METRIC_STATIC (with *file), or METRIC_N_EXTRA for none. */
static unsigned
fixed_resource(const edge_config *cfg, const edge_request *r, const char *url,
    const edge_file **file)
{
	static const struct {
		const char *url;
		unsigned which;
	} fixed[] = {{"/healthz", METRIC_HEALTHZ}, {"/readyz", METRIC_READYZ},
	    {"/metrics", METRIC_METRICS}, {"/openapi.json", METRIC_OPENAPI}};
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		if (strcmp(url, fixed[i].url) == 0 &&
		    (fixed[i].which != METRIC_METRICS || cfg->metrics)) {
			return fixed[i].which;
		}
	}
	if (r->route == NULL && r->early != 405) {
		*file = edge_static_find(url);
		if (*file != NULL) {
			return METRIC_STATIC;
		}
	}
	return METRIC_N_EXTRA;
}

static bool
serve_fixed(edge_request *r, unsigned fixed, const edge_file *file, bool get)
{
	r->label = edge_metrics_extra(fixed);
	if (!get) {
		return method_not_allowed(r, "GET, HEAD");
	}
	switch (fixed) {
	case METRIC_HEALTHZ:
		return send_text(
		    r, 200, "application/json", "{\"status\":\"ok\"}");
	case METRIC_READYZ:
		return edge_ready_serve(r);
	case METRIC_METRICS:
		return serve_metrics(r);
	case METRIC_OPENAPI:
		return edge_openapi_serve(r);
	default:
		return serve_static(r, file);
	}
}

static bool
serve_options(edge_request *r, const char *url, unsigned fixed)
{
	r->label = edge_metrics_extra(METRIC_PREFLIGHT);
	if (fixed != METRIC_N_EXTRA) {
		return preflight(r, "GET, HEAD");
	}
	if (r->early == 405) {
		return preflight(r, r->allow);
	}
	if (strcmp(url, "/") == 0) {
		return preflight(r, "GET, HEAD");
	}
	return not_found(r);
}

/* ---- The request's stages ----------------------------------------------- */

/* The first call for a request: headers only. Decides what it can. */
static edge_request *
request_start(const edge_config *cfg, struct MHD_Connection *conn,
    const char *url, const char *method)
{
	edge_request *r = edge_request_new();
	if (r == NULL) {
		return NULL;
	}
	r->conn = conn;
	r->unsafe = edge_method_unsafe(method);
	r->start_us = now_us();
	r->label = edge_metrics_extra(METRIC_UNMATCHED);
	const char *rid = edge_http_header(conn, "X-Request-Id");
	if (rid != NULL && core_rpc_request_id_valid(rid)) {
		snprintf(r->rid, sizeof(r->rid), "%s", rid);
	} else {
		core_rpc_new_request_id(r->rid);
	}
	/* A malformed or repeated traceparent starts a new trace. */
	(void) core_trace_start(
	    edge_http_header_once(conn, "traceparent"), &r->trace);
	core_trace_format(&r->trace, r->traceparent);
	r->origin = edge_http_header(conn, "Origin");
	if (r->origin != NULL) {
		r->cors = edge_origin_listed(&cfg->cors, r->origin);
		r->origin_ok = r->cors || edge_origin_same_host(r->origin,
		                              edge_http_header(conn, "Host"));
	}
	/* A body declared larger than the limit is refused now, before the
	 * client sends it (libmicrohttpd has checked that it is a number). */
	const char *declared = edge_http_header(conn, "Content-Length");
	r->too_large =
	    declared != NULL &&
	    edge_body_declared_too_large(declared, (size_t) cfg->max_body);
	bool known = false;
	r->route = edge_route_find(method, url, r->id, sizeof(r->id), &known,
	    r->allow, sizeof(r->allow));
	if (r->route != NULL) {
		r->label = edge_metrics_route(r->route->index);
		/* No body at all is {}; a body must be JSON. */
		const char *ct = edge_http_header(conn, "Content-Type");
		const char *cl = edge_http_header(conn, "Content-Length");
		bool body =
		    (cl != NULL && strcmp(cl, "0") != 0) ||
		    edge_http_header(conn, "Transfer-Encoding") != NULL;
		if ((r->route->flags & ROUTE_BODY) && (ct != NULL || body) &&
		    !edge_is_json_type(ct)) {
			r->early = 415;
		}
	} else if (known) {
		r->early = 405;
	}
	return r;
}

#define TOO_LARGE "the body is larger than the limit"

/* 413 for a body declared too large, before it is read. */
static bool
too_large(edge_request *r)
{
	return edge_http_problem(r, 413, TOO_LARGE, NULL, 0);
}

/* 413 for a body that passes the limit as it arrives (chunked, so no size
 * was declared). libmicrohttpd 0.9.75 takes a response only before the
 * body or after all of it, and reading all of an unbounded body is what
 * the limit is there to prevent; so the answer is written to the socket
 * here and false closes the connection: libmicrohttpd writes nothing more
 * on it. The request id is of [A-Za-z0-9._-] only. */
static bool
too_large_midway(edge_request *r)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
	    r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	char body[256], msg[768];
	int bl = snprintf(body, sizeof(body),
	    "{\"type\":\"about:blank\",\"title\":\"%s\",\"status\":413,"
	    "\"detail\":\"" TOO_LARGE "\",\"request_id\":\"%s\"}",
	    edge_http_title(413), r->rid);
	int n = snprintf(msg, sizeof(msg),
	    "HTTP/1.1 413 %s\r\nContent-Type: application/problem+json\r\n"
	    "Content-Length: %d\r\nConnection: close\r\nX-Request-Id: %s\r\n"
	    "traceparent: %s\r\nX-Content-Type-Options: nosniff\r\n"
	    "Cache-Control: no-store\r\n\r\n%s",
	    edge_http_title(413), bl, r->rid, r->traceparent, body);
	if (ci != NULL && n > 0 && (size_t) n < sizeof(msg) &&
	    send(ci->connect_fd, msg, (size_t) n, MSG_NOSIGNAL) != n) {
		core_log_warn("request %s: 413 not written whole", r->rid);
	}
	r->status = 413;
	edge_request_move(r, REQ_DONE);
	return false;
}

/* A chunk of the body. Bodies are bounded, whatever the route: the chunk
 * that passes the limit is answered 413 at once and the connection closed
 * instead of reading the rest. Only ROUTE_BODY routes keep theirs. */
static bool
read_body(
    const edge_config *cfg, edge_request *r, const char *data, size_t *size)
{
	if (r->state == REQ_NEW) {
		edge_request_move(r, REQ_READING_BODY);
	}
	size_t n = *size;
	*size = 0;
	r->received += n;
	if (r->received > (size_t) cfg->max_body) {
		edge_request_body_drop(r);
		return too_large_midway(r);
	}
	if (r->early == 0 && r->route != NULL &&
	    (r->route->flags & ROUTE_BODY)) {
		return edge_request_body_append(r, data, n);
	}
	return true;
}

/* The whole request is in: answer it, or start its RPC. */
static bool
dispatch(const edge_config *cfg, edge_request *r, const char *url,
    const char *method)
{
	bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	const edge_file *file = NULL;
	unsigned fixed = fixed_resource(cfg, r, url, &file);
	if (strcmp(method, "OPTIONS") == 0) {
		return serve_options(r, url, fixed);
	}
	if (fixed != METRIC_N_EXTRA) {
		return serve_fixed(r, fixed, file, get);
	}
	if (r->early == 405) {
		return method_not_allowed(r, r->allow);
	}
	/* A browser page of another origin may not make writes here at all
	 * (its own requests carry its Origin); clients without an Origin
	 * (curl, services) are not browsers and are not affected. */
	if (r->unsafe && r->origin != NULL && !r->origin_ok) {
		return edge_http_problem(r, 403,
		    "requests from this origin are not allowed", NULL, 0);
	}
	if (r->early == 415) {
		return edge_http_problem(
		    r, 415, "send the body as application/json", NULL, 0);
	}
	if (r->route != NULL) {
		return edge_rest_start(cfg, r);
	}
	if (strcmp(url, "/") == 0 && get) {
		/* No web frontend loaded: where the API is described. */
		return send_text(r, 200, "application/json",
		    "{\"service\":\"microcore edge\",\"openapi\":"
		    "\"/openapi.json\",\"health\":[\"/healthz\",\"/readyz\"]}");
	}
	return not_found(r);
}

/* libmicrohttpd's access handler: called for the headers, for each chunk
 * of the body, once more when the body is complete, and once after a
 * resume. */
static enum MHD_Result
handle(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_size, void **con_cls)
{
	const edge_config *cfg = cls;
	(void) version;
	edge_request *r = *con_cls;
	bool ok;

	core_log_enter(cfg->log); /* libmicrohttpd's threads are the edge's */
	if (r == NULL) {
		*con_cls = r = request_start(cfg, conn, url, method);
		if (r == NULL) {
			return MHD_NO;
		}
		return !r->too_large || too_large(r) ? MHD_YES : MHD_NO;
	}
	/* This thread serves r until we return: its lines are r's. */
	core_log_set_request_id(r->rid);
	core_trace_set(&r->trace);
	switch (r->state) {
	case REQ_NEW:
	case REQ_READING_BODY:
		ok = *upload_size != 0
		         ? read_body(cfg, r, upload_data, upload_size)
		         : dispatch(cfg, r, url, method);
		break;
	case REQ_REPLY_READY:
		/* Resumed: the RPC has completed. */
		ok = edge_rest_finish(r);
		break;
	case REQ_DONE:
		/* Answered before the body was all in (413): what still
		 * comes is dropped. */
		*upload_size = 0;
		ok = true;
		break;
	default:
		/* Suspended (REQ_RPC_PENDING) or answered (REQ_DONE): no
		 * further calls come for those. */
		core_log_error("request %s: called in %s", r->rid,
		    edge_request_state_name(r->state));
		ok = false;
	}
	core_log_set_request_id(NULL);
	core_trace_set(NULL);
	return ok ? MHD_YES : MHD_NO;
}

/* One debug line per request, in its trace: what follows it through the
 * services' logs starts here. */
static void
log_request(const edge_request *r)
{
	if (!core_log_enabled(CORE_LOG_DEBUG)) {
		return;
	}
	char status[16], ms[24];
	snprintf(status, sizeof(status), "%u", r->status);
	snprintf(
	    ms, sizeof(ms), "%.3f", (double) (now_us() - r->start_us) / 1e3);
	core_log_set_request_id(r->rid);
	core_trace_set(&r->trace);
	core_log_kv(CORE_LOG_DEBUG, "request", "route",
	    r->route != NULL ? r->route->name : "-", "status", status,
	    "duration_ms", ms, NULL);
	core_log_set_request_id(NULL);
	core_trace_set(NULL);
}

static void
request_done(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	const edge_config *cfg = cls;
	(void) conn;
	(void) toe;
	edge_request *r = *con_cls;
	core_log_enter(cfg->log);
	if (r != NULL) {
		log_request(r);
		if (r->status != 0) {
			edge_metrics_request(
			    r->label, r->status, now_us() - r->start_us);
		}
		edge_request_free(r);
		*con_cls = NULL;
	}
}

static size_t
unescape(void *cls, struct MHD_Connection *conn, char *s)
{
	(void) cls;
	(void) conn;
	return edge_unescape(s);
}

/* ---- Waiting for an RPC ------------------------------------------------ */

void
edge_http_suspend(edge_request *r)
{
	MHD_suspend_connection(r->conn);
}

void
edge_http_resume(edge_request *r)
{
	MHD_resume_connection(r->conn);
}

/* ---- The daemon --------------------------------------------------------- */

edge_http *
edge_http_start(const edge_config *cfg)
{
	edge_http *h = calloc(1, sizeof(*h));
	if (h == NULL) {
		return NULL;
	}
	/* cfg is only read: libmicrohttpd's closure pointers are not const. */
	void *cls = (void *) (uintptr_t) cfg;
	h->daemon =
	    MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
	                         MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG,
	        ntohs(cfg->addr.sin_port), NULL, NULL, handle, cls,
	        MHD_OPTION_SOCK_ADDR, (const struct sockaddr *) &cfg->addr,
	        MHD_OPTION_THREAD_POOL_SIZE, (unsigned) cfg->threads,
	        MHD_OPTION_CONNECTION_LIMIT, (unsigned) cfg->max_conns,
	        MHD_OPTION_PER_IP_CONNECTION_LIMIT,
	        (unsigned) cfg->max_conns_per_ip,
	        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) cfg->conn_timeout_s,
	        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) cfg->max_header,
	        MHD_OPTION_NOTIFY_COMPLETED, request_done, cls,
	        MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL, MHD_OPTION_END);
	if (h->daemon == NULL) {
		core_log_error("cannot listen on %s", cfg->listen);
		free(h);
		return NULL;
	}
	return h;
}

void
edge_http_stop(edge_http *h, long wait_ms)
{
	if (h == NULL) {
		return;
	}
	/* Stop accepting; let the RPCs in flight complete (each within its
	 * deadline) so that no completion resumes a connection of a stopped
	 * daemon; then let handlers finish and join the threads. */
	MHD_quiesce_daemon(h->daemon);
	for (long waited = 0; edge_rest_in_flight() > 0 && waited < wait_ms;
	     waited += 10) {
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	MHD_stop_daemon(h->daemon);
	free(h);
}
