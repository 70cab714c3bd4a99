/* Token revocation in Redis (core/revocation.h): the one module that
 * knows the keys blacklist:<jti> and revoked_before:<user_id>. */
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/revocation.h"

#define USER_ID_MAX 63 /* bytes, the size of core_jwt_claims.sub - 1 */
#define KEY_MAX (sizeof("revoked_before:") + USER_ID_MAX)
#define MAX_LIFE_S (366 * 86400) /* of an access token; keeps ttl an int */

/* KEYS[1] = revoked_before:<uid>; ARGV = seconds, ttl. Keeps the larger
 * of the stored and the new value, so that a replica with a slower clock
 * cannot bring revoked tokens back. Returns the value kept. */
static const char revoke_tokens_lua[] =
    "local v = tonumber(ARGV[1])\n"
    "local cur = tonumber(redis.call('GET', KEYS[1]) or '')\n"
    "if cur and cur > v and cur < 1e18 then v = cur end\n"
    "redis.call('SET', KEYS[1], string.format('%d', v), 'EX', ARGV[2])\n"
    "return v\n";

int
core_redis_extra_add(core_redis_extra *x, int argc, const char *const *argv)
{
	if (x->n >= CORE_REDIS_EXTRA_MAX || argc < 1) {
		return -1;
	}
	x->argc[x->n] = argc;
	x->argv[x->n] = argv;
	x->reply[x->n] = NULL;
	return x->n++;
}

void
core_redis_extra_clear(core_redis_extra *x)
{
	for (int i = 0; i < x->n; i++) {
		freeReplyObject(x->reply[i]);
		x->reply[i] = NULL;
	}
	x->n = 0;
}

/* Unix seconds as Redis holds them: 1 to 18 decimal digits, nothing else
 * (18 digits cannot overflow an int64). */
static int
parse_seconds(const char *s, size_t n, int64_t *out)
{
	if (n == 0 || n > 18) {
		return -1;
	}
	int64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9') {
			return -1;
		}
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* The key revoked_before:<user_id> into key; -1 for a bad user id. */
static int
floor_key(const char *user_id, char key[KEY_MAX])
{
	size_t n = user_id ? strnlen(user_id, USER_ID_MAX + 1) : 0;
	if (n == 0 || n > USER_ID_MAX) {
		return -1;
	}
	snprintf(key, KEY_MAX, "revoked_before:%s", user_id);
	return 0;
}

core_status
core_revocation_query_build(core_revocation_query *q, const core_jwt_claims *c,
    const core_redis_extra *x)
{
	int n_extra = x != NULL ? x->n : 0;
	size_t jlen = strnlen(c->jti, sizeof(c->jti));
	size_t slen = strnlen(c->sub, sizeof(c->sub));
	if (jlen == 0 || jlen == sizeof(c->jti) || slen == 0 ||
	    slen == sizeof(c->sub) || n_extra < 0 ||
	    n_extra > CORE_REDIS_EXTRA_MAX) {
		return CORE_INVALID_ARGUMENT;
	}
	snprintf(q->bkey, sizeof(q->bkey), "blacklist:%s", c->jti);
	snprintf(q->rkey, sizeof(q->rkey), "revoked_before:%s", c->sub);
	q->exists[0] = "EXISTS";
	q->exists[1] = q->bkey;
	q->get[0] = "GET";
	q->get[1] = q->rkey;
	q->argv[0] = q->exists;
	q->argv[1] = q->get;
	q->argc[0] = q->argc[1] = 2;
	for (int i = 0; i < n_extra; i++) {
		q->argv[2 + i] = x->argv[i];
		q->argc[2 + i] = x->argc[i];
	}
	q->n = 2 + n_extra;
	return CORE_OK;
}

core_status
core_revocation_eval(const core_revocation_query *q, const core_jwt_claims *c,
    redisReply **rep, core_redis_extra *x, bool *revoked)
{
	core_status st = CORE_OK;
	if (rep[0] == NULL || rep[1] == NULL ||
	    rep[0]->type != REDIS_REPLY_INTEGER ||
	    (rep[1]->type != REDIS_REPLY_NIL &&
	        rep[1]->type != REDIS_REPLY_STRING)) {
		const redisReply *bad =
		    rep[0] != NULL && rep[0]->type == REDIS_REPLY_ERROR
		        ? rep[0]
		    : rep[1] != NULL && rep[1]->type == REDIS_REPLY_ERROR
		        ? rep[1]
		        : NULL;
		core_log_kv(CORE_LOG_ERROR, "unexpected redis reply", "op",
		    "revocation.check", "error",
		    bad != NULL && bad->str != NULL
		        ? bad->str
		        : "reply of the wrong type",
		    NULL);
		st = CORE_INTERNAL;
		goto done;
	}
	bool out = rep[0]->integer != 0;
	if (rep[1]->type == REDIS_REPLY_STRING) {
		int64_t before;
		if (parse_seconds(rep[1]->str, rep[1]->len, &before) != 0) {
			// Fail closed: a bad value must not re-enable tokens.
			core_log_kv(CORE_LOG_WARN,
			    "revocation check: malformed value; token treated "
			    "as revoked",
			    "key", q->rkey, NULL);
			out = true;
		} else if (c->iat < before) {
			out = true;
		}
	}
	*revoked = out;
	for (int i = 2; x != NULL && i < q->n; i++) {
		x->reply[i - 2] = rep[i];
		rep[i] = NULL;
	}
done:
	for (int i = 0; i < q->n; i++) {
		freeReplyObject(rep[i]);
		rep[i] = NULL;
	}
	return st;
}

