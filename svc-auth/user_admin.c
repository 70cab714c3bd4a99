/* AuthService's user administration methods; the contract is in
 * user_admin.h and docs/rpc.md. */
#include <stdio.h>
#include <string.h>

#include "auth/v1/auth.pb-c.h"

#include "auth_validate.h"
#include "auth_worker.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/pbfield.h"
#include "core/revocation.h"
#include "replies.h"
#include "rules.h"
#include "sessions.h"
#include "user_admin.h"
#include "users_repo.h"

#define NEEDS_ADMIN "this needs the admin role"
#define NO_SUCH_USER "no such user"
#define LAST_ADMIN "the last active admin cannot be demoted or disabled"

/* A page_size of 0; the range is the row's (proto/rules.c). */
enum { PAGE_SIZE_DEFAULT = 50 };

/* The body of an administration method, run once the server has checked
 * that the caller (actor) is an active admin. */
typedef core_status (*admin_body)(core_call *c, const core_jwt_claims *actor,
    const ProtobufCMessage *in, ProtobufCMessage *out);

core_status
auth_is_admin(core_call *c, const core_jwt_claims *cl, bool *admin)
{
	auth_worker *w = core_call_state(c);
	auth_user me;
	*admin = false;
	core_status st = auth_users_find_by_id(w->db.pg, cl->sub, &me);
	if (st == CORE_NOT_FOUND) {
		return CORE_OK;
	}
	if (st != CORE_OK) {
		return auth_storage_error(c, st);
	}
	*admin =
	    strcmp(me.role, "admin") == 0 && strcmp(me.status, "active") == 0;
	return CORE_OK;
}

/* The call's method without its service: "AdminGetUser". */
static const char *
method_name(const core_call *c)
{
	const char *slash = strrchr(core_call_method(c), '/');
	return slash != NULL ? slash + 1 : core_call_method(c);
}

/* Logs an administration call: who (NULL: not known), what, on whom, and
 * how it ended. The target comes from the request: it is cut short. */
static void
admin_log(core_call *c, const ProtobufCMessage *in, const char *actor,
    core_status st)
{
	/* The user the request is about: its "id" field, if it has one. */
	const char *id = core_pb_field_get_string(in, "id");
	char tgt[64];
	auth_clip(tgt, sizeof(tgt), id != NULL ? id : "-");
	core_log_kv(CORE_LOG_INFO, "admin call", "method", method_name(c),
	    "actor", actor, "target", tgt, "code", core_status_str(st), NULL);
}

core_status
auth_admin_denied(
    core_call *c, const ProtobufCMessage *in, const core_call_denial *d)
{
	/* The administration methods are the ones named Admin*. */
	if (strncmp(method_name(c), "Admin", 5) == 0) {
		admin_log(c, in, d->trusted ? d->claims->sub : NULL, d->code);
	}
	return d->code;
}

/* Runs body for the admin the server let through, and logs the call. */
static core_status
admin_call(core_call *c, admin_body body, const ProtobufCMessage *in,
    ProtobufCMessage *out)
{
	const core_jwt_claims *actor = core_call_claims(c);
	core_status st = body(c, actor, in, out);
	admin_log(c, in, actor->sub, st);
	return st;
}

/* Makes every access token the user holds now fail verification at once
 * (revoked_before, kept while any of them could still verify). */
static core_status
revoke_user_tokens(auth_worker *w, const char *user_id)
{
	return core_revoke_user_tokens(
	    w->db.redis, user_id, core_unix_ms() / 1000, w->cfg->access_ttl_s);
}

static const char *
status_name(Auth__V1__UserStatus s)
{
	switch (s) {
	case AUTH__V1__USER_STATUS__USER_STATUS_ACTIVE:
		return "active";
	case AUTH__V1__USER_STATUS__USER_STATUS_DISABLED:
		return "disabled";
	default:
		return NULL;
	}
}

static const char *
role_name(Auth__V1__Role r)
{
	switch (r) {
	case AUTH__V1__ROLE__ROLE_USER:
		return "user";
	case AUTH__V1__ROLE__ROLE_ADMIN:
		return "admin";
	default:
		return NULL;
	}
}

