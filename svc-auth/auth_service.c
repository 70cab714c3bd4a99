/* AuthService: the method table with each method's rule, and the two
 * methods that belong to no topic file: Register and CheckToken. See
 * auth_service.h and docs/rpc.md. */
#include <string.h>

#include <sodium.h>

#include "auth/v1/auth.pb-c.h"

#include "account.h"
#include "auth_service.h"
#include "auth_validate.h"
#include "auth_worker.h"
#include "core/call_auth.h"
#include "core/log.h"
#include "key_methods.h"
#include "login.h"
#include "mfa.h"
#include "passwords.h"
#include "ratelimit.h"
#include "replies.h"
#include "session_methods.h"
#include "user_admin.h"
#include "users_repo.h"
#include "verify_email.h"

#define TAKEN "the username or the email is already registered"

/* Checks every field of the request, so one answer names every problem,
 * into the normalised username and email. */
static core_status
register_args(core_call *c, const Auth__V1__RegisterRequest *req,
    char username[AUTH_USERNAME_MAX + 1], char email[AUTH_EMAIL_MAX + 1])
{
	const char *e;
	bool bad = false;
	if ((e = auth_username_normalize(
	         req->username, username, AUTH_USERNAME_MAX + 1)) != NULL) {
		core_call_field_error(c, "username", "%s", e);
		bad = true;
	}
	if ((e = auth_email_normalize(
	         req->email, email, AUTH_EMAIL_MAX + 1)) != NULL) {
		core_call_field_error(c, "email", "%s", e);
		bad = true;
	}
	if ((e = auth_password_check(req->password, req->username)) != NULL) {
		core_call_field_error(c, "password", "%s", e);
		bad = true;
	}
	return bad ? CORE_INVALID_ARGUMENT : CORE_OK;
}

/* Counts the registration against its client IP (the edge's client_ip;
 * a call without one comes from inside and is bounded by the hash gate
 * only). RESOURCE_EXHAUSTED with a retry-after when over the limit. */
static core_status
register_throttle(core_call *c, const char *client_ip)
{
	auth_worker *w = core_call_state(c);
	char ip[64], key[96];
	if (client_ip[0] == '\0') {
		return CORE_OK;
	}
	auth_clip(ip, sizeof(ip), client_ip);
	snprintf(key, sizeof(key), "ratelimit:register:ip:%s", ip);
	const char *keys[] = {key};
	const int limits[] = {w->cfg->register_max_per_ip};
	bool allowed = false;
	int retry = 0;
	core_status st = auth_ratelimit_hit(w->db.redis, 1, keys, limits,
	    w->cfg->register_window_s, &allowed, &retry);
	if (st != CORE_OK) {
		return auth_redis_error(c, st);
	}
	if (!allowed) {
		/* Debug: a flood from one address would be a line each. */
		core_log_kv(CORE_LOG_DEBUG, "registration throttled",
		    "client_ip", ip, NULL);
		core_call_set_retry_after(c, (uint32_t) retry);
		return core_call_error(c, CORE_RESOURCE_EXHAUSTED,
		    "too many registrations from this address; try again in "
		    "%d s",
		    retry);
	}
	return CORE_OK;
}

/* A taken username or email is refused before the password is hashed: no
 * Argon2id work for an answer that needs none. It tells no more than the
 * answer after a hash did (see "Accounts" in docs/architecture.md). */
static core_status
register_unique(core_call *c, const char *username, const char *email)
{
	auth_worker *w = core_call_state(c);
	bool taken = false;
	core_status st = auth_users_taken(w->db.pg, username, email, &taken);
	if (st != CORE_OK) {
		return auth_storage_error(c, st);
	}
	if (taken) {
		/* Not saying which of the two is taken: see "Accounts" in
		 * docs/architecture.md. */
		return core_call_error(c, CORE_ALREADY_EXISTS, TAKEN);
	}
	return CORE_OK;
}

