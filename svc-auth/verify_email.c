/* Email verification; see verify_email.h. */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "auth/v1/auth.pb-c.h"

#include "auth_worker.h"
#include "core/log.h"
#include "outbox_repo.h"
#include "ratelimit.h"
#include "replies.h"
#include "verify_email.h"

/* Every refused token gets this answer, whatever was wrong with it. */
#define BAD_TOKEN "invalid or expired token"

core_status
auth_verify_mail_new(core_call *c, const char *username,
    auth_one_time_token *t, auth_mail_msg *m, auth_users_mail *mail)
{
	auth_worker *w = core_call_state(c);
	int ttl = w->cfg->verify_ttl_s;
	auth_token_new(t);
	if (auth_mail_render(AUTH_MAIL_VERIFY_EMAIL, username,
	        w->cfg->public_base_url, AUTH_VERIFY_EMAIL_PATH, t->text,
	        (ttl + 3599) / 3600, m) != 0) {
		sodium_memzero(t, sizeof(*t));
		return core_call_error(c, CORE_INTERNAL, "mail rendering");
	}
	*mail = (auth_users_mail){.token_hash_hex = t->hash_hex,
	    .token_ttl_s = ttl,
	    .subject = m->subject,
	    .text = m->text,
	    .html = m->html};
	return CORE_OK;
}

core_status
auth_verify_email(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	const Auth__V1__VerifyEmailRequest *req =
	    (const Auth__V1__VerifyEmailRequest *) in;
	(void) out;
	auth_worker *w = core_call_state(c);
	char hash[65], user_id[37];
	bool ok = false;
	if (auth_token_hash(req->token, hash) != 0) {
		return core_call_error(c, CORE_INVALID_ARGUMENT, BAD_TOKEN);
	}
	core_status st =
	    auth_tokens_verify_email(w->db.pg, hash, &ok, user_id);
	if (st != CORE_OK) {
		return auth_storage_error(c, st);
	}
	if (!ok) {
		return core_call_error(c, CORE_INVALID_ARGUMENT, BAD_TOKEN);
	}
	core_log_kv(CORE_LOG_INFO, "email verified", "user_id", user_id, NULL);
	return CORE_OK;
}

/* Counts a resend against the caller; RESOURCE_EXHAUSTED with a
 * retry-after when over the limit. */
static core_status
resend_throttle(core_call *c, const char *user_id)
{
	auth_worker *w = core_call_state(c);
	char key[96];
	snprintf(key, sizeof(key), "ratelimit:verify-resend:user:%s", user_id);
	const char *keys[] = {key};
	const int limits[] = {w->cfg->verify_resend_max};
	return auth_throttle(c, 1, keys, limits,
	    w->cfg->verify_resend_window_s, "verification mails");
}

core_status
auth_resend_verification(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	(void) in;
	(void) out;
	auth_worker *w = core_call_state(c);
	const core_jwt_claims *cl = core_call_claims(c);
	auth_user u;
	core_status st = resend_throttle(c, cl->sub);
	if (st != CORE_OK) {
		return st;
	}
	st = auth_users_find_by_id(w->db.pg, cl->sub, &u);
	if (st == CORE_NOT_FOUND) {
		return core_call_error(c, CORE_NOT_FOUND, "no such user");
	}
	if (st != CORE_OK) {
		return auth_storage_error(c, st);
	}
	if (u.email_verified) {
		return core_call_error(c, CORE_FAILED_PRECONDITION,
		    "the email address is already verified");
	}
	auth_one_time_token t;
	auth_mail_msg m;
	auth_users_mail mail;
	if ((st = auth_verify_mail_new(c, u.username, &t, &m, &mail)) !=
	    CORE_OK) {
		return st;
	}
	bool done = false;
	st = auth_tokens_resend_verification(w->db.pg, &u, &mail, &done);
	sodium_memzero(&t, sizeof(t));
	auth_mail_msg_free(&m);
	if (st != CORE_OK) {
		return auth_storage_error(c, st);
	}
	if (!done) {
		/* Verified, changed or disabled since the read above. */
		return core_call_error(c, CORE_FAILED_PRECONDITION,
		    "the email address is already verified");
	}
	core_log_kv(
	    CORE_LOG_INFO, "verification mail queued", "user_id", u.id, NULL);
	return CORE_OK;
}
