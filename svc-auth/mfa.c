/* Two-factor login; see mfa.h, docs/rpc.md and docs/operations.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "auth/v1/auth.pb-c.h"

#include "auth_validate.h"
#include "auth_worker.h"
#include "core/clock.h"
#include "core/log.h"
#include "login.h"
#include "mail.h"
#include "mfa.h"
#include "mfa_repo.h"
#include "passwords.h"
#include "ratelimit.h"
#include "replies.h"
#include "rules.h"
#include "totp.h"
#include "users_repo.h"

#define BAD_TICKET                                                            \
	"the ticket is invalid or expired, was used, or belongs to another "  \
	"client: log in again"
#define BAD_CODE "invalid code"
#define BAD_PASSWORD "invalid password"
#define ONE_PROOF "give exactly one of code and recovery_code"
#define NO_MFA "two-factor login is not on for this account"
#define NO_SUCH_USER "no such user"

/* What the notice mail says of each change. */
#define SAID_ENABLED                                                          \
	"Two-factor sign-in was turned on for your account. From now on a "   \
	"login needs a code of your authenticator app (or a recovery code) "  \
	"after the password."
#define SAID_DISABLED                                                         \
	"Two-factor sign-in was turned off for your account: a login needs " \
	"only the password now."
#define SAID_CODES                                                            \
	"New recovery codes were made for your account; the earlier ones no " \
	"longer work."
#define SAID_RESET                                                            \
	"An administrator turned two-factor sign-in off for your account. "   \
	"Turn it on again from your profile."

/* A ticket in Redis: KEYS[1] = mfa_ticket:<hash>; ARGV = user id, ip, user
 * agent, password fingerprint, ttl_s. */
static const char ticket_put_lua[] =
    "redis.call('HSET', KEYS[1], 'user_id', ARGV[1], 'ip', ARGV[2],\n"
    "    'ua', ARGV[3], 'pw', ARGV[4])\n"
    "redis.call('EXPIRE', KEYS[1], ARGV[5])\n"
    "return 1\n";

/* A ticket as stored. */
typedef struct mfa_ticket {
	char key[96]; /* mfa_ticket:<hash> */
	char user_id[37];
	char ip[64];
	char ua[256];
	char pw[65];
} mfa_ticket;

static int64_t
now_s(void)
{
	return core_unix_ms() / 1000;
}

/* A fingerprint of a password hash (hex SHA-256): a ticket carries it, so
 * that a change of the password voids the tickets the old one earned. */
static void
password_fingerprint(const char *hash, char out[65])
{
	uint8_t h[crypto_hash_sha256_BYTES];
	crypto_hash_sha256(h, (const uint8_t *) hash, strlen(hash));
	sodium_bin2hex(out, 65, h, sizeof(h));
}

/* u's current password hash into hash (hashlen bytes); CORE_NOT_FOUND when
 * u is gone. */
static core_status
current_hash(core_call *c, const auth_user *u, char *hash, size_t hashlen)
{
	auth_worker *w = core_call_state(c);
	auth_user again;
	return auth_users_find_by_username(
	    w->db.pg, u->username, &again, hash, hashlen);
}

/* The client of a call, bounded as login.c bounds it. */
static void
client_of(const char *client_ip, const char *user_agent, char ip[64],
    char ua[256])
{
	auth_clip(ip, 64, client_ip[0] ? client_ip : "unknown");
	auth_clip(ua, 256, user_agent);
}

/* ---- Throttle of second factors ---------------------------------------- */

typedef struct factor_keys {
	char user_key[96];
	char ip_key[128];
} factor_keys;

/* Counts an attempt at a second factor of user_id from ip (before it is
 * checked, atomically); RESOURCE_EXHAUSTED with a retry-after when over a
 * limit. */
