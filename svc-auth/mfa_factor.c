/* What the handlers of two-factor login share; see mfa_factor.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "auth/v1/auth.pb-c.h"

#include "auth_validate.h"
#include "auth_worker.h"
#include "core/clock.h"
#include "core/log.h"
#include "mail.h"
#include "mfa_factor.h"
#include "mfa_repo.h"
#include "ratelimit.h"
#include "replies.h"
#include "totp.h"

int64_t
auth_mfa_now_s(void)
{
	return core_unix_ms() / 1000;
}

/* u's current password hash into hash (hashlen bytes); CORE_NOT_FOUND when
 * u is gone. */
core_status
auth_mfa_current_hash(
    core_call *c, const auth_user *u, char *hash, size_t hashlen)
{
	auth_worker *w = core_call_state(c);
	auth_user again;
	return auth_users_find_by_username(
	    w->db.pg, u->username, &again, hash, hashlen);
}

/* The client of a call, bounded as login.c bounds it. */
void
auth_mfa_client(
    const char *client_ip, const char *user_agent, char ip[64], char ua[256])
{
	auth_clip(ip, 64, client_ip[0] ? client_ip : "unknown");
	auth_clip(ua, 256, user_agent);
}

/* ---- Throttle of second factors ---------------------------------------- */

/* Counts an attempt at a second factor of user_id from ip (before it is
 * checked, atomically); RESOURCE_EXHAUSTED with a retry-after when over a
 * limit. */
core_status
auth_mfa_throttle(core_call *c, const char *user_id, const char *ip,
    const char *device_id, auth_mfa_keys *k)
{
	auth_worker *w = core_call_state(c);
	const auth_config *cfg = w->cfg;
	snprintf(k->user_key, sizeof(k->user_key), "ratelimit:mfa:user:%s",
	    user_id);
	snprintf(k->ip_key, sizeof(k->ip_key), "ratelimit:mfa:ip:%s", ip);
	k->device = device_id != NULL;
	snprintf(k->device_key, sizeof(k->device_key),
	    "ratelimit:mfa:device:%s", k->device ? device_id : "");
	const char *keys[] = {k->user_key, k->ip_key};
	const int limits[] = {cfg->mfa_max_per_user, cfg->mfa_max_per_ip};
	/* A known device is counted on its own, as a login is: wrong codes
	 * sent by someone who has the password (from elsewhere) do not lock
	 * the user's own device out. */
	const char *dkeys[] = {k->device_key};
	const int dlimits[] = {cfg->mfa_max_per_user};
	bool allowed = false;
	int retry = 0;
	core_status st = auth_ratelimit_hit(w->db.redis, k->device ? 1 : 2,
	    k->device ? dkeys : keys, k->device ? dlimits : limits,
	    cfg->mfa_window_s, &allowed, &retry);
	if (st != CORE_OK) {
		return auth_redis_error(c, st);
	}
	if (!allowed) {
		core_log_kv(CORE_LOG_INFO, "second factor throttled",
		    "user_id", user_id, "client_ip", ip, NULL);
		core_call_set_retry_after(c, (uint32_t) retry);
		return core_call_error(c, CORE_RESOURCE_EXHAUSTED,
		    "too many wrong codes; try again in %d s", retry);
	}
	return CORE_OK;
}

/* The factor was right: the user's count is forgotten, the address gets
 * its hit back (as after a successful login). Best effort. */
void
auth_mfa_succeeded(auth_worker *w, const auth_mfa_keys *k)
{
	if (k->device) {
		/* The user's count stays: it was someone else's. */
		(void) auth_ratelimit_reset(w->db.redis, k->device_key);
		return;
	}
	(void) auth_ratelimit_reset(w->db.redis, k->user_key);
	(void) auth_ratelimit_undo(w->db.redis, k->ip_key);
}

/* ---- Secrets ----------------------------------------------------------- */

/* Opens a sealed secret with the KEK. */
core_status
auth_mfa_unseal(core_call *c, const uint8_t sealed[AUTH_TOTP_SEALED_BYTES],
    uint8_t secret[AUTH_TOTP_SECRET_BYTES])
{
	auth_worker *w = core_call_state(c);
	const uint8_t *kek = auth_keyring_kek_open(w->cfg->keys);
	int rv = kek == NULL ? -1
	                     : auth_totp_unseal(kek, sealed,
	                           AUTH_TOTP_SEALED_BYTES, secret);
	auth_keyring_kek_close(w->cfg->keys);
	if (rv != 0) {
		core_log_error("a TOTP secret does not open with AUTH_KEK");
		return core_call_error(c, CORE_INTERNAL, "second factor");
	}
	return CORE_OK;
}

