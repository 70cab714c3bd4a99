/* DeleteAccount and AdminDeleteUser; see account.h, docs/rpc.md and
 * docs/operations.md ("Deleting an account"). */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "auth/v1/auth.pb-c.h"
#include "user/v1/user.pb-c.h"

#include "account.h"
#include "auth_validate.h"
#include "auth_worker.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/revocation.h"
#include "passwords.h"
#include "ratelimit.h"
#include "replies.h"
#include "rules.h"
#include "sessions.h"
#include "users_repo.h"

#define BAD_PASSWORD "invalid password"
#define NO_SUCH_USER "no such user"
#define NEEDS_ADMIN "this needs the admin role"
#define LAST_ADMIN "the last active admin cannot be deleted"
#define PROFILE_DOWN                                                          \
	"the account was signed out everywhere but not deleted: the profile " \
	"service is unavailable; try again"

/* The failed-login counters a wrong password counts on: the username's
 * and the client address's, as a failed login does (login.c), so that
 * guessing through this method is no cheaper than through Login. */
typedef struct password_attempt {
	char user_key[96];
	char ip_key[128];
} password_attempt;

/* Counts the attempt before the password is checked; RESOURCE_EXHAUSTED
 * with a retry-after when over a limit, as Login answers. */
static core_status
password_throttle(core_call *c, const auth_user *u, const char *client_ip,
    password_attempt *pa)
{
	auth_worker *w = core_call_state(c);
	const auth_config *cfg = w->cfg;
	char ip[64];
	auth_clip(ip, sizeof(ip), client_ip[0] ? client_ip : "unknown");
	snprintf(pa->user_key, sizeof(pa->user_key), "ratelimit:login:user:%s",
	    u->username);
	snprintf(pa->ip_key, sizeof(pa->ip_key), "ratelimit:login:ip:%s", ip);
	const char *keys[] = {pa->user_key, pa->ip_key};
	const int limits[] = {cfg->login_max_per_user, cfg->login_max_per_ip};
	return auth_throttle(
	    c, 2, keys, limits, cfg->login_window_s, "login attempts");
}

core_status
auth_current_password_check(core_call *c, const ProtobufCMessageDescriptor *d,
    const char *password, const char *client_ip, auth_user *u)
{
	auth_worker *w = core_call_state(c);
	const core_jwt_claims *cl = core_call_claims(c);
	char msg[RULES_MESSAGE_MAX];
	const char *e = rules_check_text(
	    rules_find(d, "current_password"), password, msg, sizeof(msg));
	if (e != NULL) {
		return core_call_field_error(c, "current_password", "%s", e);
	}
	char hash[256];
	core_status st = auth_users_find_by_id(w->db.pg, cl->sub, u);
	if (st == CORE_OK) {
		st = auth_users_find_by_username(
		    w->db.pg, u->username, u, hash, sizeof(hash));
	}
	if (st == CORE_NOT_FOUND) {
		/* Deleted meanwhile (its token is then revoked too). */
		return core_call_error(c, CORE_UNAUTHENTICATED, BAD_PASSWORD);
	}
	if (st != CORE_OK) {
		return auth_storage_error(c, st);
	}
	password_attempt pa;
	bool match = false;
	if ((st = password_throttle(c, u, client_ip, &pa)) != CORE_OK ||
	    (st = auth_password_verify(c, hash, password, &match)) !=
	        CORE_OK) {
		sodium_memzero(hash, sizeof(hash));
		return st;
	}
	sodium_memzero(hash, sizeof(hash));
	if (!match) {
		core_log_kv(CORE_LOG_INFO, "wrong current password", "user_id",
		    u->id, "method", core_call_method(c), NULL);
		return core_call_error(c, CORE_UNAUTHENTICATED, BAD_PASSWORD);
	}
	/* No guess: as after a successful login. */
	(void) auth_ratelimit_reset(w->db.redis, pa.user_key);
	(void) auth_ratelimit_undo(w->db.redis, pa.ip_key);
	return CORE_OK;
}

/* Refuses, before anything is undone, the deletion of the last active
 * admin; the deletion's transaction checks again (a race then ends with
 * the account signed out but kept). */
static core_status
refuse_last_admin(core_call *c, const char *id)
{
	auth_worker *w = core_call_state(c);
	bool last = false;
	core_status st = auth_users_is_last_admin(w->db.pg, id, &last);
	if (st == CORE_NOT_FOUND) {
		return core_call_error(c, CORE_NOT_FOUND, NO_SUCH_USER);
	}
	if (st != CORE_OK) {
		return auth_storage_error(c, st);
	}
	return last ? core_call_error(c, CORE_FAILED_PRECONDITION, LAST_ADMIN)
	            : CORE_OK;
}