static core_status
factor_throttle(
    core_call *c, const char *user_id, const char *ip, factor_keys *k)
{
	auth_worker *w = core_call_state(c);
	const auth_config *cfg = w->cfg;
	snprintf(k->user_key, sizeof(k->user_key), "ratelimit:mfa:user:%s",
	    user_id);
	snprintf(k->ip_key, sizeof(k->ip_key), "ratelimit:mfa:ip:%s", ip);
	const char *keys[] = {k->user_key, k->ip_key};
	const int limits[] = {cfg->mfa_max_per_user, cfg->mfa_max_per_ip};
	bool allowed = false;
	int retry = 0;
	core_status st = auth_ratelimit_hit(w->db.redis, 2, keys, limits,
	    cfg->mfa_window_s, &allowed, &retry);
	if (st != CORE_OK) {
		return auth_redis_error(c, st);
	}
	if (!allowed) {
		core_log_kv(CORE_LOG_INFO, "second factor throttled", "user_id",
		    user_id, "client_ip", ip, NULL);
		core_call_set_retry_after(c, (uint32_t) retry);
		return core_call_error(c, CORE_RESOURCE_EXHAUSTED,
		    "too many wrong codes; try again in %d s", retry);
	}
	return CORE_OK;
}

/* The factor was right: the user's count is forgotten, the address gets
 * its hit back (as after a successful login). Best effort. */
static void
factor_succeeded(auth_worker *w, const factor_keys *k)
{
	(void) auth_ratelimit_reset(w->db.redis, k->user_key);
	(void) auth_ratelimit_undo(w->db.redis, k->ip_key);
}

/* ---- Secrets ------------------------------------------------------------- */

/* Opens a sealed secret with the KEK. */
static core_status
unseal(core_call *c, const uint8_t sealed[AUTH_TOTP_SEALED_BYTES],
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
	core_status st = unseal(c, t->sealed, secret);
	if (st != CORE_OK) {
		return st;
	}
	int m = auth_totp_match(
	    secret, code, now_s(), AUTH_TOTP_WINDOW, &step);
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
static core_status
check_factor(core_call *c, const char *user_id, const char *code,
    const char *recovery, const char *ip)
{
	auth_worker *w = core_call_state(c);
	if ((code[0] == '\0') == (recovery[0] == '\0')) {
		return core_call_error(c, CORE_INVALID_ARGUMENT, ONE_PROOF);
	}
	if (strlen(code) > 16 ||
	    strlen(recovery) > AUTH_RECOVERY_CODE_INPUT_MAX) {
		return core_call_error(c, CORE_UNAUTHENTICATED, BAD_CODE);
	}
	factor_keys k;
	core_status st = factor_throttle(c, user_id, ip, &k);
	if (st != CORE_OK) {
		return st;
	}
	auth_mfa_totp t;
	st = auth_mfa_totp_get(w->db.pg, user_id, &t);
	if (st == CORE_NOT_FOUND || (st == CORE_OK && !t.enabled)) {
		return core_call_error(c, CORE_FAILED_PRECONDITION, NO_MFA);
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
			st = auth_mfa_use_recovery(w->db.pg, user_id, hash, &ok);
			st = st == CORE_OK ? CORE_OK : auth_storage_error(c, st);
		}
	}
	if (st != CORE_OK) {
		return st;
	}
	if (!ok) {
		core_log_kv(CORE_LOG_INFO, "second factor wrong", "user_id",
		    user_id, "client_ip", ip, NULL);
		return core_call_error(c, CORE_UNAUTHENTICATED, BAD_CODE);
	}
	factor_succeeded(w, &k);
	return CORE_OK;
}

/* ---- Notices and codes ---------------------------------------------------
 */

/* The notice of change for u into m (and the view the repo takes). */
static core_status
notice(core_call *c, const auth_user *u, const char *change, auth_mail_msg *m,
    auth_mfa_mail *view)
{
	auth_worker *w = core_call_state(c);
	if (auth_mail_render_notice(AUTH_MAIL_MFA_CHANGED, u->username,
	        w->cfg->public_base_url, change, m) != 0) {
		return core_call_error(c, CORE_INTERNAL, "mail");
	}
	*view = (auth_mfa_mail){
	    .subject = m->subject, .text = m->text, .html = m->html};
	return CORE_OK;
}

