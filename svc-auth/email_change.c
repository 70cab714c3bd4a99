/* Email change and registration with a taken address; see
 * email_change.h. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "auth/v1/auth.pb-c.h"

#include "account.h"
#include "auth_validate.h"
#include "auth_worker.h"
#include "core/log.h"
#include "email_change.h"
#include "mail.h"
#include "outbox_repo.h"
#include "ratelimit.h"
#include "replies.h"
#include "rules.h"

/* Every refused token gets this answer, whatever was wrong with it. */
#define BAD_TOKEN "invalid or expired token"
#define NOW_TAKEN                                                             \
	"the address has been registered to another account meanwhile; "      \
	"nothing was changed"
#define SAME_ADDRESS "is already the account's address"

/* Checks new_email into email and the password's presence and length, so
 * one answer names every bad member. */
static core_status
change_args(core_call *c, const Auth__V1__ChangeEmailRequest *req,
    char email[AUTH_EMAIL_MAX + 1])
{
	const char *e =
	    auth_email_normalize(req->new_email, email, AUTH_EMAIL_MAX + 1);
	if (e == NULL) {
		return CORE_OK;
	}
	core_call_field_error(c, "new_email", "%s", e);
	char msg[RULES_MESSAGE_MAX];
	const char *p = rules_check_text(
	    rules_find(&auth__v1__change_email_request__descriptor,
	        "current_password"),
	    req->current_password, msg, sizeof(msg));
	if (p != NULL) {
		core_call_field_error(c, "current_password", "%s", p);
	}
	return CORE_INVALID_ARGUMENT;
}

/* Counts a change against the caller (each writes two mails, one to an
 * address of the caller's choosing): the verification resend limits, on
 * a counter of its own. RESOURCE_EXHAUSTED with a retry-after when over. */
static core_status
change_throttle(core_call *c, const char *user_id)
{
	auth_worker *w = core_call_state(c);
	char key[96];
	snprintf(key, sizeof(key), "ratelimit:email-change:user:%s", user_id);
	const char *keys[] = {key};
	const int limits[] = {w->cfg->verify_resend_max};
	return auth_throttle(c, 1, keys, limits,
	    w->cfg->verify_resend_window_s, "email changes");
}

/* The mails of a change of u to email: the link (or, when the address has
 * an account, no token and the mail that says so) to the new address, and
 * the notice to the old one. */
static core_status
change_write(core_call *c, const auth_user *u, const char *email, bool taken)
{
	auth_worker *w = core_call_state(c);
	const auth_config *cfg = w->cfg;
	int ttl = cfg->email_change_ttl_s;
	auth_one_time_token t;
	auth_mail_msg to_new, to_old;
	memset(&to_old, 0, sizeof(to_old));
	auth_token_new(&t);
	int rc = taken ? auth_mail_render_notice(AUTH_MAIL_CHANGE_EMAIL_TAKEN,
	                     u->username, email, cfg->public_base_url, &to_new)
	               : auth_mail_render(AUTH_MAIL_CHANGE_EMAIL, u->username,
	                     cfg->public_base_url, AUTH_CONFIRM_EMAIL_PATH,
	                     t.text, (ttl + 3599) / 3600, &to_new);
	if (rc == 0) {
		rc = auth_mail_render_notice(AUTH_MAIL_CHANGE_EMAIL_NOTICE,
		    u->username, email, cfg->public_base_url, &to_old);
	}
	core_status st = CORE_INTERNAL;
	bool done = false;
	if (rc == 0) {
		auth_email_change ch = {.user_id = u->id,
		    .new_email = email,
		    .token_hash_hex = taken ? NULL : t.hash_hex,
		    .token_ttl_s = ttl,
		    .to_new = &to_new,
		    .to_old = &to_old};
		st = auth_tokens_change_email(w->db.pg, &ch, &done);
	}
	sodium_memzero(&t, sizeof(t));
	auth_mail_msg_free(&to_new);
	auth_mail_msg_free(&to_old);
	if (rc != 0) {
		return core_call_error(c, CORE_INTERNAL, "mail rendering");
	}
	if (st != CORE_OK) {
		return auth_storage_error(c, st);
	}
	if (!done) {
		/* Deleted or disabled since the password was checked. */
		return core_call_error(
		    c, CORE_UNAUTHENTICATED, "no such user");
	}
	return CORE_OK;
}

core_status
auth_change_email(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	const Auth__V1__ChangeEmailRequest *req =
	    (const Auth__V1__ChangeEmailRequest *) in;
	(void) out;
	auth_worker *w = core_call_state(c);
	char email[AUTH_EMAIL_MAX + 1];
	auth_user u;
	bool name_taken = false, taken = false;
	core_status st = change_args(c, req, email);
	if (st != CORE_OK ||
	    (st = auth_current_password_check(c,
	         &auth__v1__change_email_request__descriptor,
	         req->current_password, req->client_ip, &u)) != CORE_OK) {
		return st;
	}
	if (strcmp(u.email, email) == 0) {
		return core_call_field_error(c, "new_email", SAME_ADDRESS);
	}
	if ((st = change_throttle(c, u.id)) != CORE_OK) {
		return st;
	}
	st = auth_users_taken(w->db.pg, "", email, &name_taken, &taken);
	if (st != CORE_OK) {
		return auth_storage_error(c, st);
	}
	if ((st = change_write(c, &u, email, taken)) != CORE_OK) {
		return st;
	}
	/* The same line either way: the log is no oracle either. */
	core_log_kv(
	    CORE_LOG_INFO, "email change requested", "user_id", u.id, NULL);
	return CORE_OK;
}

