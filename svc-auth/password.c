/* Passwords: forgot, reset and change; see password.h, docs/rpc.md and
 * docs/operations.md ("Passwords"). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "auth/v1/auth.pb-c.h"

#include "account.h"
#include "auth_validate.h"
#include "auth_worker.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/revocation.h"
#include "login.h"
#include "mail.h"
#include "password.h"
#include "password_repo.h"
#include "passwords.h"
#include "ratelimit.h"
#include "replies.h"
#include "rules.h"
#include "sessions.h"

/* Every refused reset token gets this answer, whatever was wrong with
 * it. */
#define BAD_TOKEN "invalid or expired token"
#define DISABLED "this account is disabled"
#define SAME_PASSWORD "must differ from the current password"
#define NOT_SIGNED_OUT                                                        \
	"the password was changed, but the other sessions could not be "      \
	"ended: the session store is unavailable; change the password "       \
	"again"

/* Sleeps until start_ms + min_ms (core_unix_ms), if that is still to
 * come. */
static void
pad_until(int64_t start_ms, int min_ms)
{
	int64_t now;
	while ((now = core_unix_ms()) < start_ms + min_ms) {
		int64_t ms = start_ms + min_ms - now;
		struct timespec ts = {.tv_sec = (time_t) (ms / 1000),
		    .tv_nsec = (long) (ms % 1000) * 1000000L};
		nanosleep(&ts, NULL); /* an early wake-up loops */
	}
}

/* Counts a forgot request on its address and its client IP, whether an
 * account has the address or not; RESOURCE_EXHAUSTED with a retry-after
 * when over a limit. */
static core_status
forgot_throttle(core_call *c, const char *email, const char *client_ip)
{
	auth_worker *w = core_call_state(c);
	const auth_config *cfg = w->cfg;
	char ip[64], email_key[300], ip_key[128];
	auth_clip(ip, sizeof(ip), client_ip[0] ? client_ip : "unknown");
	snprintf(
	    email_key, sizeof(email_key), "ratelimit:forgot:email:%s", email);
	snprintf(ip_key, sizeof(ip_key), "ratelimit:forgot:ip:%s", ip);
	const char *keys[] = {email_key, ip_key};
	const int limits[] = {
	    cfg->forgot_max_per_email, cfg->forgot_max_per_ip};
	core_status st = auth_throttle(c, 2, keys, limits,
	    cfg->forgot_window_s, "password reset requests");
	if (st == CORE_RESOURCE_EXHAUSTED) {
		core_log_kv(CORE_LOG_DEBUG, "password reset request throttled",
		    "client_ip", ip, NULL);
	}
	return st;
}

/* Writes a reset token and its mail for the active account of email, if
 * there is one. */
static core_status
forgot_mail(core_call *c, const char *email)
{
	auth_worker *w = core_call_state(c);
	int ttl = w->cfg->reset_ttl_s;
	auth_reset_user u;
	bool found = false, done = false;
	core_status st = auth_reset_find_by_email(w->db.pg, email, &u, &found);
	if (st != CORE_OK) {
		return auth_storage_error(c, st);
	}
	if (!found) {
		/* No mail: nobody asked for one at that address, and a mail
		 * to an address we do not know would be a way to send it
		 * mail. The answer is the same (docs/operations.md). */
		core_log_kv(CORE_LOG_INFO,
		    "password reset asked for an unknown address", NULL);
		return CORE_OK;
	}
	auth_one_time_token t;
	auth_mail_msg m;
	auth_token_new(&t);
	if (auth_mail_render_minutes(AUTH_MAIL_RESET_PASSWORD, u.username,
	        w->cfg->public_base_url, AUTH_RESET_PASSWORD_PATH, t.text,
	        (ttl + 59) / 60, &m) != 0) {
		sodium_memzero(&t, sizeof(t));
		return core_call_error(c, CORE_INTERNAL, "mail rendering");
	}
	auth_users_mail mail = {.token_hash_hex = t.hash_hex,
	    .token_ttl_s = ttl,
	    .subject = m.subject,
	    .text = m.text,
	    .html = m.html};
	st = auth_reset_token_write(w->db.pg, &u, &mail, &done);
	sodium_memzero(&t, sizeof(t));
	auth_mail_msg_free(&m);
	if (st != CORE_OK) {
		return auth_storage_error(c, st);
	}
	if (done) {
		core_log_kv(CORE_LOG_INFO, "password reset mail queued",
		    "user_id", u.id, NULL);
	}
	return CORE_OK;
}