/* A new set of recovery codes: the texts (in the call's arena, for the
 * answer) into *codes and their hashes for u. */
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

/* The caller's row (the token's user) into *u. */
static core_status
caller(core_call *c, auth_user *u)
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

/* ---- The password of an enrolment --------------------------------------
 */

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
	st = current_hash(c, u, hash, sizeof(hash));
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

/* ---- Enrolment ------------------------------------------------------------
 */

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
auth_enroll_totp(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	const Auth__V1__EnrollTotpRequest *req =
	    (const Auth__V1__EnrollTotpRequest *) in;
	Auth__V1__EnrollTotpResponse *resp =
	    (Auth__V1__EnrollTotpResponse *) out;
	auth_worker *w = core_call_state(c);
	char ip[64], ua[256];
	auth_user u;
	client_of(req->client_ip, req->user_agent, ip, ua);
	core_status st = caller(c, &u);
	if (st != CORE_OK ||
	    (st = check_password(c, &u, req->current_password, ip)) !=
	        CORE_OK) {
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
confirm_check(core_call *c, const auth_mfa_totp *t, const char *code,
    bool *ok, int64_t *step)
{
	uint8_t secret[AUTH_TOTP_SECRET_BYTES];
	*ok = false;
	core_status st = unseal(c, t->sealed, secret);
	if (st != CORE_OK) {
		return st;
	}
	*ok = auth_totp_match(
	          secret, code, now_s(), AUTH_TOTP_WINDOW, step) == 0;
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
	factor_keys k;
	auth_mfa_totp t;
	client_of(req->client_ip, req->user_agent, ip, ua);
	if (req->code[0] == '\0') {
		return core_call_field_error(c, "code", "is required");
	}
	core_status st = caller(c, &u);
	if (st != CORE_OK ||
	    (st = factor_throttle(c, u.id, ip, &k)) != CORE_OK) {
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
		return core_call_error(c, CORE_UNAUTHENTICATED, BAD_CODE);
	}
	factor_succeeded(w, &k);
	char hashes[AUTH_RECOVERY_CODES][65];
	char **codes = NULL;
	auth_mail_msg m;
	auth_mfa_mail mail;
	if ((st = new_codes(c, u.id, &codes, hashes)) != CORE_OK ||
	    (st = notice(c, &u, SAID_ENABLED, &m, &mail)) != CORE_OK) {
		return st;
	}
	bool done = false;
	st = auth_mfa_confirm(w->db.pg, u.id, step, AUTH_MFA_ENROLL_TTL_S,
	    hashes, &mail, &done);
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
	core_log_kv(CORE_LOG_INFO, "two-factor login enabled", "user_id", u.id,
	    NULL);
	return CORE_OK;
}

/* ---- Login --------------------------------------------------------------- */

core_status
auth_mfa_login_ticket(core_call *c, const auth_user *u, const char *client_ip,
    const char *user_agent, Auth__V1__TokenResponse *resp, bool *ticket)
{
	auth_worker *w = core_call_state(c);
	bool enabled = false;
	int left = 0;
	*ticket = false;
	core_status st = auth_mfa_status(w->db.pg, u->id, &enabled, &left);
	if (st != CORE_OK) {
		return auth_storage_error(c, st);
	}
	if (!enabled) {
		return CORE_OK;
	}
	char hash[256], pw[65], ttl[16];
	st = current_hash(c, u, hash, sizeof(hash));
	if (st != CORE_OK) {
		sodium_memzero(hash, sizeof(hash));
		return st == CORE_NOT_FOUND
		           ? core_call_error(c, CORE_UNAUTHENTICATED,
		                 "invalid username or password")
		           : auth_storage_error(c, st);
	}
	password_fingerprint(hash, pw);
	sodium_memzero(hash, sizeof(hash));
	auth_one_time_token t;
	char key[96];
	auth_token_new(&t);
	snprintf(key, sizeof(key), "mfa_ticket:%s", t.hash_hex);
	snprintf(ttl, sizeof(ttl), "%d", w->cfg->mfa_ticket_ttl_s);
	const char *argv[] = {"EVAL", ticket_put_lua, "1", key, u->id,
	    client_ip, user_agent, pw, ttl};
	redisReply *rep = NULL;
	st = core_redis_commandargv(w->db.redis, 9, argv, NULL, &rep);
	freeReplyObject(rep);
	if (st != CORE_OK) {
		sodium_memzero(&t, sizeof(t));
		return auth_redis_error(c, st);
	}
	resp->mfa_required = true;
	resp->mfa_ticket = core_arena_strdup(core_call_arena(c), t.text);
	resp->mfa_ticket_expires_in = w->cfg->mfa_ticket_ttl_s;
	resp->token_type = "";
	sodium_memzero(&t, sizeof(t));
	if (resp->mfa_ticket == NULL) {
		return core_call_error(c, CORE_INTERNAL, "out of memory");
	}
	*ticket = true;
	core_log_kv(CORE_LOG_INFO, "login awaits its second factor", "user_id",
	    u->id, NULL);
	return CORE_OK;
}

/* The live ticket text into *t; UNAUTHENTICATED when there is none, or
 * it was issued to another client. */
static core_status
ticket_get(core_call *c, const char *text, const char *ip, const char *ua,
    mfa_ticket *t)
{
	auth_worker *w = core_call_state(c);
	char hash[65];
	if (auth_token_hash(text, hash) != 0) {
		return core_call_error(c, CORE_UNAUTHENTICATED, BAD_TICKET);
	}
	snprintf(t->key, sizeof(t->key), "mfa_ticket:%s", hash);
	const char *argv[] = {"HMGET", t->key, "user_id", "ip", "ua", "pw"};
	redisReply *rep = NULL;
	core_status st = core_redis_commandargv(w->db.redis, 6, argv, NULL, &rep);
	if (st != CORE_OK) {
		return auth_redis_error(c, st);
	}
	bool found = rep->type == REDIS_REPLY_ARRAY && rep->elements == 4;
	for (size_t i = 0; found && i < 4; i++) {
		found = rep->element[i]->type == REDIS_REPLY_STRING;
	}
	if (found) {
		snprintf(t->user_id, sizeof(t->user_id), "%s",
		    rep->element[0]->str);
		snprintf(t->ip, sizeof(t->ip), "%s", rep->element[1]->str);
		snprintf(t->ua, sizeof(t->ua), "%s", rep->element[2]->str);
		snprintf(t->pw, sizeof(t->pw), "%s", rep->element[3]->str);
	}
	freeReplyObject(rep);
	if (!found || strcmp(t->ip, ip) != 0 || strcmp(t->ua, ua) != 0) {
		if (found) {
			core_log_kv(CORE_LOG_INFO,
			    "mfa ticket from another client", "user_id",
			    t->user_id, "client_ip", ip, NULL);
		}
		return core_call_error(c, CORE_UNAUTHENTICATED, BAD_TICKET);
	}
	return CORE_OK;
}

/* The ticket's user, still active and with the password that earned the
 * ticket, into *u; *t0 is when it was read. */
static core_status
ticket_user(core_call *c, const mfa_ticket *t, auth_user *u, int64_t *t0)
{
	auth_worker *w = core_call_state(c);
	char hash[256], pw[65];
	*t0 = now_s();
	core_status st = auth_users_find_by_id(w->db.pg, t->user_id, u);
	if (st == CORE_OK) {
		st = current_hash(c, u, hash, sizeof(hash));
	}
	if (st == CORE_NOT_FOUND) {
		return core_call_error(c, CORE_UNAUTHENTICATED, BAD_TICKET);
	}
	if (st != CORE_OK) {
		return auth_storage_error(c, st);
	}
	password_fingerprint(hash, pw);
	sodium_memzero(hash, sizeof(hash));
	if (sodium_memcmp(pw, t->pw, 64) != 0) {
		return core_call_error(c, CORE_UNAUTHENTICATED, BAD_TICKET);
	}
	if (strcmp(u->status, "active") != 0) {
		return core_call_error(
		    c, CORE_PERMISSION_DENIED, "this account is disabled");
	}
	return CORE_OK;
}

core_status
auth_login_mfa(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	const Auth__V1__LoginMfaRequest *req =
	    (const Auth__V1__LoginMfaRequest *) in;
	Auth__V1__TokenResponse *resp = (Auth__V1__TokenResponse *) out;
	auth_worker *w = core_call_state(c);
	char ip[64], ua[256];
	mfa_ticket t;
	auth_user u;
	int64_t t0 = 0;
	client_of(req->client_ip, req->user_agent, ip, ua);
	if (req->mfa_ticket[0] == '\0') {
		return core_call_field_error(c, "mfa_ticket", "is required");
	}
	if ((req->code[0] == '\0') == (req->recovery_code[0] == '\0')) {
		return core_call_error(c, CORE_INVALID_ARGUMENT, ONE_PROOF);
	}
	/* The ticket first: a stale one must not use up a code. */
	core_status st = ticket_get(c, req->mfa_ticket, ip, ua, &t);
	if (st != CORE_OK || (st = ticket_user(c, &t, &u, &t0)) != CORE_OK ||
	    (st = check_factor(c, t.user_id, req->code, req->recovery_code,
	         ip)) != CORE_OK) {
		return st;
	}
	/* The ticket works once: of two completions at once, the one that
	 * deletes it goes on. */
	const char *argv[] = {"DEL", t.key};
	redisReply *rep = NULL;
	st = core_redis_commandargv(w->db.redis, 2, argv, NULL, &rep);
	if (st != CORE_OK) {
		return auth_redis_error(c, st);
	}
	bool mine = rep->type == REDIS_REPLY_INTEGER && rep->integer == 1;
	freeReplyObject(rep);
	if (!mine) {
		return core_call_error(c, CORE_UNAUTHENTICATED, BAD_TICKET);
	}
	return auth_login_complete(
	    c, &u, t0, ip, ua, CORE_AMR_PWD | CORE_AMR_OTP, resp);
}

/* ---- Changes of a user with two-factor login on ------------------------
 */

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
	client_of(req->client_ip, req->user_agent, ip, ua);
	core_status st = caller(c, &u);
	if (st != CORE_OK ||
	    (st = check_factor(c, u.id, req->code, req->recovery_code, ip)) !=
	        CORE_OK ||
	    (st = notice(c, &u, SAID_DISABLED, &m, &mail)) != CORE_OK) {
		return st;
	}
	bool was = false;
	st = auth_mfa_remove(w->db.pg, u.id, &mail, &was);
	auth_mail_msg_free(&m);
	if (st != CORE_OK) {
		return auth_storage_error(c, st);
	}
	core_log_kv(CORE_LOG_INFO, "two-factor login disabled", "user_id",
	    u.id, NULL);
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
	client_of(req->client_ip, req->user_agent, ip, ua);
	core_status st = caller(c, &u);
	if (st != CORE_OK ||
	    (st = check_factor(c, u.id, req->code, req->recovery_code, ip)) !=
	        CORE_OK ||
	    (st = new_codes(c, u.id, &codes, hashes)) != CORE_OK ||
	    (st = notice(c, &u, SAID_CODES, &m, &mail)) != CORE_OK) {
		return st;
	}
	bool done = false;
	st = auth_mfa_replace_codes(w->db.pg, u.id, hashes, &mail, &done);
	auth_mail_msg_free(&m);
	if (st != CORE_OK) {
		return auth_storage_error(c, st);
	}
	if (!done) {
		return core_call_error(c, CORE_FAILED_PRECONDITION, NO_MFA);
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
	if (req->id[0] == '\0') {
		return core_call_field_error(c, "id", "is required");
	}
	core_status st = auth_users_find_by_id(w->db.pg, req->id, &u);
	if (st == CORE_NOT_FOUND) {
		return core_call_error(c, CORE_NOT_FOUND, NO_SUCH_USER);
	}
	if (st != CORE_OK) {
		return auth_storage_error(c, st);
	}
	if ((st = notice(c, &u, SAID_RESET, &m, &mail)) != CORE_OK) {
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
