/* The method table of an RPC server (rpc_methods.h). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "rpc_methods.h"

static int
method_cmp(const void *a, const void *b)
{
	return strcmp(
	    ((const rpc_method *) a)->name, ((const rpc_method *) b)->name);
}

/* The row of svc that names method "/<service>/<m>", or NULL; *dups counts
 * the rows naming it. */
static const core_rpc_method *
row_for(const core_rpc_service *svc, const char *name, int *dups)
{
	const core_rpc_method *found = NULL;
	*dups = 0;
	for (size_t i = 0; i < svc->n_methods; i++) {
		if (svc->methods[i].name != NULL &&
		    strcmp(svc->methods[i].name, name) == 0) {
			found = &svc->methods[i];
			(*dups)++;
		}
	}
	return found;
}

/* Checks one row: a handler, and a rule the server can check (without
 * blocking, for an inline method). */
static int
row_ok(bool has_auth, const core_rpc_service *svc, const core_rpc_method *row)
{
	const char *why = NULL;
	unsigned rule =
	    row->rule &
	    ~(unsigned) (CORE_METHOD_INLINE | CORE_METHOD_INLINE_ON_PREFETCH);
	bool inl = (row->rule & CORE_METHOD_INLINE) != 0;
	bool on_read = (row->rule & CORE_METHOD_INLINE_ON_PREFETCH) != 0;
	if (row->handler == NULL) {
		why = "has no handler";
	} else if (inl && rule != CORE_RULE_PUBLIC) {
		why = "is inline but has a token rule (its revocation check "
		      "blocks on Redis)";
	} else if (inl && row->callers != NULL && svc->denied != NULL) {
		why = "is inline but has a callers list and its service a "
		      "denied hook (which may block)";
	} else if (on_read &&
	           (inl || rule == CORE_RULE_PUBLIC || row->prefetch == NULL ||
	               (rule & CORE_RULE_ADMIN) != 0 || svc->denied != NULL)) {
		why = "is inline on its prefetch but not with a token rule, a "
		      "prefetch, no admin rule, no CORE_METHOD_INLINE and no "
		      "denied hook";
	} else if (rule != CORE_RULE_PUBLIC && !has_auth) {
		why = "has a rule but the server checks no tokens";
	} else if ((row->rule & CORE_RULE_REVOKED_OK) != 0 &&
	           (row->rule & CORE_RULE_USER) == 0) {
		why = "has CORE_RULE_REVOKED_OK without CORE_RULE_USER";
	} else if (row->prefetch != NULL && rule == CORE_RULE_PUBLIC) {
		why = "prefetches without a token rule";
	}
	if (why != NULL) {
		core_log_kv(CORE_LOG_ERROR, "method table: method", "method",
		    row->name, "problem", why, NULL);
		return -EINVAL;
	}
	return 0;
}

/* Binds every method of svc to its row by full name. Every method must
 * have exactly one row and every row must name a method. */
static int
add_service(rpc_method_table *s, const core_rpc_service *svc, bool has_auth)
{
	const ProtobufCServiceDescriptor *d = svc->desc;
	for (unsigned i = 0; i < d->n_methods; i++) {
		rpc_method *e = &s->v[s->n];
		size_t len = strlen(d->name) + strlen(d->methods[i].name) + 3;
		e->name = malloc(len);
		if (e->name == NULL) {
			return -ENOMEM;
		}
		snprintf(e->name, len, "/%s/%s", d->name, d->methods[i].name);
		s->n++;
		int dups;
		e->desc = &d->methods[i];
		e->svc = svc;
		e->row = row_for(svc, e->name, &dups);
		if (dups != 1) {
			core_log_kv(CORE_LOG_ERROR, "method table: method",
			    "method", e->name, "problem",
			    dups ? "has more than one row" : "has no row",
			    NULL);
			return -EINVAL;
		}
		if (row_ok(has_auth, svc, e->row) != 0) {
			return -EINVAL;
		}
		e->inline_ok = (e->row->rule & CORE_METHOD_INLINE) != 0;
		e->on_read =
		    (e->row->rule & CORE_METHOD_INLINE_ON_PREFETCH) != 0;
	}
	if (svc->n_methods != d->n_methods) {
		/* Each method has one row, so some row names no method. */
		for (size_t i = 0; i < svc->n_methods; i++) {
			int dups;
			char want[256];
			const char *n = svc->methods[i].name;
			snprintf(want, sizeof(want), "/%s/", d->name);
			if (n == NULL || strncmp(n, want, strlen(want)) != 0 ||
			    row_for(svc, n, &dups) == NULL) {
				core_log_kv(CORE_LOG_ERROR,
				    "method table: a row names no method of",
				    "service", d->name, "row",
				    n ? n : "(null)", NULL);
			}
		}
		return -EINVAL;
	}
	return 0;
}

const rpc_method *
rpc_methods_find(const rpc_method_table *t, const char *name)
{
	rpc_method key = {.name = (char *) (uintptr_t) name};
	return bsearch(&key, t->v, t->n, sizeof(key), method_cmp);
}

int
rpc_methods_build(rpc_method_table *t, const core_rpc_service *builtin,
    const core_rpc_service *services, size_t n_services, bool has_auth)
{
	size_t total = builtin->desc->n_methods;
	for (size_t i = 0; i < n_services; i++) {
		total += services[i].desc->n_methods;
	}
	memset(t, 0, sizeof(*t));
	if ((t->v = calloc(total, sizeof(rpc_method))) == NULL) {
		return -ENOMEM;
	}
	int rv = add_service(t, builtin, has_auth);
	for (size_t i = 0; rv == 0 && i < n_services; i++) {
		rv = add_service(t, &services[i], has_auth);
	}
	if (rv != 0) {
		return rv;
	}
	qsort(t->v, t->n, sizeof(rpc_method), method_cmp);
	for (size_t i = 1; i < t->n; i++) {
		if (strcmp(t->v[i - 1].name, t->v[i].name) == 0) {
			core_log_error(
			    "method %s registered twice", t->v[i].name);
			return -EINVAL;
		}
	}
	return 0;
}

void
rpc_methods_free(rpc_method_table *t)
{
	for (size_t i = 0; t->v != NULL && i < t->n; i++) {
		free(t->v[i].name);
	}
	free(t->v);
	memset(t, 0, sizeof(*t));
}