core_status
auth_confirm_email_change(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	const Auth__V1__ConfirmEmailChangeRequest *req =
	    (const Auth__V1__ConfirmEmailChangeRequest *) in;
	(void) out;
	auth_worker *w = core_call_state(c);
	char hash[65], user_id[37];
	auth_email_confirm outcome = AUTH_EMAIL_CONFIRM_BAD_TOKEN;
	if (auth_token_hash(req->token, hash) != 0) {
		return core_call_error(c, CORE_INVALID_ARGUMENT, BAD_TOKEN);
	}
	core_status st = auth_tokens_confirm_email_change(
	    w->db.pg, hash, &outcome, user_id);
	if (st == CORE_ALREADY_EXISTS) {
		return core_call_error(c, CORE_ALREADY_EXISTS, NOW_TAKEN);
	}
	if (st != CORE_OK) {
		return auth_storage_error(c, st);
	}
	switch (outcome) {
	case AUTH_EMAIL_CONFIRM_CHANGED:
		core_log_kv(
		    CORE_LOG_INFO, "email changed", "user_id", user_id, NULL);
		return CORE_OK;
	case AUTH_EMAIL_CONFIRM_TAKEN:
		return core_call_error(c, CORE_ALREADY_EXISTS, NOW_TAKEN);
	default:
		return core_call_error(c, CORE_INVALID_ARGUMENT, BAD_TOKEN);
	}
}

/* A version 4 UUID in the text form PostgreSQL writes (lower case): what
 * gen_random_uuid() would have given the user. */
static void
random_uuid(char out[37])
{
	uint8_t b[16];
	randombytes_buf(b, sizeof(b));
	b[6] = (uint8_t) ((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t) ((b[8] & 0x3f) | 0x80);
	snprintf(out, 37,
	    "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x%02x%02x%02x%02x",
	    b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10],
	    b[11], b[12], b[13], b[14], b[15]);
}

/* Whether another "someone tried to register" mail may go to email: at
 * most the verification resend limit per window and address, so that
 * registrations from many client addresses cannot flood one mailbox. The
 * key holds the address's SHA-256, not the address. Over the limit the
 * answer stays the same; only the mail is left out. */
static core_status
register_mail_allowed(core_call *c, const char *email, bool *allowed)
{
	auth_worker *w = core_call_state(c);
	uint8_t h[crypto_hash_sha256_BYTES];
	char hex[2 * crypto_hash_sha256_BYTES + 1], key[128];
	crypto_hash_sha256(h, (const uint8_t *) email, strlen(email));
	sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	snprintf(key, sizeof(key), "ratelimit:register-taken:email:%s", hex);
	const char *keys[] = {key};
	const int limits[] = {w->cfg->verify_resend_max};
	int retry = 0;
	core_status st = auth_ratelimit_hit(w->db.redis, 1, keys, limits,
	    w->cfg->verify_resend_window_s, allowed, &retry);
	return st == CORE_OK ? CORE_OK : auth_redis_error(c, st);
}

core_status
auth_register_taken_email(
    core_call *c, const char *username, const char *email, auth_user *u)
{
	auth_worker *w = core_call_state(c);
	bool allowed = false;
	core_status st = register_mail_allowed(c, email, &allowed);
	if (st != CORE_OK) {
		return st;
	}
	if (allowed) {
		auth_mail_msg m;
		if (auth_mail_render_notice(AUTH_MAIL_REGISTER_TAKEN, username,
		        email, w->cfg->public_base_url, &m) != 0) {
			return core_call_error(
			    c, CORE_INTERNAL, "mail rendering");
		}
		st = auth_outbox_queue(w->db.pg, email, &m);
		auth_mail_msg_free(&m);
		if (st != CORE_OK) {
			return auth_storage_error(c, st);
		}
	} else {
		core_log_kv(CORE_LOG_DEBUG,
		    "registration with a registered email: mail left out "
		    "(too many for the address)",
		    NULL);
	}
	/* The user a registration would have answered: the database's
	 * defaults, a random id, the time with its microseconds. */
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	memset(u, 0, sizeof(*u));
	random_uuid(u->id);
	snprintf(u->username, sizeof(u->username), "%s", username);
	snprintf(u->email, sizeof(u->email), "%s", email);
	snprintf(u->role, sizeof(u->role), "user");
	snprintf(u->status, sizeof(u->status), "active");
	u->created_us = (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	u->updated_us = u->created_us;
	return CORE_OK;
}
