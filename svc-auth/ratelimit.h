/* Login throttling in Redis: failed attempts counted per key in a window
 * that decays by itself (the counter expires window_s after its first hit).
 * Throttle, don't lock out: a key over the limit is refused only until the
 * window ends, so an attacker can slow a real user down but not lock them
 * out for long. */
#ifndef AUTH_RATELIMIT_H
#define AUTH_RATELIMIT_H

#include <stdbool.h>

#include "core/redis.h"
#include "core/status.h"

/* Counts one attempt for each of the n keys (e.g. "ratelimit:login:user:ada"
 * and "ratelimit:login:ip:192.0.2.1"), atomically and before the password
 * is checked, in one round trip. *allowed is false when any key is now over
 * its limit (limits[i] attempts per window_s); *retry_after_s then says when
 * the longest-waiting of those keys frees up. */
core_status auth_ratelimit_hit(core_redis *r, int n, const char *const *keys,
    const int *limits, int window_s, bool *allowed, int *retry_after_s);

/* Forgets the attempts of key (after a successful login, for the username
 * key only: a success must not reset the per-IP count). */
core_status auth_ratelimit_reset(core_redis *r, const char *key);

/* Gives one attempt back to key: the hit of an attempt that turned out to
 * be no guess (a successful login), so that only failures use up a
 * window. Never below zero; a key that has expired meanwhile stays
 * gone. */
core_status auth_ratelimit_undo(core_redis *r, const char *key);

#endif
