/* The HTTP side of the edge: libmicrohttpd's daemon and callbacks, the
 * request lifecycle (edge_request and its stages), and every answer's way
 * out (security headers, CORS, problem+json, metrics). What a request
 * means is decided elsewhere: the REST routes in rest.c and filters.c,
 * /readyz in ready.c, the frontend's files in static.c.
 *
 * Only http.c and http_read.c (reading the request) include
 * libmicrohttpd's header; the other layers see a connection as an opaque
 * pointer and read the request through the functions below. */
#ifndef EDGE_HTTP_H
#define EDGE_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "config.h"
#include "request.h"

struct MHD_Connection;

/* The running HTTP daemon (opaque). */
typedef struct edge_http edge_http;

/* ---- The daemon ------------------------------------------------------- */

/* Starts serving on cfg->addr with cfg's threads and limits. cfg must stay
 * valid until edge_http_stop(). Returns NULL (logged) when it cannot. */
edge_http *edge_http_start(const edge_config *cfg);

/* Stops accepting, waits for the RPCs in flight (at most wait_ms), then
 * stops the daemon and joins its threads. NULL is a no-op. */
void edge_http_stop(edge_http *h, long wait_ms);

/* ---- Reading the request ---------------------------------------------- */

/* A request header's value, or NULL. Valid until the request ends. */
const char *edge_http_header(struct MHD_Connection *conn, const char *name);

/* A request header's value when the request has exactly one field of
 * that name, else NULL (for headers that must not be repeated, such as
 * traceparent). Valid until the request ends. */
const char *edge_http_header_once(
    struct MHD_Connection *conn, const char *name);

/* A cookie's value, or NULL. Valid until the request ends. */
const char *edge_http_cookie(struct MHD_Connection *conn, const char *name);

/* The client's address into buf: the TCP peer's, or, when the peer is one
 * of cfg's trusted proxies, the rightmost untrusted hop of its
 * client-address header (proxy.h). "" when the peer has no IP address. */
void edge_http_client_ip(struct MHD_Connection *conn, const edge_config *cfg,
    char *buf, size_t len);

/* Calls fn(arg, name, value) for each query parameter in order until it
 * returns false. value is NULL for "?name" alone. */
typedef bool (*edge_http_param_fn)(
    void *arg, const char *name, const char *value);
void edge_http_each_param(
    struct MHD_Connection *conn, edge_http_param_fn fn, void *arg);

/* ---- Waiting for an RPC ------------------------------------------------- */

/* Suspends r's connection: libmicrohttpd stops calling for it and its
 * thread serves other connections. */
void edge_http_suspend(edge_request *r);

/* Resumes it (from any thread): the access handler is called again, in the
 * request's current stage. */
void edge_http_resume(edge_request *r);

/* ---- Answering ---------------------------------------------------------- */

#define EDGE_ANSWER_MAX_HEADERS 8

/* An answer being put together: status, type, body and a few headers. */
typedef struct edge_answer {
	unsigned status;
	const char *type; /* Content-Type; must outlive the send */
	char *body;       /* malloc'd, NUL-terminated; the send frees it */
	struct {
		const char *name, *value; /* must outlive the send */
	} headers[EDGE_ANSWER_MAX_HEADERS];
	size_t n_headers;
} edge_answer;

/* Adds a header to a. Returns 0, or -1 (logged) when a is full. */
int edge_answer_header(edge_answer *a, const char *name, const char *value);

/* Queues a for r (security headers, CORS and the request id added) and
 * moves r to REQ_DONE. Takes a->body, also on failure. Returns false when
 * the connection should be closed (out of memory). */
bool edge_http_send(edge_request *r, edge_answer *a);

/* Queues an RFC 9457 problem document for r: its title is status's reason
 * phrase; extra (may be NULL; consumed) is merged in. 401 carries
 * WWW-Authenticate, retry_after_s > 0 Retry-After. Returns as
 * edge_http_send(). */
bool edge_http_problem(edge_request *r, unsigned status, const char *detail,
    json_t *extra, unsigned retry_after_s);

/* The reason phrase for an HTTP status ("Not Found"). */
const char *edge_http_title(unsigned status);

#endif
