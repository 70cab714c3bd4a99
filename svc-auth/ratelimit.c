/* Login throttling in Redis: fixed windows counted by a Lua script, so the
 * count and its expiry are set together (an INCR whose EXPIRE was lost
 * would never decay) and all keys are counted in one round trip. */
#include <stdio.h>
#include <string.h>

#include "auth_metrics.h"
#include "core/log.h"
#include "ratelimit.h"

/* More keys than a login needs (user, IP, maybe a subnet) is a bug. */
#define RATELIMIT_KEYS_MAX 16

/* KEYS = the counters; ARGV[1] = window_s. Returns {count, pttl_ms} for
 * each key. The expiry is set by the first hit only, so hits while a key is
 * over its limit do not push its window further out: throttling, never a
 * lockout that an attacker can keep alive. A counter found without an
 * expiry (written by something else) gets one rather than living forever. */
static const char hit_lua[] =
    "local out = {}\n"
    "for _, k in ipairs(KEYS) do\n"
    "  local c = redis.call('INCR', k)\n"
    "  if c == 1 then redis.call('EXPIRE', k, ARGV[1]) end\n"
    "  local t = redis.call('PTTL', k)\n"
    "  if t < 0 then\n"
    "    redis.call('EXPIRE', k, ARGV[1])\n"
    "    t = tonumber(ARGV[1]) * 1000\n"
    "  end\n"
    "  out[#out + 1] = c\n"
    "  out[#out + 1] = t\n"
    "end\n"
    "return out\n";

core_status
auth_ratelimit_hit(core_redis *r, int n, const char *const *keys,
    const int *limits, int window_s, bool *allowed, int *retry_after_s)
{
	const char *argv[RATELIMIT_KEYS_MAX + 4];
	char nkeys[16], window[16];
	redisReply *rep;

	if (n < 1 || n > RATELIMIT_KEYS_MAX || window_s < 1) {
		return CORE_INVALID_ARGUMENT;
	}
	snprintf(nkeys, sizeof(nkeys), "%d", n);
	snprintf(window, sizeof(window), "%d", window_s);
	argv[0] = "EVAL";
	argv[1] = hit_lua;
	argv[2] = nkeys;
	for (int i = 0; i < n; i++) {
		if (keys[i] == NULL || keys[i][0] == '\0') {
			return CORE_INVALID_ARGUMENT;
		}
		argv[3 + i] = keys[i];
	}
	argv[3 + n] = window;
	core_status st = core_redis_commandargv(r, n + 4, argv, NULL, &rep);
	if (st != CORE_OK) {
		return st;
	}
	if (rep->type != REDIS_REPLY_ARRAY ||
	    rep->elements != 2 * (size_t) n) {
		st = CORE_INTERNAL;
		goto done;
	}
	bool ok = true;
	long long wait_ms = 0;
	int worst = 0; /* the key whose window ends last decides the wait */
	for (int i = 0; i < n; i++) {
		const redisReply *c = rep->element[2 * i];
		const redisReply *t = rep->element[2 * i + 1];
		if (c->type != REDIS_REPLY_INTEGER ||
		    t->type != REDIS_REPLY_INTEGER) {
			st = CORE_INTERNAL;
			goto done;
		}
		if (c->integer > limits[i]) {
			if (ok || t->integer > wait_ms) {
				wait_ms = t->integer;
				worst = i;
			}
			ok = false;
		}
	}
	*allowed = ok;
	if (!ok) {
		auth_metrics_throttled(keys[worst]);
	}
	if (retry_after_s != NULL) {
		// Rounded up, and at least 1: "retry in 0 s" invites a loop.
		long long s = ok ? 0 : (wait_ms + 999) / 1000;
		*retry_after_s = ok ? 0 : (int) (s < 1 ? 1 : s);
	}
done:
	if (st != CORE_OK) {
		core_log_kv(CORE_LOG_ERROR,
		    "ratelimit: unexpected redis reply", "error",
		    core_redis_error(r), NULL);
	}
	freeReplyObject(rep);
	return st;
}

core_status
auth_ratelimit_reset(core_redis *r, const char *key)
{
	redisReply *rep;

	if (key == NULL || key[0] == '\0') {
		return CORE_INVALID_ARGUMENT;
	}
	const char *argv[] = {"DEL", key};
	core_status st = core_redis_commandargv(r, 2, argv, NULL, &rep);
	if (st == CORE_OK) {
		freeReplyObject(rep);
	}
	return st;
}

/* KEYS[1] = the counter. Decrements it only while it is above zero, so a
 * give-back can never create a key or leave it without its expiry. */
static const char undo_lua[] =
    "local c = tonumber(redis.call('GET', KEYS[1]))\n"
    "if c and c > 0 then return redis.call('DECR', KEYS[1]) end\n"
    "return 0\n";

core_status
auth_ratelimit_undo(core_redis *r, const char *key)
{
	redisReply *rep;

	if (key == NULL || key[0] == '\0') {
		return CORE_INVALID_ARGUMENT;
	}
	const char *argv[] = {"EVAL", undo_lua, "1", key};
	core_status st = core_redis_commandargv(r, 4, argv, NULL, &rep);
	if (st == CORE_OK) {
		freeReplyObject(rep);
	}
	return st;
}