core_status
core_revocation_check(core_redis *r, const core_jwt_claims *c,
    core_redis_extra *x, bool *revoked)
{
	core_revocation_query q;
	redisReply *rep[2 + CORE_REDIS_EXTRA_MAX] = {NULL};
	core_status st = core_revocation_query_build(&q, c, x);
	if (st != CORE_OK) {
		return st;
	}
	// One round trip for all: this runs on every authenticated call.
	st = core_redis_pipeline(r, q.n, q.argc, q.argv, NULL, rep);
	if (st != CORE_OK) {
		return st;
	}
	return core_revocation_eval(&q, c, rep, x, revoked);
}

core_status
core_revoke_token(core_redis *r, const core_jwt_claims *c, int64_t now_s)
{
	size_t jlen = strnlen(c->jti, sizeof(c->jti));
	if (jlen == 0 || jlen == sizeof(c->jti)) {
		return CORE_INVALID_ARGUMENT;
	}
	int64_t left = c->exp - now_s;
	if (left < 0) {
		left = 0;
	}
	left += CORE_JWT_DEFAULT_LEEWAY_S + CORE_REVOCATION_MARGIN_S;
	char key[sizeof("blacklist:") + sizeof(c->jti)], ttl[24];
	snprintf(key, sizeof(key), "blacklist:%s", c->jti);
	snprintf(ttl, sizeof(ttl), "%lld", (long long) left);
	const char *argv[] = {"SET", key, "1", "EX", ttl};
	redisReply *rep = NULL;
	core_status st = core_redis_commandargv(r, 5, argv, NULL, &rep);
	if (st == CORE_OK && rep->type == REDIS_REPLY_ERROR) {
		st = core_redis_unexpected(r, "revocation.revoke_token");
	}
	freeReplyObject(rep);
	return st;
}

core_status
core_revoke_user_tokens(
    core_redis *r, const char *user_id, int64_t now_s, int max_life_s)
{
	char key[KEY_MAX], when[24], ttl[16];
	redisReply *rep;

	if (floor_key(user_id, key) != 0 || max_life_s <= 0 ||
	    max_life_s > MAX_LIFE_S || now_s <= 0) {
		return CORE_INVALID_ARGUMENT;
	}
	snprintf(when, sizeof(when), "%lld", (long long) now_s + 1);
	snprintf(ttl, sizeof(ttl), "%d",
	    max_life_s + CORE_JWT_DEFAULT_LEEWAY_S + CORE_REVOCATION_MARGIN_S);
	const char *argv[] = {"EVAL", revoke_tokens_lua, "1", key, when, ttl};
	core_status st = core_redis_commandargv(r, 6, argv, NULL, &rep);
	if (st != CORE_OK) {
		return st;
	}
	if (rep->type != REDIS_REPLY_INTEGER) {
		st = core_redis_unexpected(r, "revocation.revoke_user_tokens");
	}
	freeReplyObject(rep);
	return st;
}

core_status
core_revocation_floor(core_redis *r, const char *user_id, int64_t *floor_s)
{
	return core_revocation_floor_with(r, user_id, NULL, floor_s);
}

core_status
core_revocation_floor_with(
    core_redis *r, const char *user_id, core_redis_extra *x, int64_t *floor_s)
{
	char key[KEY_MAX];
	enum { MAX_EXTRA = CORE_REDIS_EXTRA_MAX };
	redisReply *rep[1 + MAX_EXTRA] = {NULL};
	const char *const *argvs[1 + MAX_EXTRA];
	int argcs[1 + MAX_EXTRA];
	int n_extra = x != NULL ? x->n : 0;

	if (floor_key(user_id, key) != 0 || n_extra < 0 ||
	    n_extra > MAX_EXTRA) {
		return CORE_INVALID_ARGUMENT;
	}
	const char *get[] = {"GET", key};
	argvs[0] = get;
	argcs[0] = 2;
	for (int i = 0; i < n_extra; i++) {
		argvs[1 + i] = x->argv[i];
		argcs[1 + i] = x->argc[i];
	}
	core_status st =
	    core_redis_pipeline(r, 1 + n_extra, argcs, argvs, NULL, rep);
	if (st != CORE_OK) {
		return st;
	}
	*floor_s = 0;
	if (rep[0]->type == REDIS_REPLY_STRING) {
		if (parse_seconds(rep[0]->str, rep[0]->len, floor_s) != 0) {
			*floor_s = 0;
		}
	} else if (rep[0]->type != REDIS_REPLY_NIL) {
		st = core_redis_unexpected(r, "revocation.revocation_floor");
	}
	for (int i = 0; st == CORE_OK && i < n_extra; i++) {
		x->reply[i] = rep[1 + i];
		rep[1 + i] = NULL;
	}
	for (int i = 0; i < 1 + n_extra; i++) {
		freeReplyObject(rep[i]);
	}
	return st;
}
