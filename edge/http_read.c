/* Reading the request from libmicrohttpd (edge/http.h "Reading the
 * request"): headers, cookies, the client's address, query parameters. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <string.h>
#include <strings.h>

#include <microhttpd.h>

#include "http.h"
#include "proxy.h"

const char *
edge_http_header(struct MHD_Connection *conn, const char *name)
{
	return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

const char *
edge_http_cookie(struct MHD_Connection *conn, const char *name)
{
	return MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, name);
}

/* Collects the hops of every field of one client-address header. */
typedef struct hop_walk {
	edge_ip_header which;
	edge_hops hops;
} hop_walk;

static enum MHD_Result
hop_step(
    void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void) kind;
	hop_walk *w = cls;
	const char *name = w->which == EDGE_IP_HEADER_FORWARDED
	                       ? "Forwarded"
	                       : "X-Forwarded-For";
	if (key == NULL || value == NULL || strcasecmp(key, name) != 0) {
		return MHD_YES;
	}
	/* Several fields are one list, in order (RFC 9110 section 5.3). */
	if (w->which == EDGE_IP_HEADER_FORWARDED) {
		edge_hops_add_forwarded(&w->hops, value);
	} else {
		edge_hops_add_xff(&w->hops, value);
	}
	return MHD_YES;
}

void
edge_http_client_ip(
    struct MHD_Connection *conn, const edge_config *cfg, char *buf, size_t len)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci != NULL ? ci->client_addr : NULL;
	edge_ip peer = {0};
	buf[0] = '\0';
	if (sa != NULL && sa->sa_family == AF_INET) {
		const struct sockaddr_in *in =
		    (const struct sockaddr_in *) (const void *) sa;
		peer.family = AF_INET;
		memcpy(peer.a, &in->sin_addr, 4);
	} else if (sa != NULL && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 =
		    (const struct sockaddr_in6 *) (const void *) sa;
		char text[INET6_ADDRSTRLEN];
		inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
		(void) edge_ip_parse(text, strlen(text), &peer);
	} else {
		return;
	}
	edge_ip client = peer;
	if (cfg->trusted_proxies.n > 0 &&
	    edge_proxies_match(&cfg->trusted_proxies, &peer)) {
		hop_walk w = {.which = cfg->client_ip_header};
		MHD_get_connection_values(conn, MHD_HEADER_KIND, hop_step, &w);
		client = edge_client_ip(&cfg->trusted_proxies, &peer, &w.hops);
	}
	(void) edge_ip_format(&client, buf, len);
}

typedef struct param_walk {
	edge_http_param_fn fn;
	void *arg;
} param_walk;

static enum MHD_Result
param_step(
    void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void) kind;
	const param_walk *w = cls;
	return w->fn(w->arg, key, value) ? MHD_YES : MHD_NO;
}

void
edge_http_each_param(
    struct MHD_Connection *conn, edge_http_param_fn fn, void *arg)
{
	param_walk w = {fn, arg};
	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, param_step, &w);
}

/* Counts the fields of one header. */
typedef struct header_count {
	const char *name;
	const char *value; /* the first */
	unsigned n;
} header_count;

static enum MHD_Result
count_step(
    void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void) kind;
	header_count *c = cls;
	if (key != NULL && strcasecmp(key, c->name) == 0) {
		if (c->n++ == 0) {
			c->value = value;
		}
	}
	return c->n > 1 ? MHD_NO : MHD_YES;
}

const char *
edge_http_header_once(struct MHD_Connection *conn, const char *name)
{
	header_count c = {.name = name};
	MHD_get_connection_values(conn, MHD_HEADER_KIND, count_step, &c);
	return c.n == 1 ? c.value : NULL;
}
