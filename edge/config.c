#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/config.h"
#include "core/log.h"
#include "backends.h"
#include "config.h"

/* The variables of the edge itself, before the backends' dial lists. */
#define N_OWN 16

/* Writes the configuration table for c into items (room for N_OWN +
 * EDGE_MAX_BACKENDS) and returns its length. */
typedef struct config_text {
	const char *log_level, *cors, *proxies, *ip_header;
} config_text;

static size_t
config_table(edge_config *c, config_text *t, core_config_item *items)
{
	const core_config_item own[] = {
	    {"LOG_LEVEL", "info", CORE_CONFIG_STR, 0, 0, false,
	        "debug, info, warn or error", &t->log_level},
	    {"EDGE_LISTEN", "127.0.0.1:8080", CORE_CONFIG_STR, 0, 0, false,
	        "HTTP listen address (IPv4 host:port)", &c->listen},
	    {"EDGE_THREADS", "4", CORE_CONFIG_INT, 1, 256, false,
	        "HTTP worker threads", &c->threads},
	    {"EDGE_MAX_CONNECTIONS", "1024", CORE_CONFIG_INT, 1, 65536, false,
	        "open connections at most", &c->max_conns},
	    {"EDGE_MAX_CONNECTIONS_PER_IP", "64", CORE_CONFIG_INT, 1, 65536,
	        false, "open connections per client IP", &c->max_conns_per_ip},
	    {"EDGE_CONNECTION_TIMEOUT_S", "15", CORE_CONFIG_INT, 1, 3600,
	        false, "idle or slow connections are closed after this",
	        &c->conn_timeout_s},
	    {"EDGE_MAX_BODY_BYTES", "65536", CORE_CONFIG_INT, 1024, 1048576,
	        false, "largest request body (413 past it)", &c->max_body},
	    {"EDGE_MAX_HEADER_BYTES", "16384", CORE_CONFIG_INT, 4096, 1048576,
	        false, "request line and headers at most (431 past it)",
	        &c->max_header},
	    {"EDGE_RPC_TIMEOUT_MS", "3000", CORE_CONFIG_INT, 10, 600000, false,
	        "deadline of each RPC", &c->rpc_timeout_ms},
	    /* The credentials themselves are RPC_TLS_* (core/tls.h), read
	     * by main as the services read them. */
	    {"RPC_TLS_RELOAD_S", "10", CORE_CONFIG_INT, 0, 86400, false,
	        "seconds between checks of the TLS files (0: SIGHUP only)",
	        &c->tls_reload_s},
	    {"EDGE_WWW_DIR", EDGE_WWW_DEFAULT, CORE_CONFIG_STR, 0, 0, false,
	        "the web frontend's files (none: API only)", &c->www},
	    {"EDGE_COOKIE_SECURE", "true", CORE_CONFIG_BOOL, 0, 0, false,
	        "token cookies are __Host- and Secure (false only for plain "
	        "http on localhost in development)",
	        &c->cookie_secure},
	    {"EDGE_CORS_ORIGINS", "", CORE_CONFIG_STR, 0, 0, false,
	        "origins allowed to call cross-origin with credentials "
	        "(comma-separated)",
	        &t->cors},
	    {"EDGE_METRICS", "true", CORE_CONFIG_BOOL, 0, 0, false,
	        "serve GET /metrics on the HTTP port too (the metrics listener, "
	        "METRICS_LISTEN, serves them regardless)",
	        &c->metrics},
	    {"EDGE_TRUSTED_PROXIES", "", CORE_CONFIG_STR, 0, 0, false,
	        "reverse proxies whose client-address header is believed "
	        "(comma-separated IPv4/IPv6 CIDR ranges; empty: none)",
	        &t->proxies},
	    {"EDGE_CLIENT_IP_HEADER", "x-forwarded-for", CORE_CONFIG_STR, 0, 0,
	        false,
	        "the header the trusted proxies append the client to: "
	        "x-forwarded-for or forwarded",
	        &t->ip_header},
	};
	_Static_assert(sizeof(own) / sizeof(own[0]) == N_OWN,
	    "N_OWN counts the variables of the edge itself");
	memcpy(items, own, sizeof(own));
	size_t n = N_OWN;
	/* Then one dial list per backend, named as the registry says. */
	for (unsigned i = 0; i < edge_backend_count(); i++) {
		edge_backend *b = edge_backend_at(i);
		items[n++] = (core_config_item){b->dial_env, b->dial_default,
		    CORE_CONFIG_STR, 0, 0, false, b->help, &b->dial};
	}
	return n;
}

