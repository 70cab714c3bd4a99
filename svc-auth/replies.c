/* What AuthService's handlers answer with; see replies.h. */
#include <string.h>

#include "auth_worker.h"
#include "core/timestamp.h"
#include "ratelimit.h"
#include "replies.h"

/* Sessions one answer lists at most. */
#define SESSIONS_LISTED_MAX 100

/* UNAVAILABLE "<store> is unavailable; try again later" when the server
 * is down; INTERNAL "<part>: <status>" (logged, not shown) otherwise. */
static core_status
store_error(core_call *c, core_status st, const char *store, const char *part)
{
	if (st == CORE_UNAVAILABLE) {
		return core_call_error(c, CORE_UNAVAILABLE,
		    "%s is unavailable; try again later", store);
	}
	return core_call_error(
	    c, CORE_INTERNAL, "%s: %s", part, core_status_str(st));
}

core_status
auth_storage_error(core_call *c, core_status st)
{
	return store_error(c, st, "the account database", "users repository");
}

core_status
auth_redis_error(core_call *c, core_status st)
{
	return store_error(c, st, "the session store", "session store");
}

Auth__V1__User *
auth_user_message(core_arena *a, const auth_user *u)
{
	Auth__V1__User *m = core_arena_alloc(a, sizeof(*m));
	if (m == NULL) {
		return NULL;
	}
	auth__v1__user__init(m);
	m->id = core_arena_strdup(a, u->id);
	m->username = core_arena_strdup(a, u->username);
	m->email = core_arena_strdup(a, u->email);
	m->role = strcmp(u->role, "admin") == 0 ? AUTH__V1__ROLE__ROLE_ADMIN
	                                        : AUTH__V1__ROLE__ROLE_USER;
	m->status = strcmp(u->status, "disabled") == 0
	                ? AUTH__V1__USER_STATUS__USER_STATUS_DISABLED
	                : AUTH__V1__USER_STATUS__USER_STATUS_ACTIVE;
	m->created_at = core_timestamp_new(a, u->created_us);
	m->updated_at = core_timestamp_new(a, u->updated_us);
	m->email_verified = u->email_verified;
	if (m->id == NULL || m->username == NULL || m->email == NULL ||
	    m->created_at == NULL || m->updated_at == NULL) {
		return NULL;
	}
	return m;
}

Auth__V1__Session *
auth_session_message(
    core_arena *a, const auth_session *s, const char *current_sid)
{
	Auth__V1__Session *m = core_arena_alloc(a, sizeof(*m));
	if (m == NULL) {
		return NULL;
	}
	auth__v1__session__init(m);
	m->id = core_arena_strdup(a, s->sid);
	m->user_id = core_arena_strdup(a, s->user_id);
	m->created_at = core_timestamp_new(a, s->created_ms * 1000);
	m->last_used_at = core_timestamp_new(a, s->last_used_ms * 1000);
	m->client_ip = core_arena_strdup(a, s->client_ip);
	m->user_agent = core_arena_strdup(a, s->user_agent);
	m->current = current_sid != NULL && strcmp(s->sid, current_sid) == 0;
	if (!m->id || !m->user_id || !m->created_at || !m->last_used_at ||
	    !m->client_ip || !m->user_agent) {
		return NULL;
	}
	return m;
}

core_status
auth_sessions_reply(core_call *c, core_redis *r, const char *user_id,
    const char *current_sid, Auth__V1__Session ***out, size_t *n)
{
	core_arena *a = core_call_arena(c);
	auth_session *ss =
	    core_arena_calloc(a, SESSIONS_LISTED_MAX, sizeof(*ss));
	Auth__V1__Session **ms =
	    core_arena_calloc(a, SESSIONS_LISTED_MAX, sizeof(*ms));
	size_t k = 0;
	if (ss == NULL || ms == NULL) {
		return core_call_error(c, CORE_INTERNAL, "out of memory");
	}
	core_status st =
	    auth_session_list(r, user_id, ss, SESSIONS_LISTED_MAX, &k);
	if (st != CORE_OK) {
		return auth_redis_error(c, st);
	}
	for (size_t i = 0; i < k; i++) {
		if ((ms[i] = auth_session_message(a, &ss[i], current_sid)) ==
		    NULL) {
			return core_call_error(
			    c, CORE_INTERNAL, "out of memory");
		}
	}
	*out = ms;
	*n = k;
	return CORE_OK;
}

core_status
auth_throttle(core_call *c, int n, const char *const *keys, const int *limits,
    int window_s, const char *what)
{
	auth_worker *w = core_call_state(c);
	bool allowed = false;
	int retry = 0;
	core_status st = auth_ratelimit_hit(
	    w->db.redis, n, keys, limits, window_s, &allowed, &retry);
	if (st != CORE_OK) {
		return auth_redis_error(c, st);
	}
	if (!allowed) {
		core_call_set_retry_after(c, (uint32_t) retry);
		return core_call_error(c, CORE_RESOURCE_EXHAUSTED,
		    "too many %s; try again in %d s", what, retry);
	}
	return CORE_OK;
}