static core_status
register_user(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	const Auth__V1__RegisterRequest *req =
	    (const Auth__V1__RegisterRequest *) in;
	Auth__V1__RegisterResponse *resp = (Auth__V1__RegisterResponse *) out;
	auth_worker *w = core_call_state(c);
	char username[AUTH_USERNAME_MAX + 1];
	char email[AUTH_EMAIL_MAX + 1];
	char hash[crypto_pwhash_STRBYTES];

	/* The cheap refusals first: a flood must cost next to nothing. */
	core_status st = register_args(c, req, username, email);
	if (st != CORE_OK || (st = auth_password_admit(c)) != CORE_OK ||
	    (st = register_throttle(c, req->client_ip)) != CORE_OK ||
	    (st = register_unique(c, username, email)) != CORE_OK ||
	    (st = auth_password_hash(c, req->password, hash, sizeof(hash))) !=
	        CORE_OK) {
		return st;
	}
	auth_user u;
	auth_one_time_token t;
	auth_mail_msg m;
	auth_users_mail mail;
	if ((st = auth_verify_mail_new(c, username, &t, &m, &mail)) !=
	    CORE_OK) {
		sodium_memzero(hash, sizeof(hash));
		return st;
	}
	st = auth_users_insert(w->db.pg, username, email, hash, &mail, &u);
	sodium_memzero(hash, sizeof(hash));
	sodium_memzero(&t, sizeof(t));
	auth_mail_msg_free(&m);
	if (st == CORE_ALREADY_EXISTS) {
		/* Taken since register_unique looked: the unique indexes
		 * decide the race. */
		return core_call_error(c, CORE_ALREADY_EXISTS, TAKEN);
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
	static const struct {
		unsigned bit;
		char *name;
	} amr[] = {{CORE_AMR_PWD, "pwd"}, {CORE_AMR_OTP, "otp"}};
	m->amr = core_arena_alloc(
	    a, sizeof(amr) / sizeof(amr[0]) * sizeof(*m->amr));
	for (size_t i = 0; m->amr != NULL && i < sizeof(amr) / sizeof(amr[0]);
	     i++) {
		if ((cl->amr & amr[i].bit) != 0) {
			m->amr[m->n_amr++] = amr[i].name;
		}
	}
	if (!m->iss || !m->sub || !m->aud || !m->jti || !m->sid ||
	    !m->username || !m->role || !m->amr) {
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
    /* The password is checked by the handler, throttled as a login. */
    {M("DeleteAccount"), auth_delete_account, CORE_RULE_USER, 0, NULL, NULL},
    {M("AdminDeleteUser"), auth_admin_delete_user, CORE_RULE_ADMIN, 0, NULL,
        NULL},
    /* Public: the token of the request is the proof. */
    {M("VerifyEmail"), auth_verify_email, CORE_RULE_PUBLIC, 0, NULL, NULL},
    {M("ResendVerification"), auth_resend_verification, CORE_RULE_USER, 0,
        NULL, NULL},
    /* Two-factor login (mfa.c). EnrollTotp checks the current password,
     * DisableTotp and RegenerateRecoveryCodes a second factor, LoginMfa
     * its ticket: each handler checks its proof itself. */
    {M("EnrollTotp"), auth_enroll_totp, CORE_RULE_USER, 0, NULL, NULL},
    {M("ConfirmTotp"), auth_confirm_totp, CORE_RULE_USER, 0, NULL, NULL},
    {M("LoginMfa"), auth_login_mfa, CORE_RULE_PUBLIC, 0, NULL, NULL},
    {M("DisableTotp"), auth_disable_totp, CORE_RULE_USER, 0, NULL, NULL},
    {M("RegenerateRecoveryCodes"), auth_regenerate_recovery_codes,
        CORE_RULE_USER, 0, NULL, NULL},
    {M("GetMfaStatus"), auth_get_mfa_status, CORE_RULE_USER, 0, NULL, NULL},
    {M("AdminResetMfa"), auth_admin_reset_mfa, CORE_RULE_ADMIN, 0, NULL, NULL},
};

const core_rpc_service auth_rpc_service = {
    .desc = &auth__v1__auth_service__descriptor,
    .methods = auth_methods,
    .n_methods = sizeof(auth_methods) / sizeof(auth_methods[0]),
    .denied = auth_admin_denied,
};
