/* The metrics listener (core/metrics.h): GET /metrics on a port of its own,
 * apart from the service's RPC and HTTP traffic, so a scrape never queues
 * behind requests and the port can be kept off the public network.
 *
 * libmicrohttpd with one internal thread: a scrape every few seconds
 * needs no pool, and a render takes well under a millisecond. */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "core/log.h"
#include "core/metrics.h"

/* Scrapers at once, and how long an idle or slow one may hold a slot. */
#define MAX_CONNECTIONS 16
#define CONNECTION_TIMEOUT_S 10
#define HOST_MAX 256

struct core_metrics_listener {
	struct MHD_Daemon *daemon;
	char addr[HOST_MAX + 16];
};

/* Splits "host:port" / "[v6]:port" into host and port. Returns NULL, or
 * what is wrong. */
static const char *
split_addr(
    const char *addr, char *host, size_t hostlen, char *port, size_t portlen)
{
	const char *colon = strrchr(addr, ':');
	const char *h = addr, *h_end = colon;
	if (colon == NULL) {
		return "must be host:port";
	}
	if (addr[0] == '[') {
		h = addr + 1;
		h_end = strchr(addr, ']');
		if (h_end == NULL || h_end + 1 != colon) {
			return "an IPv6 address must be in brackets: [::1]:port";
		}
	} else if (memchr(addr, ':', (size_t) (colon - addr)) != NULL) {
		return "an IPv6 address must be in brackets: [::1]:port";
	}
	size_t hn = (size_t) (h_end - h), pn = strlen(colon + 1);
	if (hn == 0 || hn >= hostlen) {
		return "the host is empty or too long";
	}
	char *end;
	long p = strtol(colon + 1, &end, 10);
	if (pn == 0 || pn >= portlen || *end != '\0' || p < 1 || p > 65535 ||
	    colon[1] < '0' || colon[1] > '9') {
		return "the port must be 1 to 65535";
	}
	memcpy(host, h, hn);
	host[hn] = '\0';
	memcpy(port, colon + 1, pn + 1);
	return NULL;
}

static bool
is_off(const char *addr)
{
	return addr == NULL || addr[0] == '\0' || strcmp(addr, "off") == 0;
}

int
core_metrics_listen_check(
    const char *addr, int *enabled, char *err, size_t errlen)
{
	char host[HOST_MAX], port[8];
	*enabled = 0;
	if (is_off(addr)) {
		return 0;
	}
	const char *why =
	    split_addr(addr, host, sizeof(host), port, sizeof(port));
	if (why != NULL) {
		snprintf(err, errlen,
		    "METRICS_LISTEN: %s (\"\" or \"off\" for none), got \"%s\"",
		    why, addr);
		return -1;
	}
	*enabled = 1;
	return 0;
}

/* Resolves addr (checked) into ss. Returns 0, or -1 (logged). */
static int
resolve(const char *addr, struct sockaddr_storage *ss)
{
	char host[HOST_MAX], port[8];
	if (split_addr(addr, host, sizeof(host), port, sizeof(port)) != NULL) {
		return -1;
	}
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
	    .ai_flags = AI_NUMERICSERV | AI_PASSIVE};
	struct addrinfo *ai = NULL;
	int rc = getaddrinfo(host, port, &hints, &ai);
	if (rc != 0 || ai == NULL || ai->ai_addrlen > sizeof(*ss)) {
		core_log_kv(CORE_LOG_ERROR,
		    "metrics: cannot resolve the address", "addr", addr,
		    "error", rc != 0 ? gai_strerror(rc) : "none", NULL);
		if (ai != NULL) {
			freeaddrinfo(ai);
		}
		return -1;
	}
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	return 0;
}

