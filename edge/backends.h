/* The services behind the edge, in one list: the targets of the service
 * registry (proto/registry.h: auth, user, admin, in its order), each with
 * the variable that names its URLs, their default and, once dialled, its
 * RPC client. Routes find their service here (from their RPC method), and
 * the configuration, /readyz and the metrics go through the same list, so
 * a service is added in one place: the registry. */
#ifndef EDGE_BACKENDS_H
#define EDGE_BACKENDS_H

#include "core/rpc.h"

/* More than the registry holds; a longer list is refused at start. */
#define EDGE_MAX_BACKENDS 8

typedef struct edge_backend {
	unsigned index;           /* position in the list (metrics) */
	const char *name;         /* "auth": logs, metrics, /readyz */
	const char *dial_env;     /* "AUTH_RPC_DIAL" */
	const char *dial_default; /* "tcp://127.0.0.1:7101" */
	const char *identity;     /* "svc-auth": its certificate must say so */
	char help[48];            /* "auth service URLs" (config listing) */
	const char *dial;         /* the URLs configured; set by config.c */
	core_rpc_client *client;  /* set by edge_backends_dial() */
} edge_backend;

/* Builds the list from the registry. Call once at start, before anything
 * else here. Returns 0, or -1 (logged) when the registry has more targets
 * than EDGE_MAX_BACKENDS. */
int edge_backends_init(void);

/* The number of backends, and backend i (i < the count; the list is
 * static: pointers stay valid for the process). */
unsigned edge_backend_count(void);
edge_backend *edge_backend_at(unsigned i);

/* Backend i's name, "" past the end (the metrics' label callback). */
const char *edge_backend_name(unsigned i);

/* The backend named name ("auth"), or NULL. */
const edge_backend *edge_backend_find(const char *name);

/* Creates every backend's RPC client from its configured dial list (comma-
 * or space-separated URLs) with default_timeout_ms as the deadline of calls
 * that give none. Returns 0, or -1 (logged, naming the service and the
 * URLs) when a list is empty, too long or holds a bad URL; the clients made
 * so far are kept for edge_backends_close(). */
int edge_backends_dial(int default_timeout_ms);

/* Frees every client (no call may be in flight). Safe after a failed or
 * no edge_backends_dial(). */
void edge_backends_close(void);

#endif
