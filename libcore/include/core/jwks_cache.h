/* The public keys of svc-auth, fetched on demand and shared by every worker
 * thread of a service that verifies tokens locally. */
#ifndef CORE_JWKS_CACHE_H
#define CORE_JWKS_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "core/jws.h"

typedef struct core_jwks_cache core_jwks_cache;

/* Gets the current JWKS document: returns 0 with *json malloc'd (the cache
 * frees it) and *len its length, or -1 on failure. Called from a worker
 * thread that is verifying, never by two threads at once, without any lock
 * held; it should have its own timeout. */
typedef int (*core_jwks_fetch_fn)(void *arg, char **json, size_t *len);

/* A cache that starts empty and fetches the JWKS with fetch(arg) when a
 * token names a kid it does not have, at most once per min_refetch_ms.
 * Returns NULL when out of memory. */
core_jwks_cache *core_jwks_cache_new(
    core_jwks_fetch_fn fetch, void *arg, int min_refetch_ms);

/* Frees the cache; no verification may be running. NULL is a no-op. */
void core_jwks_cache_free(core_jwks_cache *cache);

/* core_jwt_verify with the cached keys; thread-safe. On an unknown kid (or
 * while the cache is empty) it refetches, unless a fetch started less than
 * min_refetch_ms ago, and verifies once more. Only one thread fetches at a
 * time; the others that need the keys wait for its result instead of
 * fetching too. A failed fetch (logged) or an invalid document keeps the
 * old keys, so tokens keep verifying while svc-auth is down. */
core_jwt_result core_jwks_cache_verify(core_jwks_cache *cache,
    const char *token, const core_jwt_policy *pol, core_jwt_claims *out,
    const char **reason) CORE_WARN_UNUSED;

/* Number of successful fetches so far (for metrics and tests). */
uint64_t core_jwks_cache_fetches(core_jwks_cache *cache);

#endif
