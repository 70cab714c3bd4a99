/* Revocation of access tokens: the only code that reads or writes the Redis
 * keys blacklist:<jti> (one token, until it expires) and
 * revoked_before:<user_id> (every token of a user issued before a second).
 *
 * svc-auth writes (logout, password and admin changes); every service that
 * verifies tokens reads, on each authenticated call, in one pipelined round
 * trip to which a caller may add its own reads (GetProfile adds
 * GET profile:<user>). Without Redis the answer is unknown, and callers fail
 * closed. */
#ifndef CORE_REVOCATION_H
#define CORE_REVOCATION_H

#include <stdbool.h>
#include <stdint.h>

#include "core/jws.h"
#include "core/redis.h"
#include "core/status.h"

#define CORE_REDIS_EXTRA_MAX 8

/* Other commands to send in the same round trip as a revocation check, and
 * their replies. Start from {0}. */
typedef struct core_redis_extra {
	int n;
	int argc[CORE_REDIS_EXTRA_MAX];
	const char *const *argv[CORE_REDIS_EXTRA_MAX];
	/* Written by a successful check; owned by this struct until
	 * core_redis_extra_clear. */
	redisReply *reply[CORE_REDIS_EXTRA_MAX];
} core_redis_extra;

/* Adds a command; argv (argc NUL-terminated strings) must stay valid until
 * the check has run (static strings or the call's arena). Returns its
 * index, or -1 when CORE_REDIS_EXTRA_MAX commands are already there. */
int core_redis_extra_add(
    core_redis_extra *x, int argc, const char *const *argv);

/* Frees the replies and empties x. */
void core_redis_extra_clear(core_redis_extra *x);

/* Asks Redis whether a verified token was revoked: EXISTS blacklist:<jti>
 * and GET revoked_before:<sub>, plus extra's commands (x may be NULL), in
 * one pipelined round trip. It is revoked when the blacklist key exists, or
 * when iat < revoked_before (Unix seconds; a malformed value counts as
 * revoked and is logged). On CORE_OK *revoked is set and x's replies are
 * filled. Otherwise the answer is unknown and the caller must reject the
 * token (fail closed): CORE_UNAVAILABLE when Redis is down, CORE_INTERNAL
 * for an error reply, CORE_INVALID_ARGUMENT when jti or sub is empty; x's
 * replies are then left NULL. */
core_status core_revocation_check(core_redis *r, const core_jwt_claims *c,
    core_redis_extra *x, bool *revoked) CORE_WARN_UNUSED;

/* The round trip of a revocation check in two halves, for a caller that
 * sends the commands itself (the server's pipelined connection): build
 * the commands, send q->n commands q->argv[i] (q->argc[i] arguments) in
 * order, then hand their replies to core_revocation_eval.
 * core_revocation_check is the two with one core_redis_pipeline between. */
typedef struct core_revocation_query {
	int n; /* commands: the check's two, then extra's */
	int argc[2 + CORE_REDIS_EXTRA_MAX];
	const char *const *argv[2 + CORE_REDIS_EXTRA_MAX];
	/* What argv points into: q must not move until it is sent. */
	char bkey[sizeof("blacklist:") + sizeof(((core_jwt_claims *) 0)->jti)];
	char rkey[sizeof("revoked_before:") +
	          sizeof(((core_jwt_claims *) 0)->sub)];
	const char *exists[2];
	const char *get[2];
} core_revocation_query;

/* Fills q for the claims c plus extra's commands (x may be NULL; its argv
 * must outlive the read). CORE_INVALID_ARGUMENT when jti or sub is
 * empty. */
core_status core_revocation_query_build(core_revocation_query *q,
    const core_jwt_claims *c, const core_redis_extra *x) CORE_WARN_UNUSED;

/* Judges the replies rep[0..q->n-1] of q's commands, taking them over
 * (each is freed or moved into x, and set to NULL). Results as
 * core_revocation_check's after a round trip that succeeded. */
core_status core_revocation_eval(const core_revocation_query *q,
    const core_jwt_claims *c, redisReply **rep, core_redis_extra *x,
    bool *revoked) CORE_WARN_UNUSED;

/* Both keys must outlive what they revoke: a verifier accepts a token
 * until exp + its leeway (CORE_JWT_DEFAULT_LEEWAY_S, which every service's
 * method rules use), by its own clock. So each key lives that long plus
 * this margin for clocks that disagree. */
#define CORE_REVOCATION_MARGIN_S 90

/* Revokes one token for as long as any verifier could accept it: SET
 * blacklist:<jti> with a TTL of its remaining life as of now_s (Unix
 * seconds; none when already expired) + the leeway + the margin.
 * Idempotent. */
core_status core_revoke_token(
    core_redis *r, const core_jwt_claims *c, int64_t now_s) CORE_WARN_UNUSED;

/* Makes every access token of user_id issued before now_s + 1 (Unix
 * seconds) fail verification: sets revoked_before:<user_id> to now_s + 1,
 * never lowering a value already there (so a replica with a slower clock
 * cannot bring revoked tokens back), for max_life_s (the longest life of
 * an access token) + the leeway + the margin: past that every token it
 * revokes is refused by its time claims. The + 1 takes in the tokens of
 * the current second, which is why issuers wait for core_revocation_floor.
 * CORE_INVALID_ARGUMENT for an empty or over-long user id, a bad time or a
 * max_life_s not in 1..1 year. */
core_status core_revoke_user_tokens(core_redis *r, const char *user_id,
    int64_t now_s, int max_life_s) CORE_WARN_UNUSED;

/* The user's revoked_before: a token is only valid with an iat at or after
 * *floor_s. 0 when there is none (or it is not a number, which the check
 * treats as revoking everything anyway). */
core_status core_revocation_floor(
    core_redis *r, const char *user_id, int64_t *floor_s) CORE_WARN_UNUSED;

/* core_revocation_floor plus extra's commands (x may be NULL) in one
 * pipelined round trip, the GET first; on CORE_OK x's replies are filled,
 * otherwise they are left NULL (as core_revocation_check). An issuer that
 * must also read something of its own before minting a token saves a
 * round trip. */
core_status core_revocation_floor_with(core_redis *r, const char *user_id,
    core_redis_extra *x, int64_t *floor_s) CORE_WARN_UNUSED;

#endif