core_status
auth_forgot_password(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	const Auth__V1__ForgotPasswordRequest *req =
	    (const Auth__V1__ForgotPasswordRequest *) in;
	(void) out;
	auth_worker *w = core_call_state(c);
	int64_t start = core_unix_ms();
	char email[AUTH_EMAIL_MAX + 1];
	const char *e = auth_email_normalize(req->email, email, sizeof(email));
	if (e != NULL) {
		return core_call_field_error(c, "email", "%s", e);
	}
	core_status st = forgot_throttle(c, email, req->client_ip);
	if (st == CORE_OK) {
		st = forgot_mail(c, email);
	}
	/* A known address costs a token, a mail and a commit; an unknown
	 * one a lookup: both answer after the same least time. */
	pad_until(start, w->cfg->forgot_min_ms);
	return st;
}

/* The notice that the password of u was changed, into m, and notice
 * pointing at it. */
static core_status
notice_new(core_call *c, const char *username, auth_mail_msg *m,
    auth_users_mail *notice)
{
	auth_worker *w = core_call_state(c);
	if (auth_mail_render_minutes(AUTH_MAIL_PASSWORD_CHANGED, username,
	        w->cfg->public_base_url, AUTH_FORGOT_PASSWORD_PATH, NULL, 0,
	        m) != 0) {
		return core_call_error(c, CORE_INTERNAL, "mail rendering");
	}
	*notice = (auth_users_mail){
	    .subject = m->subject, .text = m->text, .html = m->html};
	return CORE_OK;
}

/* Ends every session of user_id (*count of them) and refuses every access
 * token issued before now: sessions first (see refreshed_user() in
 * login.c). */
static core_status
sign_out_everywhere(core_call *c, const char *user_id, int *count)
{
	auth_worker *w = core_call_state(c);
	core_status st = auth_session_revoke_all(w->db.redis, user_id, count);
	if (st == CORE_OK) {
		st = core_revoke_user_tokens(w->db.redis, user_id,
		    core_unix_ms() / 1000, w->cfg->access_ttl_s);
	}
	if (st != CORE_OK) {
		core_log_kv(CORE_LOG_ERROR,
		    "password changed but sessions not ended", "user_id",
		    user_id, "code", core_status_str(st), NULL);
		return core_call_error(c, CORE_UNAVAILABLE, NOT_SIGNED_OUT);
	}
	return CORE_OK;
}

/* Checks the new password's length against the rule row of field
 * new_password of d, and its content for username; answered on c as a
 * field error. */
static bool
new_password_bad(core_call *c, const ProtobufCMessageDescriptor *d,
    const char *password, const char *username)
{
	char msg[RULES_MESSAGE_MAX];
	const char *e = rules_check_text(
	    rules_find(d, "new_password"), password, msg, sizeof(msg));
	if (e == NULL && username != NULL) {
		e = auth_password_check(password, username);
	}
	if (e != NULL) {
		core_call_field_error(c, "new_password", "%s", e);
		return true;
	}
	return false;
}

/* Uses the reset token (the same answer for every bad one) and sets the
 * password hash; *u is whom it was for. */
static core_status
reset_apply(core_call *c, const Auth__V1__ResetPasswordRequest *req,
    auth_reset_user *u)
{
	auth_worker *w = core_call_state(c);
	char token_hash[65], hash[crypto_pwhash_STRBYTES];
	bool found = false, done = false;
	if (auth_token_hash(req->token, token_hash) != 0) {
		return core_call_error(c, CORE_INVALID_ARGUMENT, BAD_TOKEN);
	}
	core_status st =
	    auth_reset_token_peek(w->db.pg, token_hash, u, &found);
	if (st != CORE_OK) {
		return auth_storage_error(c, st);
	}
	if (!found) {
		return core_call_error(c, CORE_INVALID_ARGUMENT, BAD_TOKEN);
	}
	if (new_password_bad(c, &auth__v1__reset_password_request__descriptor,
	        req->new_password, u->username)) {
		return CORE_INVALID_ARGUMENT;
	}
	if ((st = auth_password_hash(
	         c, req->new_password, hash, sizeof(hash))) != CORE_OK) {
		return st;
	}
	auth_mail_msg m;
	auth_users_mail notice;
	if ((st = notice_new(c, u->username, &m, &notice)) == CORE_OK) {
		st = auth_reset_token_use(
		    w->db.pg, token_hash, u->id, hash, &notice, &done);
		auth_mail_msg_free(&m);
		if (st != CORE_OK) {
			st = auth_storage_error(c, st);
		} else if (!done) {
			/* Used by a parallel call since the peek. */
			st = core_call_error(
			    c, CORE_INVALID_ARGUMENT, BAD_TOKEN);
		}
	}
	sodium_memzero(hash, sizeof(hash));
	return st;
}