/* Reads the request's filters into f (buffers for its strings: like,
 * after), naming every bad field. */
static core_status
list_filter(core_call *c, const Auth__V1__AdminListUsersRequest *req,
    auth_users_filter *f, char like[AUTH_LIKE_MAX],
    char after[AUTH_USERNAME_MAX + 1])
{
	bool bad = false;
	const char *e;
	memset(f, 0, sizeof(*f));
	if (req->query[0] != '\0') {
		if ((e = auth_like_substring(
		         req->query, like, AUTH_LIKE_MAX)) != NULL) {
			core_call_field_error(c, "query", "%s", e);
			bad = true;
		} else {
			f->like = like;
		}
	}
	if (req->status != AUTH__V1__USER_STATUS__USER_STATUS_UNSPECIFIED &&
	    (f->status = status_name(req->status)) == NULL) {
		core_call_field_error(c, "status", "is not a UserStatus");
		bad = true;
	}
	if (req->role != AUTH__V1__ROLE__ROLE_UNSPECIFIED &&
	    (f->role = role_name(req->role)) == NULL) {
		core_call_field_error(c, "role", "is not a Role");
		bad = true;
	}
	char msg[RULES_MESSAGE_MAX];
	if ((e = rules_check_int(
	         rules_find(&auth__v1__admin_list_users_request__descriptor,
	             "page_size"),
	         req->page_size, msg, sizeof(msg))) != NULL) {
		core_call_field_error(c, "page_size", "%s", e);
		bad = true;
	}
	if (req->page_token[0] != '\0') {
		if (auth_page_token_decode(
		        req->page_token, after, AUTH_USERNAME_MAX + 1) != 0) {
			core_call_field_error(c, "page_token",
			    "is not a next_page_token of this method");
			bad = true;
		} else {
			f->after = after;
		}
	}
	return bad ? CORE_INVALID_ARGUMENT : CORE_OK;
}

/* Keyset pagination: one row more than the page tells whether another
 * page follows, and the next page starts after the last username shown.
 * Users added meanwhile never shift the pages, so every user that exists
 * for the whole listing is listed exactly once. */
static core_status
list_users(core_call *c, const core_jwt_claims *actor,
    const ProtobufCMessage *in, ProtobufCMessage *out)
{
	(void) actor;
	const Auth__V1__AdminListUsersRequest *req =
	    (const Auth__V1__AdminListUsersRequest *) in;
	Auth__V1__AdminListUsersResponse *resp =
	    (Auth__V1__AdminListUsersResponse *) out;
	auth_worker *w = core_call_state(c);
	core_arena *a = core_call_arena(c);
	char like[AUTH_LIKE_MAX], after[AUTH_USERNAME_MAX + 1];
	auth_users_filter f;

	core_status st = list_filter(c, req, &f, like, after);
	if (st != CORE_OK) {
		return st;
	}
	int size = req->page_size > 0 ? req->page_size : PAGE_SIZE_DEFAULT;
	auth_user *users =
	    core_arena_calloc(a, (size_t) size + 1, sizeof(*users));
	resp->users =
	    core_arena_calloc(a, (size_t) size, sizeof(*resp->users));
	size_t n = 0;
	if (users == NULL || resp->users == NULL) {
		return core_call_error(c, CORE_INTERNAL, "out of memory");
	}
	int64_t total = 0;
	if ((st = auth_users_list(w->db.pg, &f, size + 1, users, &n)) !=
	        CORE_OK ||
	    (st = auth_users_count(w->db.pg, &f, &total)) != CORE_OK) {
		return auth_storage_error(c, st);
	}
	resp->total = total > INT32_MAX ? INT32_MAX : (int32_t) total;
	size_t shown = n > (size_t) size ? (size_t) size : n;
	for (size_t i = 0; i < shown; i++) {
		if ((resp->users[i] = auth_user_message(a, &users[i])) ==
		    NULL) {
			return core_call_error(
			    c, CORE_INTERNAL, "out of memory");
		}
	}
	resp->n_users = shown;
	if (n > shown) {
		char token[AUTH_PAGE_TOKEN_MAX];
		if (auth_page_token_encode(users[shown - 1].username, token,
		        sizeof(token)) != 0 ||
		    (resp->next_page_token = core_arena_strdup(a, token)) ==
		        NULL) {
			return core_call_error(c, CORE_INTERNAL,
			    "page token for %s", users[shown - 1].id);
		}
	}
	return CORE_OK;
}