/* Whether code is a current code of the secret sealed in t, not used
 * before (*ok); the step it matched is then marked used. */
static core_status
check_code(core_call *c, const char *user_id, const auth_mfa_totp *t,
    const char *code, bool *ok)
{
	auth_worker *w = core_call_state(c);
	uint8_t secret[AUTH_TOTP_SECRET_BYTES];
	int64_t step = 0;
	*ok = false;
	core_status st = auth_mfa_unseal(c, t->sealed, secret);
	if (st != CORE_OK) {
		return st;
	}
	int m = auth_totp_match(
	    secret, code, auth_mfa_now_s(), AUTH_TOTP_WINDOW, &step);
	sodium_memzero(secret, sizeof(secret));
	if (m != 0 || step <= t->last_step) {
		return CORE_OK; /* wrong, or replayed */
	}
	st = auth_mfa_use_step(w->db.pg, user_id, step, ok);
	return st == CORE_OK ? CORE_OK : auth_storage_error(c, st);
}

/* Checks the proof of a call that needs the second factor of user_id:
 * exactly one of code (a current TOTP code) and recovery (an unused
 * recovery code, used up by this). Throttled per user and address; a
 * wrong one is UNAUTHENTICATED. */
core_status
auth_mfa_check_factor(core_call *c, const char *user_id, const char *code,
    const char *recovery, const char *ip, const char *device_id)
{
	auth_worker *w = core_call_state(c);
	if ((code[0] == '\0') == (recovery[0] == '\0')) {
		return core_call_error(
		    c, CORE_INVALID_ARGUMENT, AUTH_MFA_ONE_PROOF);
	}
	if (strlen(code) > 16 ||
	    strlen(recovery) > AUTH_RECOVERY_CODE_INPUT_MAX) {
		return core_call_error(
		    c, CORE_UNAUTHENTICATED, AUTH_MFA_BAD_CODE);
	}
	auth_mfa_keys k;
	core_status st = auth_mfa_throttle(c, user_id, ip, device_id, &k);
	if (st != CORE_OK) {
		return st;
	}
	auth_mfa_totp t;
	st = auth_mfa_totp_get(w->db.pg, user_id, &t);
	if (st == CORE_NOT_FOUND || (st == CORE_OK && !t.enabled)) {
		return core_call_error(
		    c, CORE_FAILED_PRECONDITION, AUTH_MFA_OFF);
	}
	if (st != CORE_OK) {
		return auth_storage_error(c, st);
	}
	bool ok = false;
	if (code[0] != '\0') {
		st = check_code(c, user_id, &t, code, &ok);
	} else {
		char hash[65];
		if (auth_recovery_code_hash(user_id, recovery, hash) == 0) {
			st = auth_mfa_use_recovery(
			    w->db.pg, user_id, hash, &ok);
			st = st == CORE_OK ? CORE_OK
			                   : auth_storage_error(c, st);
		}
	}
	if (st != CORE_OK) {
		return st;
	}
	if (!ok) {
		core_log_kv(CORE_LOG_INFO, "second factor wrong", "user_id",
		    user_id, "client_ip", ip, NULL);
		return core_call_error(
		    c, CORE_UNAUTHENTICATED, AUTH_MFA_BAD_CODE);
	}
	auth_mfa_succeeded(w, &k);
	return CORE_OK;
}

/* ---- Notices and codes ------------------------------------------------- */

/* The notice of change for u into m (and the view the repo takes). */
core_status
auth_mfa_notice(core_call *c, const auth_user *u, const char *change,
    auth_mail_msg *m, auth_mfa_mail *view)
{
	auth_worker *w = core_call_state(c);
	if (auth_mail_render_change(AUTH_MAIL_MFA_CHANGED, u->username,
	        w->cfg->public_base_url, change, m) != 0) {
		return core_call_error(c, CORE_INTERNAL, "mail");
	}
	*view = (auth_mfa_mail){
	    .subject = m->subject, .text = m->text, .html = m->html};
	return CORE_OK;
}

/* The caller's row (the token's user) into *u. */
core_status
auth_mfa_caller(core_call *c, auth_user *u)
{
	auth_worker *w = core_call_state(c);
	core_status st =
	    auth_users_find_by_id(w->db.pg, core_call_claims(c)->sub, u);
	if (st == CORE_NOT_FOUND) {
		/* Deleted meanwhile: its tokens are revoked too. */
		return core_call_error(
		    c, CORE_UNAUTHENTICATED, "the account no longer exists");
	}
	return st == CORE_OK ? CORE_OK : auth_storage_error(c, st);
}
