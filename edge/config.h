/* The edge's configuration: one table of environment variables (12-factor,
 * libcore's core_config), loaded once at start, before any request. The
 * request path only reads the result. */
#ifndef EDGE_CONFIG_H
#define EDGE_CONFIG_H

#include <netinet/in.h>
#include <stdbool.h>

#include "core/log.h"
#include "browser.h"
#include "proxy.h"

typedef struct edge_config {
	const char *listen;        /* EDGE_LISTEN as given, "127.0.0.1:8080" */
	struct sockaddr_in addr;   /* the same, parsed (IPv4 only) */
	long threads;              /* HTTP worker threads */
	long max_conns;            /* open connections at most */
	long max_conns_per_ip;     /* open connections per client IP */
	long conn_timeout_s;       /* idle or slow connections closed after */
	long max_body;             /* largest request body; 413 past it */
	long max_header;           /* request line and headers; 431 past it */
	long rpc_timeout_ms;       /* deadline of each RPC */
	long tls_reload_s;         /* RPC_TLS_* files checked this often */
	const char *www;           /* the frontend's directory, "" for none */
	bool cookie_secure;        /* token cookies are __Host- and Secure */
	const char *cookie_access; /* the token cookies' names */
	const char *cookie_refresh;
	const char *cookie_device; /* the device token's, Path=/login */
	edge_origins cors; /* may call cross-origin, with credentials */
	bool metrics;      /* serve GET /metrics */
	/* Peers whose Forwarded / X-Forwarded-For is believed (proxy.h),
	 * and which of the two headers. */
	edge_proxies trusted_proxies;
	edge_ip_header client_ip_header;
	/* Set before edge_config_load: the edge is one component of a process
	 * that runs several (microcore); it then logs as its own component
	 * (log, which the HTTP threads enter) instead of as the process. */
	bool hosted;
	const core_log_component *log;
} edge_config;

/* Fills c from the environment (or the defaults; in the calling thread's
 * configuration scope, core/config.h), and each backend's dial list
 * (edge_backends_init() first); sets the log level and logs the
 * effective configuration. Returns 0, or -1 after logging what is wrong
 * ("bad configuration: ..."): the process should exit with status 2. The
 * strings point into the environment or the defaults and stay valid. */
int edge_config_load(edge_config *c);

#endif