/* Parses "host:port" (IPv4) into addr. Returns 0 or -1. */
static int
parse_listen(const char *s, struct sockaddr_in *addr)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	if (colon == NULL || (size_t) (colon - s) >= sizeof(host)) {
		return -1;
	}
	char *end;
	long p = strtol(colon + 1, &end, 10);
	if (*end != '\0' || p < 1 || p > 65535) {
		return -1;
	}
	memcpy(host, s, (size_t) (colon - s));
	host[colon - s] = '\0';
	*addr = (struct sockaddr_in){
	    .sin_family = AF_INET, .sin_port = htons((uint16_t) p)};
	return inet_pton(AF_INET, host, &addr->sin_addr) == 1 ? 0 : -1;
}

/* The trusted proxies and their header. Returns 0, or -1 (logged). */
static int
client_ip_config(edge_config *c, const config_text *t)
{
	char err[256];
	if (edge_proxies_parse(
	        &c->trusted_proxies, t->proxies, err, sizeof(err)) != 0) {
		core_log_error(
		    "bad configuration: EDGE_TRUSTED_PROXIES: %s", err);
		return -1;
	}
	if (strcasecmp(t->ip_header, "x-forwarded-for") == 0) {
		c->client_ip_header = EDGE_IP_HEADER_XFF;
	} else if (strcasecmp(t->ip_header, "forwarded") == 0) {
		c->client_ip_header = EDGE_IP_HEADER_FORWARDED;
	} else {
		core_log_error("bad configuration: EDGE_CLIENT_IP_HEADER must "
		               "be x-forwarded-for or forwarded, got \"%s\"",
		    t->ip_header);
		return -1;
	}
	return 0;
}

int
edge_config_load(edge_config *c)
{
	config_text t = {NULL, NULL, NULL, NULL};
	core_config_item items[N_OWN + EDGE_MAX_BACKENDS];
	size_t n = config_table(c, &t, items);
	char err[256];
	if (core_config_load(items, n, err, sizeof(err)) != 0) {
		core_log_error("bad configuration: %s", err);
		return -1;
	}
	core_log_level level;
	if (core_log_level_parse(t.log_level, &level) != 0) {
		core_log_error("bad configuration: LOG_LEVEL");
		return -1;
	}
	if (!c->hosted) {
		core_log_init("edge", level, true);
	} else if ((c->log = core_log_component_add("edge", level)) == NULL) {
		core_log_error("too many components in one process");
		return -1;
	}
	core_log_enter(c->log);
	core_config_log(items, n);

	if (parse_listen(c->listen, &c->addr) != 0) {
		core_log_error("bad configuration: EDGE_LISTEN must be "
		               "IPv4:port, got \"%s\"",
		    c->listen);
		return -1;
	}
	if (strcmp(c->www, "none") == 0) {
		c->www = "";
	}
	c->cookie_access = c->cookie_secure ? "__Host-access" : "access";
	c->cookie_refresh = c->cookie_secure ? "__Host-refresh" : "refresh";
	/* __Host- would need Path=/: this one is for the login path only. */
	c->cookie_device = c->cookie_secure ? "__Secure-device" : "device";
	if (edge_origins_parse(&c->cors, t.cors, err, sizeof(err)) != 0) {
		core_log_error(
		    "bad configuration: EDGE_CORS_ORIGINS: %s", err);
		return -1;
	}
	return client_ip_config(c, &t);
}
