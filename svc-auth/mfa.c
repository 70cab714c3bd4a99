/* Two-factor login: enrolment, confirmation, disabling, new recovery
 * codes, the status and an admin's reset; see mfa.h, docs/rpc.md and
 * docs/operations.md. The login's half is in mfa_login.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "auth/v1/auth.pb-c.h"

#include "auth_validate.h"
#include "auth_worker.h"
#include "core/clock.h"
#include "core/log.h"
#include "mfa.h"
#include "mfa_factor.h"
#include "mfa_repo.h"
#include "passwords.h"
#include "ratelimit.h"
#include "replies.h"
#include "rules.h"
#include "totp.h"
#include "users_repo.h"

#define BAD_PASSWORD "invalid password"
#define NO_SUCH_USER "no such user"

/* What the notice mail says of each change. */
#define SAID_ENABLED                                                          \
	"Two-factor sign-in was turned on for your account. From now on a "   \
	"login needs a code of your authenticator app (or a recovery code) "  \
	"after the password."
#define SAID_DISABLED                                                         \
	"Two-factor sign-in was turned off for your account: a login needs "  \
	"only the password now."
#define SAID_CODES                                                            \
	"New recovery codes were made for your account; the earlier ones no " \
	"longer work."
#define SAID_RESET                                                            \
	"An administrator turned two-factor sign-in off for your account. "   \
	"Turn it on again from your profile."

/* A new set of recovery codes: the texts (in the call's arena, for the
 * answer) into *codes and their hashes for user_id. */
static core_status
new_codes(core_call *c, const char *user_id, char ***codes,
    char hashes[AUTH_RECOVERY_CODES][65])
{
	core_arena *a = core_call_arena(c);
	char **v = core_arena_alloc(a, AUTH_RECOVERY_CODES * sizeof(*v));
	for (int i = 0; v != NULL && i < AUTH_RECOVERY_CODES; i++) {
		char code[AUTH_RECOVERY_CODE_LEN + 1];
		auth_recovery_code_new(code);
		(void) auth_recovery_code_hash(user_id, code, hashes[i]);
		if ((v[i] = core_arena_strdup(a, code)) == NULL) {
			v = NULL;
		}
		sodium_memzero(code, sizeof(code));
	}
	if (v == NULL) {
		return core_call_error(c, CORE_INTERNAL, "out of memory");
	}
	*codes = v;
	return CORE_OK;
}

/* ---- The password of an enrolment -------------------------------------- */

/* Checks the caller's current password, counted as a login on the
 * username's and the address's counters (as DeleteAccount does). */
static core_status
check_password(
    core_call *c, const auth_user *u, const char *password, const char *ip)
{
	auth_worker *w = core_call_state(c);
	const auth_config *cfg = w->cfg;
	char msg[RULES_MESSAGE_MAX];
	const char *e = rules_check_text(
	    rules_find(&auth__v1__enroll_totp_request__descriptor,
	        "current_password"),
	    password, msg, sizeof(msg));
	if (e != NULL) {
		return core_call_field_error(c, "current_password", "%s", e);
	}
	char user_key[96], ip_key[128];
	snprintf(user_key, sizeof(user_key), "ratelimit:login:user:%s",
	    u->username);
	snprintf(ip_key, sizeof(ip_key), "ratelimit:login:ip:%s", ip);
	const char *keys[] = {user_key, ip_key};
	const int limits[] = {cfg->login_max_per_user, cfg->login_max_per_ip};
	bool allowed = false, match = false;
	int retry = 0;
	core_status st = auth_ratelimit_hit(w->db.redis, 2, keys, limits,
	    cfg->login_window_s, &allowed, &retry);
	if (st != CORE_OK) {
		return auth_redis_error(c, st);
	}
	if (!allowed) {
		core_call_set_retry_after(c, (uint32_t) retry);
		return core_call_error(c, CORE_RESOURCE_EXHAUSTED,
		    "too many login attempts; try again in %d s", retry);
	}
	char hash[256];
	st = auth_mfa_current_hash(c, u, hash, sizeof(hash));
	if (st == CORE_NOT_FOUND) {
		return core_call_error(c, CORE_UNAUTHENTICATED, BAD_PASSWORD);
	}
	if (st != CORE_OK) {
		return auth_storage_error(c, st);
	}
	st = auth_password_verify(c, hash, password, &match);
	sodium_memzero(hash, sizeof(hash));
	if (st != CORE_OK) {
		return st;
	}
	if (!match) {
		return core_call_error(c, CORE_UNAUTHENTICATED, BAD_PASSWORD);
	}
	(void) auth_ratelimit_reset(w->db.redis, user_key);
	(void) auth_ratelimit_undo(w->db.redis, ip_key);
	return CORE_OK;
}

