/* AuthService: the method table with each method's rule, and the two
 * methods that belong to no topic file: Register and CheckToken. See
 * auth_service.h and docs/rpc.md. */
#include <string.h>

#include <sodium.h>

#include "auth/v1/auth.pb-c.h"

#include "auth_service.h"
#include "auth_validate.h"
#include "auth_worker.h"
#include "core/call_auth.h"
#include "core/log.h"
#include "key_methods.h"
#include "login.h"
#include "replies.h"
#include "session_methods.h"
#include "user_admin.h"
#include "users_repo.h"

static core_status
register_user(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	const Auth__V1__RegisterRequest *req =
	    (const Auth__V1__RegisterRequest *) in;
	Auth__V1__RegisterResponse *resp = (Auth__V1__RegisterResponse *) out;
	auth_worker *w = core_call_state(c);
	char username[AUTH_USERNAME_MAX + 1];
	char email[AUTH_EMAIL_MAX + 1];
	const char *e;
	bool bad = false;

	/* Every field is checked, so one answer names every problem. */
	if ((e = auth_username_normalize(
	         req->username, username, sizeof(username))) != NULL) {
		core_call_field_error(c, "username", "%s", e);
		bad = true;
	}
	if ((e = auth_email_normalize(req->email, email, sizeof(email))) !=
	    NULL) {
		core_call_field_error(c, "email", "%s", e);
		bad = true;
	}
	if ((e = auth_password_check(req->password, req->username)) != NULL) {
		core_call_field_error(c, "password", "%s", e);
		bad = true;
	}
	if (bad) {
		return CORE_INVALID_ARGUMENT;
	}

	char hash[crypto_pwhash_STRBYTES];
	if (crypto_pwhash_str_alg(hash, req->password, strlen(req->password),
	        w->cfg->argon2_opslimit, w->cfg->argon2_memlimit,
	        crypto_pwhash_ALG_ARGON2ID13) != 0) {
		/* Only fails when the memory for Argon2 is not there. */
		return core_call_error(c, CORE_RESOURCE_EXHAUSTED,
		    "the server is too busy to register now; try again");
	}
	auth_user u;
	core_status st =
	    auth_users_insert(w->db.pg, username, email, hash, &u);
	sodium_memzero(hash, sizeof(hash));
	if (st == CORE_ALREADY_EXISTS) {
		/* Not saying which of the two is taken: see "Accounts" in
		 * docs/architecture.md. */
		return core_call_error(c, CORE_ALREADY_EXISTS,
		    "the username or the email is already registered");
	}
	if (st != CORE_OK) {
		return auth_storage_error(c, st);
	}
	resp->user = auth_user_message(core_call_arena(c), &u);
	if (resp->user == NULL) {
		return core_call_error(c, CORE_INTERNAL, "out of memory");
	}
	core_log_kv(CORE_LOG_INFO, "user registered", "user_id", u.id, NULL);
	return CORE_OK;
}

static Auth__V1__Claims *
claims_message(core_arena *a, const core_jwt_claims *cl)
{
	Auth__V1__Claims *m = core_arena_alloc(a, sizeof(*m));
	if (m == NULL) {
		return NULL;
	}
	auth__v1__claims__init(m);
	m->iss = core_arena_strdup(a, cl->iss);
	m->sub = core_arena_strdup(a, cl->sub);
	m->aud = core_arena_strdup(a, cl->aud);
	m->exp = cl->exp;
	m->iat = cl->iat;
	m->nbf = cl->nbf;
	m->jti = core_arena_strdup(a, cl->jti);
	m->sid = core_arena_strdup(a, cl->sid);
	m->username = core_arena_strdup(a, cl->username);
	m->role = core_arena_strdup(a, cl->role);
	m->auth_time = cl->auth_time;
	if (!m->iss || !m->sub || !m->aud || !m->jti || !m->sid ||
	    !m->username || !m->role) {
		return NULL;
	}
	return m;
}

/* The claims of a valid, unrevoked token: the request's, or the bearer
 * token when the request has none. The one method that checks a token
 * itself, as the server checks the others'. */
static core_status
check_token(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	const Auth__V1__CheckTokenRequest *req =
	    (const Auth__V1__CheckTokenRequest *) in;
	Auth__V1__CheckTokenResponse *resp =
	    (Auth__V1__CheckTokenResponse *) out;
	const char *token = req->token[0] ? req->token : core_call_bearer(c);
	core_jwt_claims cl;
	/* No token at all is answered as an invalid one, as it always was
	 * (not "a bearer token is required": the request may carry it). */
	core_status st =
	    core_call_check_token(c, token ? token : "", CORE_RULE_USER, &cl);
	if (st != CORE_OK) {
		return st;
	}
	if ((resp->claims = claims_message(core_call_arena(c), &cl)) == NULL) {
		return core_call_error(c, CORE_INTERNAL, "out of memory");
	}
	return CORE_OK;
}

#define M(name) "/auth.v1.AuthService/" name

static const core_rpc_method auth_methods[] = {
    {M("Register"), register_user, CORE_RULE_PUBLIC, 0, NULL, NULL},
    {M("Login"), auth_login, CORE_RULE_PUBLIC, 0, NULL, NULL},
    {M("Refresh"), auth_refresh, CORE_RULE_PUBLIC, 0, NULL, NULL},
    {M("Logout"), auth_logout, CORE_RULE_USER | CORE_RULE_REVOKED_OK, 0, NULL,
        NULL},
    {M("GetJwks"), auth_get_jwks, CORE_RULE_PUBLIC, 0, NULL, NULL},
    /* Public: it checks the token of its request itself. */
    {M("CheckToken"), check_token, CORE_RULE_PUBLIC, 0, NULL, NULL},
    /* Another user's sessions: the handlers ask core_call_is_admin. */
    {M("ListSessions"), auth_list_sessions, CORE_RULE_USER, 0, NULL, NULL},
    {M("RevokeSession"), auth_revoke_session, CORE_RULE_USER, 0, NULL, NULL},
    {M("GetCurrentSession"), auth_get_current_session, CORE_RULE_USER, 0, NULL,
        NULL},
    {M("RotateKeys"), auth_rotate_keys, CORE_RULE_ADMIN, 0, NULL, NULL},
    {M("ListKeys"), auth_list_keys, CORE_RULE_ADMIN, 0, NULL, NULL},
    {M("AdminListUsers"), auth_admin_list_users, CORE_RULE_ADMIN, 0, NULL,
        NULL},
    {M("AdminGetUser"), auth_admin_get_user, CORE_RULE_ADMIN, 0, NULL, NULL},
    {M("AdminUpdateUser"), auth_admin_update_user, CORE_RULE_ADMIN, 0, NULL,
        NULL},
    {M("AdminRevokeSessions"), auth_admin_revoke_sessions, CORE_RULE_ADMIN, 0,
        NULL, NULL},
};

const core_rpc_service auth_rpc_service = {
    .desc = &auth__v1__auth_service__descriptor,
    .methods = auth_methods,
    .n_methods = sizeof(auth_methods) / sizeof(auth_methods[0]),
    .denied = auth_admin_denied,
};
