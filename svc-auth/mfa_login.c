/* Two-factor login's half of a login: the ticket Login answers for a user
 * with two-factor login on, and LoginMfa, which completes the login with
 * it; see mfa.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "auth/v1/auth.pb-c.h"

#include "auth_metrics.h"
#include "auth_validate.h"
#include "auth_worker.h"
#include "core/clock.h"
#include "core/log.h"
#include "device.h"
#include "login.h"
#include "mfa.h"
#include "mfa_factor.h"
#include "replies.h"
#include "users_repo.h"

#define BAD_TICKET                                                            \
	"the ticket is invalid or expired, was used, or belongs to another "  \
	"client: log in again"

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

/* A fingerprint of a password hash (hex SHA-256): a ticket carries it, so
 * that a change of the password voids the tickets the old one earned. */
static void
password_fingerprint(const char *hash, char out[65])
{
	uint8_t h[crypto_hash_sha256_BYTES];
	crypto_hash_sha256(h, (const uint8_t *) hash, strlen(hash));
	sodium_bin2hex(out, 65, h, sizeof(h));
}

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
	st = auth_mfa_current_hash(c, u, hash, sizeof(hash));
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
	core_status st =
	    core_redis_commandargv(w->db.redis, 6, argv, NULL, &rep);
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
	*t0 = auth_mfa_now_s();
	core_status st = auth_users_find_by_id(w->db.pg, t->user_id, u);
	if (st == CORE_OK) {
		st = auth_mfa_current_hash(c, u, hash, sizeof(hash));
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

/* Whether token is a valid device token of u (a login of u on this device
 * succeeded before); its device id into device_id. Anything else counts as
 * no token. */
static bool
known_device(core_call *c, const char *token, const auth_user *u,
    char device_id[AUTH_DEVICE_ID_MAX])
{
	auth_worker *w = core_call_state(c);
	char user_id[37];
	return token[0] != '\0' &&
	       auth_device_token_check(w->cfg->device_key, token, u->username,
	           auth_mfa_now_s(), device_id, user_id) == 0 &&
	       strcmp(user_id, u->id) == 0;
}

/* LoginMfa, uncounted. */
static core_status
login_mfa(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	const Auth__V1__LoginMfaRequest *req =
	    (const Auth__V1__LoginMfaRequest *) in;
	Auth__V1__TokenResponse *resp = (Auth__V1__TokenResponse *) out;
	auth_worker *w = core_call_state(c);
	char ip[64], ua[256];
	mfa_ticket t;
	auth_user u;
	int64_t t0 = 0;
	auth_mfa_client(req->client_ip, req->user_agent, ip, ua);
	if (req->mfa_ticket[0] == '\0') {
		return core_call_field_error(c, "mfa_ticket", "is required");
	}
	if ((req->code[0] == '\0') == (req->recovery_code[0] == '\0')) {
		return core_call_error(
		    c, CORE_INVALID_ARGUMENT, AUTH_MFA_ONE_PROOF);
	}
	/* The ticket first: a stale one must not use up a code. */
	core_status st = ticket_get(c, req->mfa_ticket, ip, ua, &t);
	if (st != CORE_OK || (st = ticket_user(c, &t, &u, &t0)) != CORE_OK) {
		return st;
	}
	char device_id[AUTH_DEVICE_ID_MAX];
	bool device = known_device(c, req->device_token, &u, device_id);
	if ((st = auth_mfa_check_factor(c, t.user_id, req->code,
	         req->recovery_code, ip, device ? device_id : NULL)) !=
	    CORE_OK) {
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

core_status
auth_login_mfa(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	core_status st = login_mfa(c, in, out);
	/* A request that fails its checks is no attempt: not counted. A
	 * ticket or code refused, or two-factor login turned off since the
	 * ticket, is a failed second step. */
	switch (st) {
	case CORE_INVALID_ARGUMENT:
		break;
	case CORE_UNAUTHENTICATED:
	case CORE_FAILED_PRECONDITION:
		auth_metrics_login(AUTH_LOGIN_MFA_FAILED);
		break;
	case CORE_RESOURCE_EXHAUSTED:
		auth_metrics_login(AUTH_LOGIN_THROTTLED);
		break;
	default:
		auth_metrics_login(auth_login_outcome_of(st));
	}
	return st;
}