/* The target of a method taking a user id: INVALID_ARGUMENT for a
 * malformed id, NOT_FOUND for an unknown one. */
static core_status
target_user(core_call *c, const char *id, auth_user *u)
{
	auth_worker *w = core_call_state(c);
	if (!auth_uuid_valid(id)) {
		return core_call_field_error(
		    c, "id", "must be a user id (a UUID)");
	}
	core_status st = auth_users_find_by_id(w->db.pg, id, u);
	if (st == CORE_NOT_FOUND) {
		return core_call_error(c, CORE_NOT_FOUND, NO_SUCH_USER);
	}
	return st == CORE_OK ? CORE_OK : auth_storage_error(c, st);
}

static core_status
get_user(core_call *c, const core_jwt_claims *actor,
    const ProtobufCMessage *in, ProtobufCMessage *out)
{
	const Auth__V1__AdminGetUserRequest *req =
	    (const Auth__V1__AdminGetUserRequest *) in;
	Auth__V1__AdminGetUserResponse *resp =
	    (Auth__V1__AdminGetUserResponse *) out;
	auth_worker *w = core_call_state(c);
	auth_user u;

	core_status st = target_user(c, req->id, &u);
	if (st != CORE_OK) {
		return st;
	}
	if ((resp->user = auth_user_message(core_call_arena(c), &u)) == NULL) {
		return core_call_error(c, CORE_INTERNAL, "out of memory");
	}
	/* current: the admin's own session, when looking at themselves. */
	return auth_sessions_reply(c, w->db.redis, u.id,
	    strcmp(u.id, actor->sub) == 0 ? actor->sid : NULL, &resp->sessions,
	    &resp->n_sessions);
}

/* Reads the requested change into ch, naming every bad field. */
static core_status
update_change(core_call *c, const Auth__V1__AdminUpdateUserRequest *req,
    auth_access_change *ch)
{
	bool has_status =
	    req->has_status_case ==
	    AUTH__V1__ADMIN_UPDATE_USER_REQUEST__HAS_STATUS_STATUS;
	bool has_role = req->has_role_case ==
	                AUTH__V1__ADMIN_UPDATE_USER_REQUEST__HAS_ROLE_ROLE;
	bool bad = false;
	memset(ch, 0, sizeof(*ch));
	if (!auth_uuid_valid(req->id)) {
		core_call_field_error(c, "id", "must be a user id (a UUID)");
		bad = true;
	}
	if (!has_status && !has_role) {
		core_call_field_error(
		    c, "status", "status, role or both must be set");
		bad = true;
	}
	if (has_status && (ch->status = status_name(req->status)) == NULL) {
		core_call_field_error(c, "status",
		    "must be USER_STATUS_ACTIVE or USER_STATUS_DISABLED");
		bad = true;
	}
	if (has_role && (ch->role = role_name(req->role)) == NULL) {
		core_call_field_error(
		    c, "role", "must be ROLE_USER or ROLE_ADMIN");
		bad = true;
	}
	return bad ? CORE_INVALID_ARGUMENT : CORE_OK;
}

/* After a change is committed: a disabled user's sessions end and their
 * access tokens stop at once; a new role stops the tokens that carry the
 * old one (the sessions stay: a refresh mints the new role). */
static core_status
apply_to_tokens(core_call *c, const auth_user *before, const auth_user *after,
    int *sessions_revoked)
{
	auth_worker *w = core_call_state(c);
	bool disabled = strcmp(before->status, "disabled") != 0 &&
	                strcmp(after->status, "disabled") == 0;
	bool new_role = strcmp(before->role, after->role) != 0;
	core_status st = CORE_OK;
	*sessions_revoked = 0;
	/* Sessions before tokens: see revoke_sessions(). */
	if (disabled) {
		st = auth_session_revoke_all(
		    w->db.redis, after->id, sessions_revoked);
	}
	if (st == CORE_OK && (disabled || new_role)) {
		st = revoke_user_tokens(w, after->id);
	}
	if (st == CORE_UNAVAILABLE) {
		/* The change stands (a retry would find nothing to do):
		 * say what is left to do. */
		return core_call_error(c, CORE_UNAVAILABLE,
		    "the change was saved, but the user's tokens and sessions "
		    "could not be revoked: the session store is unavailable; "
		    "call AdminRevokeSessions when it is back");
	}
	return st == CORE_OK ? CORE_OK : auth_redis_error(c, st);
}

