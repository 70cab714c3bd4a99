/* The RPC benchmarks' credentials for tls+tcp:// URLs: RPC_TLS_* as every
 * service reads them (core/tls.h), made the process default. */
#ifndef BENCH_TLS_H
#define BENCH_TLS_H

#include <stdio.h>

#include "core/tls.h"

/* Loads RPC_TLS_* when set. Returns 0 (also when unset), or -1 (printed). */
static inline int
bench_tls_from_env(core_tls **out)
{
	char err[256];
	*out = NULL;
	if (core_tls_from_env(out, err, sizeof(err)) != 0) {
		fprintf(stderr, "bad RPC_TLS_* settings: %s\n", err);
		return -1;
	}
	core_tls_set_default(*out);
	return 0;
}

#endif
