/* ListSessions, RevokeSession and GetCurrentSession; see session_methods.h
 * and docs/rpc.md. */
#include <string.h>

#include "auth/v1/auth.pb-c.h"

#include "auth_worker.h"
#include "core/call_auth.h"
#include "core/log.h"
#include "replies.h"
#include "session_methods.h"
#include "sessions.h"

/* Whether the caller may act on other users' sessions: an admin in authdb
 * now (the database's word, not the token's: a role claim may predate a
 * demotion). Only a token whose role claim is admin is looked up, so the
 * calls of ordinary users never reach the database. */
static core_status
caller_is_admin(core_call *c, bool *admin)
{
	*admin = false;
	if (strcmp(core_call_claims(c)->role, "admin") != 0) {
		return CORE_OK;
	}
	return core_call_is_admin(c, admin);
}

core_status
auth_list_sessions(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	const Auth__V1__ListSessionsRequest *req =
	    (const Auth__V1__ListSessionsRequest *) in;
	Auth__V1__ListSessionsResponse *resp =
	    (Auth__V1__ListSessionsResponse *) out;
	auth_worker *w = core_call_state(c);
	const core_jwt_claims *cl = core_call_claims(c);
	const char *user = req->user_id[0] ? req->user_id : cl->sub;
	if (strcmp(user, cl->sub) != 0) {
		bool admin = false;
		core_status st = caller_is_admin(c, &admin);
		if (st != CORE_OK) {
			return st;
		}
		if (!admin) {
			return core_call_error(c, CORE_PERMISSION_DENIED,
			    "only admins may list another user's sessions");
		}
	}
	return auth_sessions_reply(
	    c, w->db.redis, user, cl->sid, &resp->sessions, &resp->n_sessions);
}

core_status
auth_revoke_session(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	const Auth__V1__RevokeSessionRequest *req =
	    (const Auth__V1__RevokeSessionRequest *) in;
	(void) out;
	auth_worker *w = core_call_state(c);
	const core_jwt_claims *cl = core_call_claims(c);
	if (req->session_id[0] == '\0') {
		return core_call_field_error(c, "session_id", "is required");
	}
	/* A user ends only their own sessions; an admin any session. */
	bool admin = false;
	core_status st = caller_is_admin(c, &admin);
	if (st != CORE_OK) {
		return st;
	}
	int deleted = 0;
	st = auth_session_revoke(
	    w->db.redis, req->session_id, admin ? NULL : cl->sub, &deleted);
	if (st == CORE_INVALID_ARGUMENT) {
		return core_call_field_error(
		    c, "session_id", "is not a session id");
	}
	if (st != CORE_OK) {
		return auth_redis_error(c, st);
	}
	if (!deleted) {
		/* The same answer for "not yours" and "no such session". */
		return core_call_error(c, CORE_NOT_FOUND, "no such session");
	}
	core_log_kv(CORE_LOG_INFO, "session revoked", "sid", req->session_id,
	    "by", cl->sub, NULL);
	return CORE_OK;
}

/* The session of the caller's token: its sid claim. An access token
 * outlives its session (ended from another device, by a refresh-token
 * reuse, by expiry) until the token expires; its session is then gone, and
 * the caller learns it as of any session that is gone. */
core_status
auth_get_current_session(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	(void) in;
	Auth__V1__GetCurrentSessionResponse *resp =
	    (Auth__V1__GetCurrentSessionResponse *) out;
	auth_worker *w = core_call_state(c);
	const core_jwt_claims *cl = core_call_claims(c);
	auth_session s;
	core_status st = auth_session_get(w->db.redis, cl->sid, cl->sub, &s);
	if (st == CORE_NOT_FOUND) {
		return core_call_error(c, CORE_NOT_FOUND, "no such session");
	}
	if (st != CORE_OK) {
		return auth_redis_error(c, st);
	}
	resp->session = auth_session_message(core_call_arena(c), &s, cl->sid);
	if (resp->session == NULL) {
		return core_call_error(c, CORE_INTERNAL, "out of memory");
	}
	return CORE_OK;
}
