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
#include "email_change.h"
#include "key_methods.h"
#include "login.h"
#include "password.h"
#include "mfa.h"
#include "passwords.h"
#include "ratelimit.h"
#include "replies.h"
#include "session_methods.h"
#include "user_admin.h"
#include "users_repo.h"
#include "verify_email.h"

#define TAKEN "the username is already registered"

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
	core_status st = auth_throttle(c, 1, keys, limits,
	    w->cfg->register_window_s, "registrations from this address");
	if (st == CORE_RESOURCE_EXHAUSTED) {
		/* Debug: a flood from one address would be a line each. */
		core_log_kv(CORE_LOG_DEBUG, "registration throttled",
		    "client_ip", ip, NULL);
	}
	return st;
}

/* A taken username is refused before the password is hashed: no Argon2id
 * work for an answer that needs none (usernames are public: the login
 * form shows them). A taken email is not refused, nor answered any
 * faster: *email_taken tells register_user to hash all the same and write
 * the mail to the address's owner instead of a user (no enumeration; see
 * "Accounts" in docs/architecture.md). */
static core_status
register_unique(
    core_call *c, const char *username, const char *email, bool *email_taken)
{
	auth_worker *w = core_call_state(c);
	bool name_taken = false;
	core_status st = auth_users_taken(
	    w->db.pg, username, email, &name_taken, email_taken);
	if (st != CORE_OK) {
		return auth_storage_error(c, st);
	}
	if (name_taken) {
		return core_call_error(c, CORE_ALREADY_EXISTS, TAKEN);
	}
	return CORE_OK;
}

/* The new user, its verification token and mail: CORE_OK with *u, or
 * CORE_ALREADY_EXISTS when the username or the email was taken since
 * register_unique looked (the unique indexes decide the race), or an
 * error answered on c. */
static core_status
register_insert(core_call *c, const char *username, const char *email,
    const char *hash, auth_user *u)
{
	auth_worker *w = core_call_state(c);
	auth_one_time_token t;
	auth_mail_msg m;
	auth_users_mail mail;
	core_status st = auth_verify_mail_new(c, username, &t, &m, &mail);
	if (st != CORE_OK) {
		return st;
	}
	st = auth_users_insert(w->db.pg, username, email, hash, &mail, u);
	sodium_memzero(&t, sizeof(t));
	auth_mail_msg_free(&m);
	if (st != CORE_OK && st != CORE_ALREADY_EXISTS) {
		return auth_storage_error(c, st);
	}
	return st;
}

static core_status
register_user(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	const Auth__V1__RegisterRequest *req =
	    (const Auth__V1__RegisterRequest *) in;
	Auth__V1__RegisterResponse *resp = (Auth__V1__RegisterResponse *) out;
	char username[AUTH_USERNAME_MAX + 1];
	char email[AUTH_EMAIL_MAX + 1];
	char hash[crypto_pwhash_STRBYTES];
	bool email_taken = false;

	/* The cheap refusals first: a flood must cost next to nothing. */
	core_status st = register_args(c, req, username, email);
	if (st != CORE_OK || (st = auth_password_admit(c)) != CORE_OK ||
	    (st = register_throttle(c, req->client_ip)) != CORE_OK ||
	    (st = register_unique(c, username, email, &email_taken)) !=
	        CORE_OK ||
	    (st = auth_password_hash(c, req->password, hash, sizeof(hash))) !=
	        CORE_OK) {
		return st;
	}
	auth_user u;
	if (!email_taken) {
		st = register_insert(c, username, email, hash, &u);
		if (st == CORE_ALREADY_EXISTS) {
			/* Lost a race: which of the two was taken decides
			 * the answer, as above. */
			st = register_unique(c, username, email, &email_taken);
			if (st == CORE_OK && !email_taken) {
				st = core_call_error(
				    c, CORE_ALREADY_EXISTS, TAKEN);
			}
		}
	}
	sodium_memzero(hash, sizeof(hash));
	if (st != CORE_OK) {
		return st;
	}
	if (email_taken) {
		if ((st = auth_register_taken_email(c, username, email, &u)) !=
		    CORE_OK) {
			return st;
		}
		core_log_kv(CORE_LOG_INFO,
		    "registration with a registered email: its owner is told",
		    NULL);
	} else {
		core_log_kv(
		    CORE_LOG_INFO, "user registered", "user_id", u.id, NULL);
	}
	resp->user = auth_user_message(core_call_arena(c), &u);
	if (resp->user == NULL) {
		return core_call_error(c, CORE_INTERNAL, "out of memory");
	}
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

/* Who may call the administration and the signing keys over TLS: svc-admin,
 * which audits every admin action before it asks, and the operators'
 * rpcctl. The edge and svc-user never call these; if one of them is taken
 * over, a stolen admin token still gets PERMISSION_DENIED here. (Plain
 * transports carry no identity and are not checked: docs/rpc.md.) */
static const char *const admin_callers[] = {"svc-admin", "ops", NULL};

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
    {M("RotateKeys"), auth_rotate_keys, CORE_RULE_ADMIN, 0, admin_callers,
        NULL},
    {M("ListKeys"), auth_list_keys, CORE_RULE_ADMIN, 0, admin_callers, NULL},
    {M("AdminListUsers"), auth_admin_list_users, CORE_RULE_ADMIN, 0,
        admin_callers, NULL},
    {M("AdminGetUser"), auth_admin_get_user, CORE_RULE_ADMIN, 0, admin_callers,
        NULL},
    {M("AdminUpdateUser"), auth_admin_update_user, CORE_RULE_ADMIN, 0,
        admin_callers, NULL},
    {M("AdminRevokeSessions"), auth_admin_revoke_sessions, CORE_RULE_ADMIN, 0,
        admin_callers, NULL},
    /* The password is checked by the handler, throttled as a login. */
    {M("DeleteAccount"), auth_delete_account, CORE_RULE_USER, 0, NULL, NULL},
    {M("AdminDeleteUser"), auth_admin_delete_user, CORE_RULE_ADMIN, 0,
        admin_callers, NULL},
    /* Public: the token of the request is the proof. */
    {M("VerifyEmail"), auth_verify_email, CORE_RULE_PUBLIC, 0, NULL, NULL},
    {M("ResendVerification"), auth_resend_verification, CORE_RULE_USER, 0,
        NULL, NULL},
    /* The password is checked by the handler, throttled as a login. */
    {M("ChangeEmail"), auth_change_email, CORE_RULE_USER, 0, NULL, NULL},
    /* Public: the token of the request is the proof. */
    {M("ConfirmEmailChange"), auth_confirm_email_change, CORE_RULE_PUBLIC, 0,
        NULL, NULL},
    /* Passwords. Public: the address is throttled, the reset token is the
     * proof. ChangePassword checks the current password itself (the
     * re-authentication), throttled as a login. */
    {M("ForgotPassword"), auth_forgot_password, CORE_RULE_PUBLIC, 0, NULL,
        NULL},
    {M("ResetPassword"), auth_reset_password, CORE_RULE_PUBLIC, 0, NULL, NULL},
    {M("ChangePassword"), auth_change_password, CORE_RULE_USER, 0, NULL, NULL},
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
    {M("AdminResetMfa"), auth_admin_reset_mfa, CORE_RULE_ADMIN, 0,
        admin_callers, NULL},
};

const core_rpc_service auth_rpc_service = {
    .desc = &auth__v1__auth_service__descriptor,
    .methods = auth_methods,
    .n_methods = sizeof(auth_methods) / sizeof(auth_methods[0]),
    .denied = auth_admin_denied,
};