/* UserService.DeleteProfile for user_id, with the caller's token (the
 * user's own, revoked by now, or an admin's), request id and deadline. */
static core_status
delete_profile(core_call *c, char *user_id)
{
	auth_worker *w = core_call_state(c);
	core_md md[2];
	core_rpc_opts opts;
	core_rpc_opts_from_call(c, &opts, md);
	User__V1__DeleteProfileRequest req =
	    USER__V1__DELETE_PROFILE_REQUEST__INIT;
	req.user_id = user_id;
	ProtobufCMessage *out = NULL;
	core_rpc_reply reply;
	core_status st = core_rpc_call(w->cfg->user_rpc,
	    "/user.v1.UserService/DeleteProfile", &req.base,
	    &user__v1__delete_profile_response__descriptor, &out, &opts,
	    core_call_arena(c), &reply);
	if (st != CORE_OK) {
		core_log_kv(CORE_LOG_WARN,
		    "account deletion: profile not deleted", "user_id",
		    user_id, "code", core_status_str(st), "message",
		    reply.message, NULL);
		return core_call_error(c, CORE_UNAVAILABLE, PROFILE_DOWN);
	}
	return CORE_OK;
}

/* Ends the account of user_id: sessions, then access tokens (so that no
 * token can read the profile back into existence once it is gone: see
 * refreshed_user() in login.c for why sessions go first), then the profile,
 * then the row (actor: the admin who deletes, NULL for the user). */
static core_status
delete_everything(core_call *c, const char *actor_id, const char *user_id,
    auth_user *before, int *sessions)
{
	auth_worker *w = core_call_state(c);
	char id[37];
	snprintf(id, sizeof(id), "%s", user_id);
	core_status st =
	    auth_session_revoke_all(w->db.redis, user_id, sessions);
	if (st == CORE_OK) {
		st = core_revoke_user_tokens(w->db.redis, user_id,
		    core_unix_ms() / 1000, w->cfg->access_ttl_s);
	}
	if (st != CORE_OK) {
		return auth_redis_error(c, st);
	}
	if ((st = delete_profile(c, id)) != CORE_OK) {
		return st;
	}
	st = auth_users_delete(w->db.pg, actor_id, user_id, before);
	switch (st) {
	case CORE_OK:
		core_log_kv(CORE_LOG_INFO, "account deleted", "user_id",
		    user_id, "by", actor_id != NULL ? actor_id : user_id,
		    NULL);
		return CORE_OK;
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
}

core_status
auth_delete_account(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	const Auth__V1__DeleteAccountRequest *req =
	    (const Auth__V1__DeleteAccountRequest *) in;
	Auth__V1__DeleteAccountResponse *resp =
	    (Auth__V1__DeleteAccountResponse *) out;
	auth_user u, before;
	int sessions = 0;
	core_status st = auth_current_password_check(c,
	    &auth__v1__delete_account_request__descriptor,
	    req->current_password, req->client_ip, &u);
	if (st != CORE_OK || (st = refuse_last_admin(c, u.id)) != CORE_OK ||
	    (st = delete_everything(c, NULL, u.id, &before, &sessions)) !=
	        CORE_OK) {
		return st;
	}
	resp->sessions_revoked = sessions;
	return CORE_OK;
}

core_status
auth_admin_delete_user(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	const Auth__V1__AdminDeleteUserRequest *req =
	    (const Auth__V1__AdminDeleteUserRequest *) in;
	Auth__V1__AdminDeleteUserResponse *resp =
	    (Auth__V1__AdminDeleteUserResponse *) out;
	const core_jwt_claims *actor = core_call_claims(c);
	auth_user before;
	int sessions = 0;
	if (!auth_uuid_valid(req->id)) {
		return core_call_field_error(
		    c, "id", "must be a user id (a UUID)");
	}
	core_status st = refuse_last_admin(c, req->id);
	if (st != CORE_OK || (st = delete_everything(c, actor->sub, req->id,
	                          &before, &sessions)) != CORE_OK) {
		return st;
	}
	resp->user = auth_user_message(core_call_arena(c), &before);
	if (resp->user == NULL) {
		return core_call_error(c, CORE_INTERNAL, "out of memory");
	}
	resp->sessions_revoked = sessions;
	return CORE_OK;
}