static enum MHD_Result
answer(struct MHD_Connection *c, unsigned status, char *body, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body,
	    body != NULL ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (r == NULL) {
		free(body);
		return MHD_NO;
	}
	if (status == MHD_HTTP_OK) {
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
		    CORE_METRICS_CONTENT_TYPE);
	} else {
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
		    "text/plain; charset=utf-8");
	}
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED) {
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static char *
text(const char *s, size_t *len)
{
	*len = strlen(s);
	return strdup(s);
}

/* One request: the answer is known from the request line alone, so it is
 * queued on the first call (a body, if any, is never read). */
static enum MHD_Result
handle(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	(void) cls;
	(void) version;
	(void) upload_data;
	(void) upload_data_size;
	(void) con_cls;
	size_t len = 0;
	if (strcmp(url, "/metrics") != 0) {
		return answer(c, MHD_HTTP_NOT_FOUND,
		    text("not found: metrics are at /metrics\n", &len), len);
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		return answer(c, MHD_HTTP_METHOD_NOT_ALLOWED,
		    text("method not allowed: GET or HEAD\n", &len), len);
	}
	char *body = core_metrics_render(&len);
	if (body == NULL) {
		return answer(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
		    text("cannot render the metrics\n", &len), len);
	}
	return answer(c, MHD_HTTP_OK, body, len);
}

/* Starts the daemon on addr (checked); NULL when the address cannot be
 * bound (logged as an error unless quiet). */
static struct MHD_Daemon *
start_daemon(const char *addr, bool quiet)
{
	struct sockaddr_storage ss;
	if (resolve(addr, &ss) != 0) {
		return NULL;
	}
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
	if (ss.ss_family == AF_INET6) {
		flags |= MHD_USE_IPv6;
	}
	/* The port also goes in the sockaddr given below, which wins. */
	struct MHD_Daemon *d = MHD_start_daemon(flags, 0, NULL, NULL, handle,
	    NULL, MHD_OPTION_SOCK_ADDR, (const struct sockaddr *) &ss,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned) MAX_CONNECTIONS,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) CONNECTION_TIMEOUT_S,
	    MHD_OPTION_END);
	if (d == NULL && !quiet) {
		core_log_kv(CORE_LOG_ERROR,
		    "metrics: cannot listen (address in use or not local?)",
		    "addr", addr, NULL);
	}
	return d;
}

static int
listener_start(const char *addr, bool quiet, core_metrics_listener **out)
{
	char err[HOST_MAX + 128];
	int enabled;
	*out = NULL;
	if (core_metrics_listen_check(addr, &enabled, err, sizeof(err)) != 0) {
		core_log_error("%s", err);
		return -1;
	}
	if (!enabled) {
		return 0;
	}
	core_metrics_listener *l = calloc(1, sizeof(*l));
	if (l == NULL) {
		core_log_error("out of memory");
		return -1;
	}
	snprintf(l->addr, sizeof(l->addr), "%s", addr);
	l->daemon = start_daemon(addr, quiet);
	if (l->daemon == NULL) {
		free(l);
		return -1;
	}
	char url[sizeof(l->addr) + 32];
	snprintf(url, sizeof(url), "http://%s/metrics", addr);
	core_log_kv(CORE_LOG_INFO, "metrics listening", "url", url, NULL);
	*out = l;
	return 0;
}

int
core_metrics_listener_start(const char *addr, core_metrics_listener **out)
{
	return listener_start(addr, false, out);
}

void
core_metrics_listener_stop(core_metrics_listener *l)
{
	if (l == NULL) {
		return;
	}
	MHD_stop_daemon(l->daemon);
	free(l);
}

int
core_metrics_serve(const char *addr, core_metrics_listener **out)
{
	const char *v = getenv("METRICS_LISTEN");
	const char *f = getenv("METRICS_LISTEN_FILE");
	bool given =
	    (v != NULL && v[0] != '\0') || (f != NULL && f[0] != '\0');
	if (listener_start(addr, !given, out) == 0) {
		return 0;
	}
	if (given || is_off(addr)) {
		return -1;
	}
	core_log_kv(CORE_LOG_WARN,
	    "metrics: the default address is taken (another instance on this "
	    "host?); running without a metrics listener: set METRICS_LISTEN",
	    "addr", addr, NULL);
	return 0;
}