/* ---- Enrolment --------------------------------------------------------- */

/* The answer of an enrolment: the secret, its URI and QR code. */
static core_status
enroll_reply(core_call *c, const auth_user *u,
    const uint8_t secret[AUTH_TOTP_SECRET_BYTES],
    Auth__V1__EnrollTotpResponse *resp)
{
	auth_worker *w = core_call_state(c);
	core_arena *a = core_call_arena(c);
	char b32[AUTH_TOTP_SECRET_B32_LEN + 1], uri[1024];
	auth_totp_secret_b32(secret, b32);
	if (auth_totp_uri(w->cfg->totp_issuer, u->username, b32, uri,
	        sizeof(uri)) != 0) {
		sodium_memzero(b32, sizeof(b32));
		return core_call_error(c, CORE_INTERNAL,
		    "AUTH_TOTP_ISSUER is too long for an otpauth URI");
	}
	char *svg = auth_totp_qr_svg(uri);
	resp->secret = core_arena_strdup(a, b32);
	resp->otpauth_uri = core_arena_strdup(a, uri);
	resp->qr_svg = svg != NULL ? core_arena_strdup(a, svg) : NULL;
	resp->expires_in = AUTH_MFA_ENROLL_TTL_S;
	free(svg);
	sodium_memzero(b32, sizeof(b32));
	sodium_memzero(uri, sizeof(uri));
	if (resp->secret == NULL || resp->otpauth_uri == NULL ||
	    resp->qr_svg == NULL) {
		return core_call_error(c, CORE_INTERNAL, "out of memory");
	}
	return CORE_OK;
}

core_status
auth_enroll_totp(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	const Auth__V1__EnrollTotpRequest *req =
	    (const Auth__V1__EnrollTotpRequest *) in;
	Auth__V1__EnrollTotpResponse *resp =
	    (Auth__V1__EnrollTotpResponse *) out;
	auth_worker *w = core_call_state(c);
	char ip[64], ua[256];
	auth_user u;
	auth_mfa_client(req->client_ip, req->user_agent, ip, ua);
	core_status st = auth_mfa_caller(c, &u);
	if (st != CORE_OK || (st = check_password(c, &u, req->current_password,
	                          ip)) != CORE_OK) {
		return st;
	}
	uint8_t secret[AUTH_TOTP_SECRET_BYTES], sealed[AUTH_TOTP_SEALED_BYTES];
	auth_totp_secret_new(secret);
	const uint8_t *kek = auth_keyring_kek_open(w->cfg->keys);
	if (kek != NULL) {
		auth_totp_seal(kek, secret, sealed);
	}
	auth_keyring_kek_close(w->cfg->keys);
	if (kek == NULL) {
		sodium_memzero(secret, sizeof(secret));
		return core_call_error(c, CORE_INTERNAL, "no KEK");
	}
	st = auth_mfa_enroll(w->db.pg, u.id, sealed);
	if (st == CORE_FAILED_PRECONDITION) {
		st = core_call_error(c, CORE_FAILED_PRECONDITION,
		    "two-factor login is on already; turn it off first");
	} else if (st != CORE_OK) {
		st = auth_storage_error(c, st);
	} else {
		st = enroll_reply(c, &u, secret, resp);
	}
	sodium_memzero(secret, sizeof(secret));
	if (st == CORE_OK) {
		core_log_kv(CORE_LOG_INFO, "totp enrolment started", "user_id",
		    u.id, NULL);
	}
	return st;
}

/* Whether code matches the pending secret t of user_id (*step: the step
 * it matched). */
