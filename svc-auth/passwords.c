/* Argon2id through the password-hash gate; see passwords.h. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "auth_metrics.h"
#include "auth_worker.h"
#include "core/log.h"
#include "passwords.h"

/* Monotonic microseconds, for the hash's durations. */
static int64_t
monotonic_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* How long the call may wait for a slot: until its deadline less the
 * expected duration of the hash itself (a hash that ends after the caller
 * has given up is wasted work); no limit without a deadline. */
static int64_t
wait_budget(core_call *c, auth_hash_gate *g)
{
	int64_t left = core_call_remaining_ms(c);
	if (left == INT64_MAX) {
		return -1;
	}
	int64_t wait = left - auth_hash_gate_expected_ms(g);
	return wait > 0 ? wait : 0;
}

/* A refusal of the gate, answered on c. */
static core_status
busy(core_call *c, uint32_t retry)
{
	core_call_set_retry_after(c, retry);
	return core_call_error(c, CORE_RESOURCE_EXHAUSTED,
	    "the server is busy; try again in %u s", retry);
}

/* Takes a slot for c, answering a refusal on c. *t0 is when the wait
 * began (microseconds, monotonic). */
static core_status
enter(core_call *c, auth_hash_kind kind, int64_t *t0)
{
	auth_worker *w = core_call_state(c);
	auth_hash_gate *g = w->cfg->hash_gate;
	uint32_t retry = 0;
	*t0 = monotonic_us();
	core_status st =
	    auth_hash_gate_enter(g, kind, wait_budget(c, g), &retry);
	if (st == CORE_RESOURCE_EXHAUSTED) {
		return busy(c, retry);
	}
	if (st == CORE_OK) {
		auth_metrics_argon2_wait(
		    (double) (monotonic_us() - *t0) / 1e6);
		core_log_kv(CORE_LOG_DEBUG, "password hash started", "kind",
		    kind == AUTH_HASH_LOGIN ? "login" : "register", NULL);
		return CORE_OK;
	}
	return core_call_error(c, CORE_DEADLINE_EXCEEDED,
	    "the server is busy: no time was left for the password check "
	    "before the deadline");
}

core_status
auth_password_admit(core_call *c)
{
	auth_worker *w = core_call_state(c);
	uint32_t retry = 0;
	return auth_hash_gate_check(
	           w->cfg->hash_gate, AUTH_HASH_REGISTER, &retry) == CORE_OK
	           ? CORE_OK
	           : busy(c, retry);
}

/* Gives the slot back and logs the hash (debug: one line per hash, which
 * is what shows that a call hashed). */
static void
leave(core_call *c, auth_hash_kind kind, int64_t t0, int64_t t1)
{
	auth_worker *w = core_call_state(c);
	int64_t t2 = monotonic_us();
	auth_hash_gate_leave(w->cfg->hash_gate, t2 - t1);
	if (core_log_enabled(CORE_LOG_DEBUG)) {
		char waited[24], took[24];
		snprintf(
		    waited, sizeof(waited), "%lld", (long long) (t1 - t0));
		snprintf(took, sizeof(took), "%lld", (long long) (t2 - t1));
		core_log_kv(CORE_LOG_DEBUG, "password hash", "kind",
		    kind == AUTH_HASH_LOGIN ? "login" : "register", "wait_us",
		    waited, "hash_us", took, NULL);
	}
}

core_status
auth_password_hash(
    core_call *c, const char *password, char *out, size_t outlen)
{
	auth_worker *w = core_call_state(c);
	int64_t t0 = 0;
	if (outlen < crypto_pwhash_STRBYTES) {
		return core_call_error(c, CORE_INTERNAL, "hash buffer");
	}
	core_status st = enter(c, AUTH_HASH_REGISTER, &t0);
	if (st != CORE_OK) {
		return st;
	}
	int64_t t1 = monotonic_us();
	int rv = crypto_pwhash_str_alg(out, password, strlen(password),
	    w->cfg->argon2_opslimit, w->cfg->argon2_memlimit,
	    crypto_pwhash_ALG_ARGON2ID13);
	leave(c, AUTH_HASH_REGISTER, t0, t1);
	if (rv != 0) {
		sodium_memzero(out, outlen);
		/* Only fails when the memory for Argon2 is not there. */
		return core_call_error(c, CORE_RESOURCE_EXHAUSTED,
		    "the server is too busy to register now; try again");
	}
	return CORE_OK;
}

core_status
auth_password_verify(
    core_call *c, const char *hash, const char *password, bool *match)
{
	int64_t t0 = 0;
	core_status st = enter(c, AUTH_HASH_LOGIN, &t0);
	if (st != CORE_OK) {
		return st;
	}
	int64_t t1 = monotonic_us();
	*match =
	    crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
	leave(c, AUTH_HASH_LOGIN, t0, t1);
	return CORE_OK;
}
