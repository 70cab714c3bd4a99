/* The JWKS cache (core/jwks_cache.h). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core/clock.h"
#include "core/jwks_cache.h"
#include "core/log.h"
#include "core/metrics.h"

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
 * An entry holds only for the generation of the set that verified it (0 =
 * none), so a key dropped from the set takes its tokens with it. Time
 * claims are checked again on every hit; revocation is never cached. */
#define MEMO_SLOTS 4096
#define MEMO_LOCKS 64

typedef struct memo_slot {
	uint64_t gen;
	uint8_t key[16];
	core_jwt_claims claims;
} memo_slot;

/* Why a verification asks for a fetch. */
typedef enum need {
	NEED_KID,   // a kid not in the set (or no set yet)
	NEED_FRESH, // the set is past its max age
} need;

struct core_jwks_cache {
	memo_slot *memo;
	pthread_mutex_t memo_mu[MEMO_LOCKS];
	pthread_mutex_t mu;
	pthread_cond_t fetched; // broadcast when a fetch ends
	snapshot *cur;          // NULL until the first good fetch
	/* Written under mu; read without it on the memo's path, which needs
	 * no snapshot. */
	_Atomic uint64_t gen; // of cur; 0 = none yet
	_Atomic int64_t
	    expires_ms; // monotonic: cur is fetched again from then
	bool fetching;
	bool tried;            // a fetch has started at least once
	bool failing;          // the last fetch failed
	int64_t last_fetch_ms; // monotonic start of the last fetch
	uint64_t fetches;      // successful ones
	core_jwks_fetch_fn fetch;
	void *arg;
	int min_refetch_ms;
	/* jwks_refetches_total{outcome="ok"|"error"} of the component that
	 * made the cache. */
	core_metric_series *fetched_ok, *fetch_failed;
};

/* The cache's series, for the calling thread's component. */
static void
metrics_init(core_jwks_cache *c)
{
	static const char *const labels[] = {"outcome", NULL};
	static const char *const ok[] = {"ok"}, *const error[] = {"error"};
	core_metric *f = core_metric_family(CORE_METRIC_COUNTER,
	    "jwks_refetches_total",
	    "Fetches of svc-auth's public keys (JWKS) by outcome: the first, "
	    "those for an unknown kid and those of a set past its max age.",
	    labels, NULL, 0);
	if (f != NULL) {
		c->fetched_ok = core_metric_series_get(f, NULL, ok);
		c->fetch_failed = core_metric_series_get(f, NULL, error);
	}
}

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
	metrics_init(c);
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

/* Calls fetch and parses its document; NULL (logged) on any failure.
 * Writes the set's max age, within bounds, to *max_age_ms. */
static core_jwks *
fetch_set(core_jwks_cache *c, int64_t *max_age_ms)
{
	char *json = NULL;
	size_t len = 0;
	core_jwks *set = NULL;
	char err[160];
	int age = 0;

	if (c->fetch(c->arg, &json, &len, &age) != 0 || json == NULL) {
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
	*max_age_ms = age <= 0 ? CORE_JWKS_DEFAULT_MAX_AGE_MS : age;
	if (*max_age_ms > CORE_JWKS_MAX_AGE_CAP_MS) {
		*max_age_ms = CORE_JWKS_MAX_AGE_CAP_MS;
	}
	return set;
}

/* Puts a fetched set in place (under the cache's mutex): a new snapshot
 * and generation when it differs from the current one, else only a later
 * expiry. Returns the snapshot it replaced, for the caller to free when
 * this was its last reference (NULL otherwise), and whether the set
 * changed in *changed. set belongs to the cache from here on. */
static snapshot *
install(core_jwks_cache *c, core_jwks *set, int64_t expires_ms, bool *changed)
{
	*changed = false;
	if (c->cur != NULL && core_jwks_same(c->cur->set, set)) {
		core_jwks_free(set);
		c->fetches++;
		c->expires_ms = expires_ms;
		return NULL;
	}
	snapshot *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		core_jwks_free(set); // as if the fetch had failed
		c->failing = true;
		return NULL;
	}
	c->fetches++;
	c->expires_ms = expires_ms;
	s->set = set;
	s->refs = 1; // the cache's own reference
	s->gen = ++c->gen;
	snapshot *old = c->cur;
	c->cur = s;
	*changed = true;
	return old != NULL && --old->refs == 0 ? old : NULL;
}

/* Whether a verification that saw generation seen, for reason why, must
 * fetch now; false when another fetch has already answered it (*retry:
 * a different set is in place) or one is not allowed yet. Waits for a
 * fetch under way, except a NEED_FRESH one while fetches fail. Called and
 * returns with the cache's mutex held. */