static core_status
confirm_check(core_call *c, const auth_mfa_totp *t, const char *code, bool *ok,
    int64_t *step)
{
	uint8_t secret[AUTH_TOTP_SECRET_BYTES];
	*ok = false;
	core_status st = auth_mfa_unseal(c, t->sealed, secret);
	if (st != CORE_OK) {
		return st;
	}
	*ok = auth_totp_match(
	          secret, code, auth_mfa_now_s(), AUTH_TOTP_WINDOW, step) == 0;
	sodium_memzero(secret, sizeof(secret));
	return CORE_OK;
}

core_status
auth_confirm_totp(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	const Auth__V1__ConfirmTotpRequest *req =
	    (const Auth__V1__ConfirmTotpRequest *) in;
	Auth__V1__ConfirmTotpResponse *resp =
	    (Auth__V1__ConfirmTotpResponse *) out;
	auth_worker *w = core_call_state(c);
	char ip[64], ua[256];
	auth_user u;
	auth_mfa_keys k;
	auth_mfa_totp t;
	auth_mfa_client(req->client_ip, req->user_agent, ip, ua);
	if (req->code[0] == '\0') {
		return core_call_field_error(c, "code", "is required");
	}
	core_status st = auth_mfa_caller(c, &u);
	if (st != CORE_OK ||
	    (st = auth_mfa_throttle(c, u.id, ip, NULL, &k)) != CORE_OK) {
		return st;
	}
	st = auth_mfa_totp_get(w->db.pg, u.id, &t);
	if (st == CORE_NOT_FOUND || (st == CORE_OK && t.enabled) ||
	    (st == CORE_OK && t.age_s >= AUTH_MFA_ENROLL_TTL_S)) {
		return core_call_error(c, CORE_FAILED_PRECONDITION,
		    "no enrolment is waiting for its first code (or it "
		    "expired): start one with EnrollTotp");
	}
	if (st != CORE_OK) {
		return auth_storage_error(c, st);
	}
	bool ok = false;
	int64_t step = 0;
	if ((st = confirm_check(c, &t, req->code, &ok, &step)) != CORE_OK) {
		return st;
	}
	if (!ok) {
		return core_call_error(
		    c, CORE_UNAUTHENTICATED, AUTH_MFA_BAD_CODE);
	}
	auth_mfa_succeeded(w, &k);
	char hashes[AUTH_RECOVERY_CODES][65];
	char **codes = NULL;
	auth_mail_msg m;
	auth_mfa_mail mail;
	if ((st = new_codes(c, u.id, &codes, hashes)) != CORE_OK ||
	    (st = auth_mfa_notice(c, &u, SAID_ENABLED, &m, &mail)) !=
	        CORE_OK) {
		return st;
	}
	bool done = false;
	st = auth_mfa_confirm(
	    w->db.pg, u.id, step, AUTH_MFA_ENROLL_TTL_S, hashes, &mail, &done);
	auth_mail_msg_free(&m);
	if (st != CORE_OK) {
		return auth_storage_error(c, st);
	}
	if (!done) {
		/* Confirmed or replaced meanwhile by another call. */
		return core_call_error(c, CORE_FAILED_PRECONDITION,
		    "the enrolment changed meanwhile: start again");
	}
	resp->recovery_codes = codes;
	resp->n_recovery_codes = AUTH_RECOVERY_CODES;
	core_log_kv(
	    CORE_LOG_INFO, "two-factor login enabled", "user_id", u.id, NULL);
	return CORE_OK;
}

/* ---- Changes of a user with two-factor login on ------------------------ */

core_status
auth_disable_totp(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	const Auth__V1__DisableTotpRequest *req =
	    (const Auth__V1__DisableTotpRequest *) in;
	(void) out;
	auth_worker *w = core_call_state(c);
	char ip[64], ua[256];
	auth_user u;
	auth_mail_msg m;
	auth_mfa_mail mail;
	auth_mfa_client(req->client_ip, req->user_agent, ip, ua);
	core_status st = auth_mfa_caller(c, &u);
	if (st != CORE_OK ||
	    (st = auth_mfa_check_factor(c, u.id, req->code, req->recovery_code,
	         ip, NULL)) != CORE_OK ||
	    (st = auth_mfa_notice(c, &u, SAID_DISABLED, &m, &mail)) !=
	        CORE_OK) {
		return st;
	}
	bool was = false;
	st = auth_mfa_remove(w->db.pg, u.id, &mail, &was);
	auth_mail_msg_free(&m);
	if (st != CORE_OK) {
		return auth_storage_error(c, st);
	}
	core_log_kv(
	    CORE_LOG_INFO, "two-factor login disabled", "user_id", u.id, NULL);
	return CORE_OK;
}

