/* edge: the HTTP front door. libmicrohttpd (thread pool + epoll) turning
 * REST/JSON into RPCs to the internal services.
 *
 * Served today: GET /healthz (the process is up), GET /readyz (every
 * service answers core.v1.Health SERVING; 503 naming what is not), and GET /
 * listing those. Every other path answers an RFC 9457 problem+json 404. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <microhttpd.h>

#include "core/v1/health.pb-c.h"

#include "core/config.h"
#include "core/log.h"
#include "core/registry.h"
#include "core/rpc.h"

#define MAX_URLS 8
#define N_TARGETS 3

static const char *const target_names[N_TARGETS] = {"auth", "user", "admin"};

typedef struct edge {
	core_rpc_client *clients[N_TARGETS];
	long rpc_timeout_ms;
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

/* An RFC 9457 problem document. extra (may be NULL) is merged in. */
static enum MHD_Result
problem(struct MHD_Connection *conn, unsigned status, const char *title,
    const char *detail, const char *request_id, json_t *extra)
{
	json_t *p = json_pack("{s:s, s:s, s:i, s:s, s:s}", "type",
	    "about:blank", "title", title, "status", (int) status, "detail",
	    detail, "request_id", request_id);
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
	enum MHD_Result ret = reply(conn, status, "application/problem+json",
	    text, request_id);
	free(text);
	return ret;
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

static enum MHD_Result
handle(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_size, void **con_cls)
{
	edge *e = cls;
	(void) version;
	(void) upload_data;

	/* First call per request: headers only. Bodies are not accepted by
	 * any route yet; anything uploaded is discarded below. */
	if (*con_cls == NULL) {
		*con_cls = e;
		return MHD_YES;
	}
	if (*upload_size != 0) {
		*upload_size = 0;
		return MHD_YES;
	}

	char rid_buf[33];
	const char *rid = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    "X-Request-Id");
	if (rid == NULL || !core_rpc_request_id_valid(rid)) {
		core_rpc_new_request_id(rid_buf);
		rid = rid_buf;
	}
	bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	if (strcmp(url, "/healthz") == 0 || strcmp(url, "/readyz") == 0) {
		if (!get) {
			struct MHD_Response *r =
			    MHD_create_response_from_buffer(0, NULL,
			        MHD_RESPMEM_PERSISTENT);
			MHD_add_response_header(r, "Allow", "GET, HEAD");
			add_security_headers(r);
			enum MHD_Result ret = MHD_queue_response(conn,
			    MHD_HTTP_METHOD_NOT_ALLOWED, r);
			MHD_destroy_response(r);
			return ret;
		}
		if (url[1] == 'h') {
			return reply(conn, MHD_HTTP_OK, "application/json",
			    "{\"status\":\"ok\"}", rid);
		}
		return readyz(e, conn, rid);
	}
	if (strcmp(url, "/") == 0 && get) {
		/* Until the web frontend is served here, say what is. */
		return reply(conn, MHD_HTTP_OK, "application/json",
		    "{\"service\":\"microcore edge\",\"endpoints\":"
		    "[\"/healthz\",\"/readyz\"]}",
		    rid);
	}
	return problem(conn, MHD_HTTP_NOT_FOUND, "Not Found",
	    "no such resource", rid, NULL);
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
	     per_ip = 0;
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

	edge e = {.rpc_timeout_ms = rpc_timeout};
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
	    (size_t) 64 * 1024, MHD_OPTION_END);
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