static bool
must_fetch(core_jwks_cache *c, uint64_t seen, need why, bool *retry)
{
	*retry = false;
	while (c->fetching) {
		if (why == NEED_FRESH && c->failing) {
			return false; // go on with the old set meanwhile
		}
		pthread_cond_wait(&c->fetched, &c->mu);
	}
	if (c->gen != seen) {
		*retry = true;
		return false;
	}
	int64_t now = core_monotonic_ms();
	if (why == NEED_FRESH && c->cur != NULL && now < c->expires_ms) {
		return false; // fetched meanwhile: the same set, still fresh
	}
	return !(c->tried && now - c->last_fetch_ms < c->min_refetch_ms);
}

/* Fetches the keys for a verification that saw generation seen, unless
 * must_fetch says another fetch has answered or it is too soon. Returns
 * true when a different set than seen is in place (worth a retry). Only
 * one thread fetches; within min_refetch_ms of the last fetch nobody
 * fetches at all, so a flood of tokens with made-up kids cannot flood
 * svc-auth. */
static bool
refresh(core_jwks_cache *c, uint64_t seen, need why)
{
	bool retry = false;
	pthread_mutex_lock(&c->mu);
	if (!must_fetch(c, seen, why, &retry)) {
		pthread_mutex_unlock(&c->mu);
		return retry;
	}
	int64_t start = core_monotonic_ms();
	c->fetching = true;
	c->tried = true;
	c->last_fetch_ms = start;
	pthread_mutex_unlock(&c->mu);

	// No lock is held while fetching: verifiers with fresh keys go on.
	int64_t max_age = 0;
	core_jwks *set = fetch_set(c, &max_age);
	core_metric_inc(set != NULL ? c->fetched_ok : c->fetch_failed);
	snapshot *old = NULL;
	bool changed = false;
	pthread_mutex_lock(&c->mu);
	c->failing = set == NULL;
	if (set != NULL) {
		// From the start of the fetch: the set may be older than its
		// arrival, never younger.
		old = install(c, set, start + max_age, &changed);
	}
	c->fetching = false;
	pthread_cond_broadcast(&c->fetched);
	pthread_mutex_unlock(&c->mu);
	snapshot_free(old);
	return changed;
}

/* The generation of the current set (0: none yet), after fetching the set
 * again when it is past its max age. */
static uint64_t
fresh_gen(core_jwks_cache *c)
{
	uint64_t gen = atomic_load(&c->gen);
	if (gen != 0 && core_monotonic_ms() >= atomic_load(&c->expires_ms)) {
		(void) refresh(c, gen, NEED_FRESH);
		gen = atomic_load(&c->gen);
	}
	return gen;
}

static core_jwt_result
verify_with(const snapshot *s, const char *token, const core_jwt_policy *pol,
    core_jwt_claims *out, const char **reason)
{
	return core_jwt_verify(
	    s != NULL ? s->set : NULL, token, pol, out, reason);
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

/* A hit verified with generation gen whose time claims still hold under
 * pol. */
static bool
memo_get(core_jwks_cache *c, const uint8_t key[16], uint64_t gen,
    const core_jwt_policy *pol, core_jwt_claims *out)
{
	size_t slot = (key[0] | (size_t) key[1] << 8) % MEMO_SLOTS;
	pthread_mutex_t *mu = &c->memo_mu[slot % MEMO_LOCKS];
	bool hit = false;
	pthread_mutex_lock(mu);
	const memo_slot *m = &c->memo[slot];
	if (gen != 0 && m->gen == gen && memcmp(m->key, key, 16) == 0) {
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
memo_put(core_jwks_cache *c, const uint8_t key[16], uint64_t gen,
    const core_jwt_claims *cl)
{
	size_t slot = (key[0] | (size_t) key[1] << 8) % MEMO_SLOTS;
	pthread_mutex_t *mu = &c->memo_mu[slot % MEMO_LOCKS];
	pthread_mutex_lock(mu);
	memo_slot *m = &c->memo[slot];
	m->gen = gen;
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
	if (strlen(token) > (pol->max_len ? pol->max_len : 4096)) {
		*reason = "token too long";
		return CORE_JWT_INVALID;
	}
	memo_key(token, pol, key);
	if (memo_get(c, key, fresh_gen(c), pol, &cl)) {
		*out = cl;
		*reason = "";
		return CORE_JWT_OK;
	}
	snapshot *s = acquire(c);
	uint64_t gen = s != NULL ? s->gen : 0;
	core_jwt_result r = verify_with(s, token, pol, &cl, reason);
	release(c, s);
	if (r == CORE_JWT_UNKNOWN_KID && refresh(c, gen, NEED_KID)) {
		// Once only: a kid still unknown after a refetch is the
		// token's fault.
		s = acquire(c);
		gen = s != NULL ? s->gen : 0;
		r = verify_with(s, token, pol, &cl, reason);
		release(c, s);
	}
	if (r == CORE_JWT_OK) {
		memo_put(c, key, gen, &cl);
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

uint64_t
core_jwks_cache_generation(core_jwks_cache *c)
{
	return atomic_load(&c->gen);
}
