/* Login sessions and refresh tokens in Redis.
 *
 * A refresh token is "<sid>.<secret>": sid is 16 random bytes and secret
 * 32 random bytes, both base64url. Redis keeps, under session:<sid> (a hash,
 * TTL = the refresh lifetime), the user id, a hash of the current secret and
 * of the previous one (never a secret), when it was rotated, created and
 * last used, and the client's IP and user agent. user_sessions:<user_id> is
 * a set of the user's sids (for listing and revoke-all). Rotation and reuse
 * detection run as one Lua script, so two refreshes can never both win.
 *
 * The grace rule, which keeps two tabs that refresh at once both logged in:
 * the first refresh with secret S rotates normally (prev = S, cur = A); the
 * second, if it comes within grace_ms of that rotation, is issued B as a
 * second current secret (cur2) and spends S's one grace use, so A and B are
 * both valid. Whichever of them is presented first rotates normally, and
 * the other becomes a superseded secret like any other. The hash also keeps
 * (field "old") the hashes of the last 16 superseded secrets, so presenting
 * one of them is recognised as reuse; a secret never issued for the sid is
 * merely invalid (the sid appears in access tokens, so knowing it must not
 * be enough to revoke a session). */
#ifndef AUTH_SESSIONS_H
#define AUTH_SESSIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/jws.h"
#include "core/redis.h"
#include "core/revocation.h"
#include "core/status.h"

#define AUTH_SID_MAX 32           /* base64url of 16 bytes + NUL fits */
#define AUTH_REFRESH_TOKEN_MAX 96 /* "<sid>.<secret>" + NUL fits */

typedef struct auth_session {
	char sid[AUTH_SID_MAX];
	char user_id[37];
	int64_t created_ms;
	int64_t last_used_ms;
	char client_ip[64];
	char user_agent[256];
	/* How the login of the session was proven (CORE_AMR_* bits): filled
	 * by auth_session_refresh only, so that a refreshed token keeps
	 * its login's amr. */
	unsigned amr;
} auth_session;

/* Creates a session for user_id and writes its refresh token (NUL
 * terminated, < AUTH_REFRESH_TOKEN_MAX) to token and its id to sid.
 * client_ip and user_agent (NULL = "") are stored truncated to their
 * buffers. CORE_INVALID_ARGUMENT when user_id is empty or longer than 36
 * bytes or ttl_s <= 0; CORE_UNAVAILABLE when Redis is down (then nothing
 * was stored: the writes are one MULTI/EXEC). */
core_status auth_session_create(core_redis *r, const char *user_id,
    const char *client_ip, const char *user_agent, int ttl_s,
    char token[AUTH_REFRESH_TOKEN_MAX], char sid[AUTH_SID_MAX]);

/* auth_session_create for a login proven by amr (CORE_AMR_* bits), which
 * the session keeps for the tokens its refreshes mint; auth_session_create
 * is this with CORE_AMR_PWD. */
core_status auth_session_create_amr(core_redis *r, const char *user_id,
    const char *client_ip, const char *user_agent, unsigned amr, int ttl_s,
    char token[AUTH_REFRESH_TOKEN_MAX], char sid[AUTH_SID_MAX]);

typedef enum auth_refresh_result {
	AUTH_REFRESH_OK,      /* rotated: new token written */
	AUTH_REFRESH_INVALID, /* malformed, unknown or expired session */
	AUTH_REFRESH_REUSED,  /* an old secret: the session was revoked */
} auth_refresh_result;

/* Rotates the refresh token: presenting the current secret, or the
 * immediately previous one within grace_ms of the rotation that replaced it
 * (two tabs refreshing at once; accepted once), yields a new token (written
 * to new_token) and fills s (user id, sid...). Presenting an older secret,
 * or the previous one after the grace window or a second time, is reuse:
 * the whole session is deleted (see the grace rule above; a secret that was
 * never issued is INVALID, not reuse). A malformed token is INVALID without
 * any Redis call. The session's TTL is renewed to ttl_s. s may be NULL; on
 * REUSED only its sid and user_id are filled (for the audit log). Returns
 * CORE_OK with *result set, CORE_INVALID_ARGUMENT for ttl_s <= 0, or
 * CORE_UNAVAILABLE (Redis down). */
core_status auth_session_refresh(core_redis *r, const char *token,
    int64_t grace_ms, int ttl_s, char new_token[AUTH_REFRESH_TOKEN_MAX],
    auth_session *s, auth_refresh_result *result);

/* Deletes one session. *deleted (may be NULL) says whether it existed. When
 * user_id is not NULL the session must belong to that user (else nothing
 * happens and *deleted is 0). A malformed sid is simply not found. */
core_status auth_session_revoke(
    core_redis *r, const char *sid, const char *user_id, int *deleted);

/* Deletes every session of a user; *count (may be NULL) receives how many. */
core_status auth_session_revoke_all(
    core_redis *r, const char *user_id, int *count);

/* The user's live sessions (at most max, newest first by created_ms); *n
 * receives the count. Stale sids (expired sessions) are pruned from the
 * set. Only the first 4096 sids of the set are looked at. */
core_status auth_session_list(core_redis *r, const char *user_id,
    auth_session *out, size_t max, size_t *n);

/* The live session sid of user_id into *s. CORE_NOT_FOUND when it has
 * ended (expired, revoked), is another user's, or sid or user_id cannot
 * name one. */
core_status auth_session_get(
    core_redis *r, const char *sid, const char *user_id, auth_session *s);

/* Whether session sid exists (live). */
core_status auth_session_exists(core_redis *r, const char *sid, int *exists);

/* Whether sid (NUL-terminated, may be NULL) could name a session. */
bool auth_session_sid_valid(const char *sid);

/* auth_session_exists as one command of another module's round trip
 * (core_redis_extra, e.g. core_revocation_floor_with): the refresh path
 * asks both at once. Lives until the round trip has run. */
typedef struct auth_session_probe {
	char key[sizeof("session:") + AUTH_SID_MAX];
	const char *argv[2];
	int at; /* the command's index in the extra; -1: none was needed */
} auth_session_probe;

/* Adds EXISTS session:<sid> to x. A sid that cannot name a session adds
 * nothing (the session does not exist). CORE_INVALID_ARGUMENT when x is
 * full. */
core_status auth_session_probe_add(
    auth_session_probe *p, const char *sid, core_redis_extra *x);

/* After the round trip ran: whether the session existed. CORE_INTERNAL
 * (logged once) for a reply of the wrong shape. */
core_status auth_session_probe_result(const auth_session_probe *p,
    core_redis *r, const core_redis_extra *x, int *exists);

#endif