core_status
auth_reset_password(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	const Auth__V1__ResetPasswordRequest *req =
	    (const Auth__V1__ResetPasswordRequest *) in;
	Auth__V1__ResetPasswordResponse *resp =
	    (Auth__V1__ResetPasswordResponse *) out;
	auth_worker *w = core_call_state(c);
	auth_reset_user u;
	int sessions = 0;
	/* The length first: a hash of a too-long password is no work worth
	 * doing, whatever the token. */
	if (new_password_bad(c, &auth__v1__reset_password_request__descriptor,
	        req->new_password, NULL)) {
		return CORE_INVALID_ARGUMENT;
	}
	core_status st = reset_apply(c, req, &u);
	if (st != CORE_OK ||
	    (st = sign_out_everywhere(c, u.id, &sessions)) != CORE_OK) {
		return st;
	}
	/* The mail's owner is back in: the failed logins that may have
	 * locked their username out no longer count. */
	char key[96];
	snprintf(key, sizeof(key), "ratelimit:login:user:%s", u.username);
	(void) auth_ratelimit_reset(w->db.redis, key);
	resp->sessions_revoked = sessions;
	core_log_kv(CORE_LOG_INFO, "password reset", "user_id", u.id, NULL);
	return CORE_OK;
}

core_status
auth_change_password(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	const Auth__V1__ChangePasswordRequest *req =
	    (const Auth__V1__ChangePasswordRequest *) in;
	Auth__V1__TokenResponse *resp = (Auth__V1__TokenResponse *) out;
	const ProtobufCMessageDescriptor *d =
	    &auth__v1__change_password_request__descriptor;
	auth_worker *w = core_call_state(c);
	const core_jwt_claims *cl = core_call_claims(c);
	char msg[RULES_MESSAGE_MAX], hash[crypto_pwhash_STRBYTES];
	auth_user u;
	/* Every field's problem in one answer, before any hash. */
	const char *e = rules_check_text(rules_find(d, "current_password"),
	    req->current_password, msg, sizeof(msg));
	if (e != NULL) {
		core_call_field_error(c, "current_password", "%s", e);
	}
	if (new_password_bad(c, d, req->new_password, cl->username) ||
	    e != NULL) {
		return CORE_INVALID_ARGUMENT;
	}
	int64_t t0 = core_unix_ms() / 1000;
	core_status st = auth_current_password_check(
	    c, d, req->current_password, req->client_ip, &u);
	if (st != CORE_OK) {
		return st;
	}
	if (strlen(req->new_password) == strlen(req->current_password) &&
	    sodium_memcmp(req->new_password, req->current_password,
	        strlen(req->new_password)) == 0) {
		return core_call_field_error(c, "new_password", SAME_PASSWORD);
	}
	if ((st = auth_password_hash(
	         c, req->new_password, hash, sizeof(hash))) != CORE_OK) {
		return st;
	}
	auth_mail_msg m;
	auth_users_mail notice;
	bool done = false;
	if ((st = notice_new(c, u.username, &m, &notice)) == CORE_OK) {
		st = auth_password_set(w->db.pg, u.id, hash, &notice, &done);
		auth_mail_msg_free(&m);
		if (st != CORE_OK) {
			st = auth_storage_error(c, st);
		} else if (!done) {
			/* Disabled (or deleted) since the password check. */
			st = core_call_error(
			    c, CORE_PERMISSION_DENIED, DISABLED);
		}
	}
	sodium_memzero(hash, sizeof(hash));
	int sessions = 0;
	if (st != CORE_OK ||
	    (st = sign_out_everywhere(c, u.id, &sessions)) != CORE_OK) {
		return st;
	}
	core_log_kv(CORE_LOG_INFO, "password changed", "user_id", u.id, NULL);
	/* The caller goes on in a new session: its old one ended with the
	 * others, and its access tokens with every other. */
	return auth_session_start(
	    c, &u, t0, req->client_ip, req->user_agent, resp);
}