static core_status
update_user(core_call *c, const core_jwt_claims *actor,
    const ProtobufCMessage *in, ProtobufCMessage *out)
{
	const Auth__V1__AdminUpdateUserRequest *req =
	    (const Auth__V1__AdminUpdateUserRequest *) in;
	Auth__V1__AdminUpdateUserResponse *resp =
	    (Auth__V1__AdminUpdateUserResponse *) out;
	auth_worker *w = core_call_state(c);
	core_arena *a = core_call_arena(c);
	auth_access_change ch;
	auth_user before, after;

	core_status st = update_change(c, req, &ch);
	if (st != CORE_OK) {
		return st;
	}
	st = auth_users_set_access(
	    w->db.pg, actor->sub, req->id, &ch, &before, &after);
	switch (st) {
	case CORE_OK:
		break;
	case CORE_NOT_FOUND:
		return core_call_error(c, CORE_NOT_FOUND, NO_SUCH_USER);
	case CORE_PERMISSION_DENIED: /* demoted since the server's check */
		return core_call_error(c, CORE_PERMISSION_DENIED, NEEDS_ADMIN);
	case CORE_FAILED_PRECONDITION:
		return core_call_error(
		    c, CORE_FAILED_PRECONDITION, LAST_ADMIN);
	default:
		return auth_storage_error(c, st);
	}
	if (strcmp(before.status, after.status) != 0 ||
	    strcmp(before.role, after.role) != 0) {
		core_log_kv(CORE_LOG_INFO, "user access changed", "user_id",
		    after.id, "by", actor->sub, "status", after.status,
		    "was_status", before.status, "role", after.role,
		    "was_role", before.role, NULL);
	}
	int revoked = 0;
	if ((st = apply_to_tokens(c, &before, &after, &revoked)) != CORE_OK) {
		return st;
	}
	resp->before = auth_user_message(a, &before);
	resp->after = auth_user_message(a, &after);
	resp->sessions_revoked = revoked;
	if (resp->before == NULL || resp->after == NULL) {
		return core_call_error(c, CORE_INTERNAL, "out of memory");
	}
	return CORE_OK;
}

static core_status
revoke_sessions(core_call *c, const core_jwt_claims *actor,
    const ProtobufCMessage *in, ProtobufCMessage *out)
{
	(void) actor;
	const Auth__V1__AdminRevokeSessionsRequest *req =
	    (const Auth__V1__AdminRevokeSessionsRequest *) in;
	Auth__V1__AdminRevokeSessionsResponse *resp =
	    (Auth__V1__AdminRevokeSessionsResponse *) out;
	auth_worker *w = core_call_state(c);
	auth_user u;

	core_status st = target_user(c, req->id, &u);
	if (st != CORE_OK) {
		return st;
	}
	/* Sessions, then tokens: a refresh that rotated just before and
	 * escapes the new revoked_before then finds its session gone (see
	 * auth_refresh() in login.c). */
	int revoked = 0;
	if ((st = auth_session_revoke_all(w->db.redis, u.id, &revoked)) !=
	        CORE_OK ||
	    (st = revoke_user_tokens(w, u.id)) != CORE_OK) {
		return auth_redis_error(c, st);
	}
	resp->revoked = revoked;
	return CORE_OK;
}

core_status
auth_admin_list_users(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	return admin_call(c, list_users, in, out);
}

core_status
auth_admin_get_user(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	return admin_call(c, get_user, in, out);
}

core_status
auth_admin_update_user(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	return admin_call(c, update_user, in, out);
}

core_status
auth_admin_revoke_sessions(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	return admin_call(c, revoke_sessions, in, out);
}
