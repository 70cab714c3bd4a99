/* The public keys of svc-auth, shared by every worker thread of a service
 * that verifies tokens locally: fetched on demand, and fetched again when
 * they are older than the max age svc-auth sends with them, so a key it
 * stops publishing (retired) is refused here within that time. */
#ifndef CORE_JWKS_CACHE_H
#define CORE_JWKS_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "core/jws.h"

typedef struct core_jwks_cache core_jwks_cache;

/* Gets the current JWKS document: returns 0 with *json malloc'd (the cache
 * frees it), *len its length and *max_age_ms how long the set may be used
 * before it is fetched again (left 0: CORE_JWKS_DEFAULT_MAX_AGE_MS), or -1
 * on failure. Called from a worker thread that is verifying, never by two
 * threads at once, without any lock held; it should have its own
 * timeout. */
typedef int (*core_jwks_fetch_fn)(
    void *arg, char **json, size_t *len, int *max_age_ms);

/* The max age of a set whose fetch gave none, and the longest honoured. */
#define CORE_JWKS_DEFAULT_MAX_AGE_MS 60000
#define CORE_JWKS_MAX_AGE_CAP_MS 3600000

/* A cache that starts empty and fetches the JWKS with fetch(arg) when a
 * token names a kid it does not have, or when its set is older than the
 * set's max age; at most once per min_refetch_ms either way. Each fetch
 * counts in jwks_refetches_total{outcome} of the calling thread's
 * component. Returns NULL when out of memory. */
core_jwks_cache *core_jwks_cache_new(
    core_jwks_fetch_fn fetch, void *arg, int min_refetch_ms);

/* Frees the cache; no verification may be running. NULL is a no-op. */
void core_jwks_cache_free(core_jwks_cache *cache);

/* core_jwt_verify with the cached keys; thread-safe.
 *
 * A set past its max age is fetched again first; the fetched set replaces
 * the old one whole, so a key svc-auth no longer publishes is dropped.
 * Tokens verified before are remembered (a hash instead of a signature
 * check), but only with the set that verified them: a new set (a new
 * generation) verifies every token afresh.
 *
 * On an unknown kid (or while the cache is empty) it refetches, unless a
 * fetch started less than min_refetch_ms ago, and verifies once more. Only
 * one thread fetches at a time; the others that need the keys wait for its
 * result instead of fetching too (except, for a set past its max age, when
 * the previous fetch failed: then they go on with the old set rather than
 * queue behind an unreachable svc-auth). A failed fetch (logged) or an
 * invalid document keeps the old keys, so tokens keep verifying while
 * svc-auth is down; the bound on a retired key holds while it answers. */
core_jwt_result core_jwks_cache_verify(core_jwks_cache *cache,
    const char *token, const core_jwt_policy *pol, core_jwt_claims *out,
    const char **reason) CORE_WARN_UNUSED;

/* Number of successful fetches so far (for metrics and tests). */
uint64_t core_jwks_cache_fetches(core_jwks_cache *cache);

/* The generation of the set in use: 0 before the first good fetch, then
 * one more each time a fetch brings a set that differs from the last (the
 * same set again keeps the generation, and the remembered tokens). */
uint64_t core_jwks_cache_generation(core_jwks_cache *cache);

#endif
