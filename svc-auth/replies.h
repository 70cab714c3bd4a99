/* What AuthService's handlers answer with, shared by every file of
 * methods: the client's message for a failure of authdb or Redis, and the
 * User and Session messages. */
#ifndef AUTH_REPLIES_H
#define AUTH_REPLIES_H

#include <stddef.h>

#include "auth/v1/auth.pb-c.h"

#include "core/redis.h"
#include "core/rpc.h"
#include "sessions.h"
#include "users_repo.h"

/* Sets the client's message for a failure of authdb (storage) or Redis
 * (session store) and returns the status to answer with: UNAVAILABLE when
 * the server is down, INTERNAL (detail logged) for anything else. */
core_status auth_storage_error(core_call *c, core_status st);
core_status auth_redis_error(core_call *c, core_status st);

/* Counts one hit on each of the n keys (Redis, auth_ratelimit_hit), each
 * allowing limits[i] per window_s, and answers on c: CORE_OK when every
 * key is under its limit; RESOURCE_EXHAUSTED "too many <what>; try again
 * in N s" with a retry-after when one is over; a Redis failure as
 * auth_redis_error answers it. */
core_status auth_throttle(core_call *c, int n, const char *const *keys,
    const int *limits, int window_s, const char *what);

/* A User / Session message in the arena; NULL when it is full. A session
 * is marked current when its id is current_sid (may be NULL). */
Auth__V1__User *auth_user_message(core_arena *a, const auth_user *u);
Auth__V1__Session *auth_session_message(
    core_arena *a, const auth_session *s, const char *current_sid);

/* The live sessions of user_id (at most 100, newest first) as Session
 * messages in the call's arena, into *out and *n; current_sid as for
 * auth_session_message. Failures are answered on c and returned. */
core_status auth_sessions_reply(core_call *c, core_redis *r,
    const char *user_id, const char *current_sid, Auth__V1__Session ***out,
    size_t *n);

#endif
