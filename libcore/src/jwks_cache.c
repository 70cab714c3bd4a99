/* The JWKS cache (core/jwks_cache.h). */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core/clock.h"
#include "core/jwks_cache.h"
#include "core/log.h"

/* One fetched key set. Verifiers hold a reference while they use it, so a
 * refetch can replace it without waiting for them or locking them out. */
typedef struct snapshot {
	core_jwks *set;
	uint64_t gen;
	int refs; // under the cache's mutex
} snapshot;

/* Tokens already verified, so a token presented again (every request of a
 * session) costs a hash instead of an Ed25519 verification. Direct-mapped
 * by a keyed BLAKE2b of (token, issuer, audience); a collision just evicts.
 * Time claims are checked again on every hit; revocation is never cached. */
#define MEMO_SLOTS 4096
#define MEMO_LOCKS 64

typedef struct memo_slot {
	bool used;
	uint8_t key[16];
	core_jwt_claims claims;
} memo_slot;

struct core_jwks_cache {
	memo_slot *memo;
	pthread_mutex_t memo_mu[MEMO_LOCKS];
	pthread_mutex_t mu;
	pthread_cond_t fetched; // broadcast when a fetch ends
	snapshot *cur;          // NULL until the first good fetch
	uint64_t gen;           // of cur; 0 = none yet
	bool fetching;
	bool tried;            // a fetch has started at least once
	int64_t last_fetch_ms; // monotonic start of the last fetch
	uint64_t fetches;      // successful ones
	core_jwks_fetch_fn fetch;
	void *arg;
	int min_refetch_ms;
};

core_jwks_cache *
core_jwks_cache_new(core_jwks_fetch_fn fetch, void *arg, int min_refetch_ms)
{
	core_jwks_cache *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		return NULL;
	}
	if (pthread_mutex_init(&c->mu, NULL) != 0) {
		free(c);
		return NULL;
	}
	if (pthread_cond_init(&c->fetched, NULL) != 0) {
		pthread_mutex_destroy(&c->mu);
		free(c);
		return NULL;
	}
	c->fetch = fetch;
	c->arg = arg;
	c->min_refetch_ms = min_refetch_ms < 0 ? 0 : min_refetch_ms;
	c->memo = calloc(MEMO_SLOTS, sizeof(*c->memo));
	if (c->memo == NULL) {
		pthread_cond_destroy(&c->fetched);
		pthread_mutex_destroy(&c->mu);
		free(c);
		return NULL;
	}
	for (int i = 0; i < MEMO_LOCKS; i++) {
		pthread_mutex_init(&c->memo_mu[i], NULL);
	}
	return c;
}

static void
snapshot_free(snapshot *s)
{
	if (s != NULL) {
		core_jwks_free(s->set);
		free(s);
	}
}

void
core_jwks_cache_free(core_jwks_cache *c)
{
	if (c == NULL) {
		return;
	}
	snapshot_free(c->cur);
	pthread_cond_destroy(&c->fetched);
	pthread_mutex_destroy(&c->mu);
	for (int i = 0; i < MEMO_LOCKS; i++) {
		pthread_mutex_destroy(&c->memo_mu[i]);
	}
	free(c->memo);
	free(c);
}

static snapshot *
acquire(core_jwks_cache *c)
{
	pthread_mutex_lock(&c->mu);
	snapshot *s = c->cur;
	if (s != NULL) {
		s->refs++;
	}
	pthread_mutex_unlock(&c->mu);
	return s;
}

static void
release(core_jwks_cache *c, snapshot *s)
{
	if (s == NULL) {
		return;
	}
	pthread_mutex_lock(&c->mu);
	bool last = --s->refs == 0;
	pthread_mutex_unlock(&c->mu);
	if (last) {
		snapshot_free(s);
	}
}

/* Calls fetch and parses its document; NULL (logged) on any failure. */
static core_jwks *
fetch_set(core_jwks_cache *c)
{
	char *json = NULL;
	size_t len = 0;
	core_jwks *set = NULL;
	char err[160];

	if (c->fetch(c->arg, &json, &len) != 0 || json == NULL) {
		core_log_warn("jwks: fetch failed; keeping the cached keys");
		free(json);
		return NULL;
	}
	if (core_jwks_parse(json, len, &set, err, sizeof(err)) != 0) {
		core_log_kv(CORE_LOG_WARN,
		    "jwks: invalid document; keeping the cached keys", "error",
		    err, NULL);
		set = NULL;
	}
	free(json);
	return set;
}

/* Makes sure the keys are at least as new as generation seen, fetching if
 * allowed. Returns true when a newer set than seen is in place (worth a
 * retry). Only one thread fetches; the others wait and use its result,
 * and within min_refetch_ms of the last fetch nobody fetches at all, so a
 * flood of tokens with made-up kids cannot flood svc-auth. */