core_status
auth_regenerate_recovery_codes(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	const Auth__V1__RegenerateRecoveryCodesRequest *req =
	    (const Auth__V1__RegenerateRecoveryCodesRequest *) in;
	Auth__V1__RegenerateRecoveryCodesResponse *resp =
	    (Auth__V1__RegenerateRecoveryCodesResponse *) out;
	auth_worker *w = core_call_state(c);
	char ip[64], ua[256];
	char hashes[AUTH_RECOVERY_CODES][65];
	char **codes = NULL;
	auth_user u;
	auth_mail_msg m;
	auth_mfa_mail mail;
	auth_mfa_client(req->client_ip, req->user_agent, ip, ua);
	core_status st = auth_mfa_caller(c, &u);
	if (st != CORE_OK ||
	    (st = auth_mfa_check_factor(c, u.id, req->code, req->recovery_code,
	         ip, NULL)) != CORE_OK ||
	    (st = new_codes(c, u.id, &codes, hashes)) != CORE_OK ||
	    (st = auth_mfa_notice(c, &u, SAID_CODES, &m, &mail)) != CORE_OK) {
		return st;
	}
	bool done = false;
	st = auth_mfa_replace_codes(w->db.pg, u.id, hashes, &mail, &done);
	auth_mail_msg_free(&m);
	if (st != CORE_OK) {
		return auth_storage_error(c, st);
	}
	if (!done) {
		return core_call_error(
		    c, CORE_FAILED_PRECONDITION, AUTH_MFA_OFF);
	}
	resp->recovery_codes = codes;
	resp->n_recovery_codes = AUTH_RECOVERY_CODES;
	core_log_kv(CORE_LOG_INFO, "recovery codes regenerated", "user_id",
	    u.id, NULL);
	return CORE_OK;
}

core_status
auth_get_mfa_status(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	(void) in;
	Auth__V1__GetMfaStatusResponse *resp =
	    (Auth__V1__GetMfaStatusResponse *) out;
	auth_worker *w = core_call_state(c);
	bool enabled = false;
	int left = 0;
	core_status st = auth_mfa_status(
	    w->db.pg, core_call_claims(c)->sub, &enabled, &left);
	if (st != CORE_OK) {
		return auth_storage_error(c, st);
	}
	resp->totp_enabled = enabled;
	resp->recovery_codes_left = enabled ? left : 0;
	return CORE_OK;
}

core_status
auth_admin_reset_mfa(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	const Auth__V1__AdminResetMfaRequest *req =
	    (const Auth__V1__AdminResetMfaRequest *) in;
	Auth__V1__AdminResetMfaResponse *resp =
	    (Auth__V1__AdminResetMfaResponse *) out;
	auth_worker *w = core_call_state(c);
	auth_user u;
	auth_mail_msg m;
	auth_mfa_mail mail;
	if (!auth_uuid_valid(req->id)) {
		return core_call_field_error(
		    c, "id", "must be a user id (a UUID)");
	}
	core_status st = auth_users_find_by_id(w->db.pg, req->id, &u);
	if (st == CORE_NOT_FOUND) {
		return core_call_error(c, CORE_NOT_FOUND, NO_SUCH_USER);
	}
	if (st != CORE_OK) {
		return auth_storage_error(c, st);
	}
	if ((st = auth_mfa_notice(c, &u, SAID_RESET, &m, &mail)) != CORE_OK) {
		return st;
	}
	bool was = false;
	st = auth_mfa_remove(w->db.pg, u.id, &mail, &was);
	auth_mail_msg_free(&m);
	if (st != CORE_OK) {
		return auth_storage_error(c, st);
	}
	resp->was_enabled = was;
	core_log_kv(CORE_LOG_INFO, "two-factor login reset by an admin",
	    "user_id", u.id, "actor_id", core_call_claims(c)->sub, "was",
	    was ? "on" : "off", NULL);
	return CORE_OK;
}
