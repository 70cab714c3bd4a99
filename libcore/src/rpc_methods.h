/* The method table of an RPC server: every method of its services bound to
 * its row (handler and rule) by full name, sorted for lookup. Internal. */
#ifndef CORE_RPC_METHODS_H
#define CORE_RPC_METHODS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/rpc.h"

typedef struct rpc_method {
	char *name; /* "/pkg.Service/Method" */
	const ProtobufCMethodDescriptor *desc;
	const core_rpc_method *row;  /* handler and rule */
	const core_rpc_service *svc; /* for its denied hook */
	bool inline_ok;              /* runs on the receiving nng thread */
	bool on_read; /* CORE_METHOD_INLINE_ON_PREFETCH (rpc_server.c) */
} rpc_method;

typedef struct rpc_method_table {
	rpc_method *v; /* sorted by name */
	size_t n;
} rpc_method_table;

/* Builds t from builtin (core.v1.Health) and services. Every method must
 * have exactly one row, every row must name a method of its service and
 * have a handler, rules other than public need has_auth, and
 * CORE_METHOD_INLINE needs rule checks that cannot block. Returns 0,
 * -EINVAL (logged) or -ENOMEM; t is to be freed either way. */
int rpc_methods_build(rpc_method_table *t, const core_rpc_service *builtin,
    const core_rpc_service *services, size_t n_services, bool has_auth);

/* The method of that full name, or NULL. */
const rpc_method *rpc_methods_find(
    const rpc_method_table *t, const char *name);

/* Frees t's entries; a zeroed table is fine. */
void rpc_methods_free(rpc_method_table *t);

#endif