static bool
refresh(core_jwks_cache *c, uint64_t seen)
{
	pthread_mutex_lock(&c->mu);
	while (c->fetching) {
		pthread_cond_wait(&c->fetched, &c->mu);
	}
	if (c->gen != seen) {
		pthread_mutex_unlock(&c->mu);
		return true;
	}
	int64_t now = core_monotonic_ms();
	if (c->tried && now - c->last_fetch_ms < c->min_refetch_ms) {
		pthread_mutex_unlock(&c->mu);
		return false;
	}
	c->fetching = true;
	c->tried = true;
	c->last_fetch_ms = now;
	pthread_mutex_unlock(&c->mu);

	// No lock is held while fetching: verifiers with known kids go on.
	core_jwks *set = fetch_set(c);
	snapshot *s = NULL;
	if (set != NULL && (s = calloc(1, sizeof(*s))) == NULL) {
		core_jwks_free(set);
	}
	snapshot *old = NULL;
	pthread_mutex_lock(&c->mu);
	if (s != NULL) {
		s->set = set;
		s->refs = 1; // the cache's own reference
		s->gen = ++c->gen;
		old = c->cur;
		c->cur = s;
		c->fetches++;
		if (old != NULL && --old->refs > 0) {
			old = NULL; // its last user frees it
		}
	}
	c->fetching = false;
	pthread_cond_broadcast(&c->fetched);
	pthread_mutex_unlock(&c->mu);
	snapshot_free(old);
	return s != NULL;
}

static core_jwt_result
verify_snapshot(core_jwks_cache *c, const char *token,
    const core_jwt_policy *pol, core_jwt_claims *out, const char **reason,
    uint64_t *gen)
{
	snapshot *s = acquire(c);
	*gen = s != NULL ? s->gen : 0;
	core_jwt_result r = core_jwt_verify(
	    s != NULL ? s->set : NULL, token, pol, out, reason);
	release(c, s);
	return r;
}

static void
memo_key(const char *token, const core_jwt_policy *pol, uint8_t key[16])
{
	crypto_generichash_state st;
	static const uint8_t zero = 0;
	crypto_generichash_init(&st, NULL, 0, 16);
	crypto_generichash_update(&st, (const uint8_t *) token, strlen(token));
	crypto_generichash_update(&st, &zero, 1);
	if (pol->issuer != NULL) {
		crypto_generichash_update(
		    &st, (const uint8_t *) pol->issuer, strlen(pol->issuer));
	}
	crypto_generichash_update(&st, &zero, 1);
	if (pol->audience != NULL) {
		crypto_generichash_update(&st, (const uint8_t *) pol->audience,
		    strlen(pol->audience));
	}
	crypto_generichash_final(&st, key, 16);
}

/* A hit whose time claims still hold under pol. */
static bool
memo_get(core_jwks_cache *c, const uint8_t key[16], const core_jwt_policy *pol,
    core_jwt_claims *out)
{
	size_t slot = (key[0] | (size_t) key[1] << 8) % MEMO_SLOTS;
	pthread_mutex_t *mu = &c->memo_mu[slot % MEMO_LOCKS];
	bool hit = false;
	pthread_mutex_lock(mu);
	const memo_slot *m = &c->memo[slot];
	if (m->used && memcmp(m->key, key, 16) == 0) {
		*out = m->claims;
		hit = true;
	}
	pthread_mutex_unlock(mu);
	if (!hit) {
		return false;
	}
	int64_t now = pol->now != 0 ? pol->now : (int64_t) time(NULL);
	int64_t leeway = core_jwt_policy_leeway(pol);
	return now - leeway < out->exp &&
	       (out->nbf == 0 || now + leeway >= out->nbf) &&
	       (out->iat == 0 || out->iat <= now + leeway);
}

static void
memo_put(core_jwks_cache *c, const uint8_t key[16], const core_jwt_claims *cl)
{
	size_t slot = (key[0] | (size_t) key[1] << 8) % MEMO_SLOTS;
	pthread_mutex_t *mu = &c->memo_mu[slot % MEMO_LOCKS];
	pthread_mutex_lock(mu);
	memo_slot *m = &c->memo[slot];
	m->used = true;
	memcpy(m->key, key, 16);
	m->claims = *cl;
	pthread_mutex_unlock(mu);
}

core_jwt_result
core_jwks_cache_verify(core_jwks_cache *c, const char *token,
    const core_jwt_policy *pol, core_jwt_claims *out, const char **reason)
{
	uint8_t key[16];
	core_jwt_claims cl;
	uint64_t gen;
	if (strlen(token) > (pol->max_len ? pol->max_len : 4096)) {
		*reason = "token too long";
		return CORE_JWT_INVALID;
	}
	memo_key(token, pol, key);
	if (memo_get(c, key, pol, &cl)) {
		*out = cl;
		*reason = "";
		return CORE_JWT_OK;
	}
	core_jwt_result r = verify_snapshot(c, token, pol, &cl, reason, &gen);
	if (r == CORE_JWT_UNKNOWN_KID && refresh(c, gen)) {
		// Once only: a kid still unknown after a refetch is the
		// token's fault.
		r = verify_snapshot(c, token, pol, &cl, reason, &gen);
	}
	if (r == CORE_JWT_OK) {
		memo_put(c, key, &cl);
		*out = cl;
	}
	return r;
}

uint64_t
core_jwks_cache_fetches(core_jwks_cache *c)
{
	pthread_mutex_lock(&c->mu);
	uint64_t n = c->fetches;
	pthread_mutex_unlock(&c->mu);
	return n;
}
