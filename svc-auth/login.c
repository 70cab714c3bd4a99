/* Login, Refresh and Logout; see login.h and docs/rpc.md. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "auth/v1/auth.pb-c.h"

#include "auth_metrics.h"
#include "auth_validate.h"
#include "auth_worker.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/revocation.h"
#include "device.h"
#include "login.h"
#include "mfa.h"
#include "passwords.h"
#include "ratelimit.h"
#include "replies.h"
#include "rules.h"
#include "sessions.h"
#include "users_repo.h"

#define BAD_LOGIN "invalid username or password"
#define BAD_REFRESH "invalid or expired token"
#define DISABLED "this account is disabled"
#define UNVERIFIED                                                            \
	"this account's email address is not verified yet: open the link in " \
	"the verification mail, or ask for a new one"

/* The longest wait for a revoked_before in the future. It is at most the
 * next second; more means the replicas' clocks disagree, and the token is
 * then refused rather than waited for. */
#define FLOOR_WAIT_MAX_MS 1100

/* Unix seconds from the same clock as core_unix_ms: time() may read a
 * coarser clock that lags it by a tick, and token_iat waits with the
 * precise one. */
static int64_t
now_s(void)
{
	return core_unix_ms() / 1000;
}

/* The iat of a token about to be minted for user_id from a row read after
 * t0 (Unix seconds). A revocation stores the second after its own, so a
 * token of that second dies too (docs/internals/tokens.md); a token minted
 * after it must therefore not carry an iat before that value. When t0 is
 * at or after it, *iat = t0. Otherwise this waits until that second has
 * begun (under a second), *iat is then, and *reread is set: the row was
 * read before the revocation and must be read again, so that a token
 * always carries an iat from before the row it was made from and a
 * revocation that follows a change of the row always covers it. x (may be
 * NULL): other commands to send with the floor's GET, in the same round
 * trip (core_revocation_floor_with). */
static core_status
token_iat(auth_worker *w, const char *user_id, int64_t t0, core_redis_extra *x,
    int64_t *iat, bool *reread)
{
	int64_t floor_s = 0;
	core_status st =
	    core_revocation_floor_with(w->db.redis, user_id, x, &floor_s);
	if (st != CORE_OK) {
		return st;
	}
	*reread = false;
	*iat = t0;
	if (t0 >= floor_s) {
		return CORE_OK;
	}
	int64_t deadline = core_unix_ms() + FLOOR_WAIT_MAX_MS;
	int64_t now;
	while ((now = core_unix_ms()) < floor_s * 1000 && now < deadline) {
		int64_t ms = floor_s * 1000 - now;
		struct timespec ts = {.tv_sec = (time_t) (ms / 1000),
		    .tv_nsec = (long) (ms % 1000) * 1000000L};
		nanosleep(&ts, NULL); /* an early wake-up loops */
	}
	*iat = now_s();
	*reread = true;
	return CORE_OK;
}

/* When and how a token is issued: iat, and auth_time, when the user last
 * proved who they are (Unix seconds). */
typedef struct token_times {
	int64_t iat;
	int64_t auth_time;
	unsigned amr; /* CORE_AMR_* bits: how that proof was made */
} token_times;

/* Mints an access token for u in session sid into resp (with refresh, the
 * refresh token to hand out). */
static core_status
issue_tokens(core_call *c, const auth_user *u, const char *sid,
    const char *refresh, token_times t, Auth__V1__TokenResponse *resp)
{
	auth_worker *w = core_call_state(c);
	const auth_config *cfg = w->cfg;
	core_jwt_claims claims;
	uint8_t jti_raw[16];
	char token[2048];

	memset(&claims, 0, sizeof(claims));
	snprintf(claims.iss, sizeof(claims.iss), "%s", cfg->issuer);
	snprintf(claims.aud, sizeof(claims.aud), "%s", cfg->audience);
	snprintf(claims.sub, sizeof(claims.sub), "%s", u->id);
	snprintf(claims.sid, sizeof(claims.sid), "%s", sid);
	snprintf(claims.username, sizeof(claims.username), "%s", u->username);
	snprintf(claims.role, sizeof(claims.role), "%s", u->role);
	claims.email_verified = u->email_verified;
	randombytes_buf(jti_raw, sizeof(jti_raw));
	if (core_b64url_encode(jti_raw, sizeof(jti_raw), claims.jti,
	        sizeof(claims.jti)) != 0) {
		return core_call_error(c, CORE_INTERNAL, "jti encoding");
	}
	claims.iat = claims.nbf = t.iat;
	claims.exp = claims.iat + cfg->access_ttl_s;
	claims.auth_time = t.auth_time;
	claims.amr = t.amr;

	auth_keyring *kr = cfg->keys;
	auth_keyring_refresh(kr, 30000);
	pthread_rwlock_rdlock(&kr->lock);
	int rv = kr->active_sk == NULL
	             ? -1
	             : core_jwt_sign(&claims, kr->active_kid, kr->active_sk,
	                   token, sizeof(token));
	pthread_rwlock_unlock(&kr->lock);
	if (rv != 0) {
		return core_call_error(c, CORE_INTERNAL, "signing failed");
	}
	core_arena *a = core_call_arena(c);
	resp->access_token = core_arena_strdup(a, token);
	resp->refresh_token = core_arena_strdup(a, refresh);
	resp->token_type = "Bearer";
	resp->expires_in = cfg->access_ttl_s;
	resp->refresh_expires_in = cfg->refresh_ttl_s;
	if (resp->access_token == NULL || resp->refresh_token == NULL) {
		return core_call_error(c, CORE_INTERNAL, "out of memory");
	}
	return CORE_OK;
}

/* A login attempt: what the request names, bounded for storage and logs,
 * and the key its username is throttled on. */
typedef struct login_attempt {
	char username[AUTH_USERNAME_MAX + 1]; /* normalised; "-" if no name */
	bool known_shape; /* username could be one: worth looking up */
	char ip[64];
	char ua[256];
	char user_key[96];
	char ip_key[128];
	/* A valid device token for this username came with it: the attempt
	 * is counted on device_key alone. */
	bool device;
	char device_key[64];
} login_attempt;

/* Whether token is a valid device token for la's username; if so, la is
 * counted on that device's key. Anything else (forged, altered, expired,
 * another user's, none) leaves la as an attempt without one. */
static void
login_device(core_call *c, const char *token, login_attempt *la)
{
	auth_worker *w = core_call_state(c);
	char device_id[AUTH_DEVICE_ID_MAX], user_id[37];
	la->device = false;
	if (token[0] == '\0' || !la->known_shape ||
	    auth_device_token_check(w->cfg->device_key, token, la->username,
	        now_s(), device_id, user_id) != 0) {
		return;
	}
	la->device = true;
	snprintf(la->device_key, sizeof(la->device_key),
	    "ratelimit:login:device:%s", device_id);
}

/* Checks the request's fields and fills la (but the keys). */
static core_status
login_args(core_call *c, const Auth__V1__LoginRequest *req, login_attempt *la)
{
	const char *fields[] = {"username", "password"};
	const char *values[] = {req->username, req->password};
	bool bad = false;
	for (size_t i = 0; i < 2; i++) {
		char msg[RULES_MESSAGE_MAX];
		const char *e = rules_check_text(
		    rules_find(
		        &auth__v1__login_request__descriptor, fields[i]),
		    values[i], msg, sizeof(msg));
		if (e != NULL) {
			core_call_field_error(c, fields[i], "%s", e);
			bad = true;
		}
	}
	if (bad) {
		return CORE_INVALID_ARGUMENT;
	}
	auth_clip(la->ip, sizeof(la->ip),
	    req->client_ip[0] ? req->client_ip : "unknown");
	auth_clip(la->ua, sizeof(la->ua), req->user_agent);
	la->known_shape = auth_username_normalize(req->username, la->username,
	                      sizeof(la->username)) == NULL;
	if (!la->known_shape) {
		/* Not a possible username: throttle on a fixed key. */
		snprintf(la->username, sizeof(la->username), "%s", "-");
	}
	login_device(c, req->device_token, la);
	return CORE_OK;
}

/* Counts the attempt per username and per IP, before the password is
 * checked and atomically, so parallel guesses cannot slip past the limit;
 * a success gives its hit back (login_succeeded), so what the counters
 * hold are failures (and attempts in flight). RESOURCE_EXHAUSTED with a
 * retry-after when over a limit. */
static core_status
login_throttle(core_call *c, login_attempt *la)
{
	auth_worker *w = core_call_state(c);
	const auth_config *cfg = w->cfg;
	snprintf(la->user_key, sizeof(la->user_key), "ratelimit:login:user:%s",
	    la->username);
	snprintf(
	    la->ip_key, sizeof(la->ip_key), "ratelimit:login:ip:%s", la->ip);
	const char *keys[] = {la->user_key, la->ip_key};
	const int limits[] = {cfg->login_max_per_user, cfg->login_max_per_ip};
	/* A known device is counted on its own: a flood of guesses at the
	 * username (or from the address) does not lock its user out. */
	const char *dkeys[] = {la->device_key};
	const int dlimits[] = {cfg->login_max_per_device};
	bool allowed = false;
	int retry = 0;
	core_status st = auth_ratelimit_hit(w->db.redis, la->device ? 1 : 2,
	    la->device ? dkeys : keys, la->device ? dlimits : limits,
	    cfg->login_window_s, &allowed, &retry);
	if (st != CORE_OK) {
		return auth_redis_error(c, st);
	}
	if (!allowed) {
		core_call_set_retry_after(c, (uint32_t) retry);
		return core_call_error(c, CORE_RESOURCE_EXHAUSTED,
		    "too many login attempts; try again in %d s", retry);
	}
	return CORE_OK;
}

/* The password was right: the attempt was no guess. The username's
 * failures are forgotten and the address gets its hit back, so that the
 * users behind one address (a proxy, a NAT) are limited by their failures
 * only, not by how many of them log in. Best effort: a counter that stays
 * a little high only decays with its window. */
static void
login_succeeded(auth_worker *w, const login_attempt *la)
{
	if (la->device) {
		/* The username's failures stay: they were someone else's. */
		(void) auth_ratelimit_reset(w->db.redis, la->device_key);
		return;
	}
	(void) auth_ratelimit_reset(w->db.redis, la->user_key);
	(void) auth_ratelimit_undo(w->db.redis, la->ip_key);
}

/* A new device token for u into resp: proof for the next login on this
 * device. */
static core_status
issue_device_token(
    core_call *c, const auth_user *u, Auth__V1__TokenResponse *resp)
{
	auth_worker *w = core_call_state(c);
	char token[AUTH_DEVICE_TOKEN_MAX];
	if (auth_device_token_issue(w->cfg->device_key, u->id, u->username,
	        now_s(), w->cfg->device_ttl_s, token, sizeof(token)) != 0 ||
	    (resp->device_token =
	            core_arena_strdup(core_call_arena(c), token)) == NULL) {
		return core_call_error(c, CORE_INTERNAL, "device token");
	}
	resp->device_token_expires_in = w->cfg->device_ttl_s;
	return CORE_OK;
}

/* Finds the user and checks the password into *u; *t0 is when the row was
 * read (see token_iat). An unknown user costs one verification too: no
 * timing oracle, and the same answer as a wrong password. */
static core_status
login_check(core_call *c, const login_attempt *la, const char *password,
    auth_user *u, int64_t *t0)
{
	auth_worker *w = core_call_state(c);
	char hash[256];
	/* Before the lookup, for every login alike: in the first moments
	 * after the start it may still be being computed (ref_hash.h). */
	const char *ref = auth_ref_hash_get(w->cfg->ref_hash);
	if (ref == NULL) {
		auth_metrics_login(AUTH_LOGIN_ERROR);
		core_log_error("no reference hash (out of memory at start)");
		return core_call_error(
		    c, CORE_INTERNAL, "cannot check passwords now");
	}
	*t0 = now_s();
	core_status st = la->known_shape
	                     ? auth_users_find_by_username(w->db.pg,
	                           la->username, u, hash, sizeof(hash))
	                     : CORE_NOT_FOUND;
	if (st != CORE_OK && st != CORE_NOT_FOUND) {
		auth_metrics_login(AUTH_LOGIN_ERROR);
		return auth_storage_error(c, st);
	}
	const char *h = st == CORE_OK ? hash : ref;
	bool match = false;
	core_status vs = auth_password_verify(c, h, password, &match);
	bool good = vs == CORE_OK && match && st == CORE_OK;
	sodium_memzero(hash, sizeof(hash));
	if (vs != CORE_OK) {
		auth_metrics_login(AUTH_LOGIN_ERROR);
		return vs; /* the hash gate's refusal, answered on c */
	}
	if (!good) {
		auth_metrics_login(AUTH_LOGIN_BAD_CREDENTIALS);
		core_log_kv(
		    CORE_LOG_INFO, "login failed", "client_ip", la->ip, NULL);
		return core_call_error(c, CORE_UNAUTHENTICATED, BAD_LOGIN);
	}
	if (strcmp(u->status, "active") != 0) {
		auth_metrics_login(AUTH_LOGIN_DISABLED);
		return core_call_error(c, CORE_PERMISSION_DENIED, DISABLED);
	}
	if (w->cfg->require_verified_email && !u->email_verified) {
		auth_metrics_login(AUTH_LOGIN_DISABLED);
		return core_call_error(c, CORE_PERMISSION_DENIED, UNVERIFIED);
	}
	return CORE_OK;
}

/* The iat of the login's token (token_iat); when the row must be read
 * again, *u is refreshed and checked once more. */
static core_status
login_iat(core_call *c, int64_t t0, auth_user *u, int64_t *iat)
{
	auth_worker *w = core_call_state(c);
	bool reread = false;
	core_status st = token_iat(w, u->id, t0, NULL, iat, &reread);
	if (st != CORE_OK) {
		return auth_redis_error(c, st);
	}
	if (!reread) {
		return CORE_OK;
	}
	st = auth_users_find_by_id(w->db.pg, u->id, u);
	if (st == CORE_OK && strcmp(u->status, "active") != 0) {
		return core_call_error(c, CORE_PERMISSION_DENIED, DISABLED);
	}
	if (st == CORE_NOT_FOUND) {
		/* Deleted meanwhile: as good as a bad password. */
		return core_call_error(c, CORE_UNAUTHENTICATED, BAD_LOGIN);
	}
	return st == CORE_OK ? CORE_OK : auth_storage_error(c, st);
}

core_status
auth_login(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	const Auth__V1__LoginRequest *req =
	    (const Auth__V1__LoginRequest *) in;
	Auth__V1__TokenResponse *resp = (Auth__V1__TokenResponse *) out;
	auth_worker *w = core_call_state(c);
	login_attempt la;
	auth_user u;
	int64_t t0 = 0;

	/* A request that fails its checks is no attempt: not counted. */
	core_status st = login_args(c, req, &la);
	if (st != CORE_OK) {
		return st;
	}
	if ((st = login_throttle(c, &la)) != CORE_OK) {
		auth_metrics_login(st == CORE_RESOURCE_EXHAUSTED
		                       ? AUTH_LOGIN_THROTTLED
		                       : AUTH_LOGIN_ERROR);
		return st;
	}
	if ((st = login_check(c, &la, req->password, &u, &t0)) != CORE_OK) {
		return st; /* counted there */
	}
	login_succeeded(w, &la);
	/* With two-factor login on, a ticket instead of tokens (mfa.c). */
	bool ticket = false;
	st = auth_mfa_login_ticket(c, &u, la.ip, la.ua, resp, &ticket);
	if (st != CORE_OK || ticket) {
		auth_metrics_login(ticket ? AUTH_LOGIN_MFA_REQUIRED
		                          : auth_login_outcome_of(st));
		return st;
	}
	st = auth_login_complete(c, &u, t0, la.ip, la.ua, CORE_AMR_PWD, resp);
	auth_metrics_login(auth_login_outcome_of(st));
	return st;
}

auth_login_outcome
auth_login_outcome_of(core_status st)
{
	switch (st) {
	case CORE_OK:
		return AUTH_LOGIN_SUCCESS;
	case CORE_UNAUTHENTICATED:
		return AUTH_LOGIN_BAD_CREDENTIALS;
	case CORE_PERMISSION_DENIED:
		return AUTH_LOGIN_DISABLED;
	default:
		return AUTH_LOGIN_ERROR;
	}
}

core_status
auth_login_complete(core_call *c, auth_user *u, int64_t t0,
    const char *client_ip, const char *user_agent, unsigned amr,
    Auth__V1__TokenResponse *resp)
{
	auth_worker *w = core_call_state(c);
	int64_t iat = 0;
	core_status st = login_iat(c, t0, u, &iat);
	if (st != CORE_OK) {
		return st;
	}
	char refresh[AUTH_REFRESH_TOKEN_MAX], sid[AUTH_SID_MAX];
	st = auth_session_create_amr(w->db.redis, u->id, client_ip, user_agent,
	    amr, w->cfg->refresh_ttl_s, refresh, sid);
	if (st != CORE_OK) {
		return auth_redis_error(c, st);
	}
	/* The password (and the second factor) was just proven. */
	token_times t = {.iat = iat, .auth_time = now_s(), .amr = amr};
	st = issue_tokens(c, u, sid, refresh, t, resp);
	sodium_memzero(refresh, sizeof(refresh));
	if (st == CORE_OK) {
		st = issue_device_token(c, u, resp);
	}
	if (st == CORE_OK) {
		core_log_kv(CORE_LOG_INFO, "login", "user_id", u->id, "sid",
		    sid, "amr", (amr & CORE_AMR_OTP) ? "pwd otp" : "pwd",
		    NULL);
	}
	return st;
}

/* After a rotation of session s: the iat of the new access token and the
 * user it is for. The iat is fixed before the row is read (see token_iat).
 * The session is looked at again after that: a revocation of every
 * session (AdminRevokeSessions, disabling) may have come between the
 * rotation and now, and it ends the sessions before it sets
 * revoked_before, so a token that escapes the one is caught here. A
 * disabled user is refused even if a session of theirs remained. */
static core_status
refreshed_user(core_call *c, const auth_session *s, auth_user *u, int64_t *iat)
{
	auth_worker *w = core_call_state(c);
	bool reread = false;
	int alive = 0;
	core_redis_extra x = {0};
	auth_session_probe probe;
	/* Whether the session still exists rides with the floor's GET: one
	 * round trip. After a wait for the floor (a revocation of this very
	 * second, perhaps of the session too) it is asked again, so that it is
	 * always answered after the floor, as the row is. */
	core_status st = auth_session_probe_add(&probe, s->sid, &x);
	if (st == CORE_OK) {
		st = token_iat(w, s->user_id, now_s(), &x, iat, &reread);
	}
	if (st == CORE_OK) {
		st =
		    auth_session_probe_result(&probe, w->db.redis, &x, &alive);
	}
	core_redis_extra_clear(&x);
	if (st == CORE_OK && reread && alive) {
		st = auth_session_exists(w->db.redis, s->sid, &alive);
	}
	if (st != CORE_OK) {
		return auth_redis_error(c, st);
	}
	if (!alive) {
		return core_call_error(c, CORE_UNAUTHENTICATED, BAD_REFRESH);
	}
	st = auth_users_find_by_id(w->db.pg, s->user_id, u);
	if (st == CORE_NOT_FOUND ||
	    (st == CORE_OK && strcmp(u->status, "active") != 0)) {
		(void) auth_session_revoke(w->db.redis, s->sid, NULL, NULL);
		return core_call_error(c, CORE_UNAUTHENTICATED, BAD_REFRESH);
	}
	return st == CORE_OK ? CORE_OK : auth_storage_error(c, st);
}

core_status
auth_refresh(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	const Auth__V1__RefreshRequest *req =
	    (const Auth__V1__RefreshRequest *) in;
	Auth__V1__TokenResponse *resp = (Auth__V1__TokenResponse *) out;
	auth_worker *w = core_call_state(c);
	char fresh[AUTH_REFRESH_TOKEN_MAX];
	auth_session s;
	auth_refresh_result result;
	auth_user u;
	int64_t iat = 0;

	if (req->refresh_token[0] == '\0') {
		return core_call_field_error(
		    c, "refresh_token", "is required");
	}
	core_status st = auth_session_refresh(w->db.redis, req->refresh_token,
	    w->cfg->refresh_grace_ms, w->cfg->refresh_ttl_s, fresh, &s,
	    &result);
	if (st != CORE_OK || result != AUTH_REFRESH_OK) {
		auth_metrics_refresh(st != CORE_OK ? AUTH_REFRESH_ERROR
		                     : result == AUTH_REFRESH_REUSED
		                         ? AUTH_REFRESH_REUSE
		                         : AUTH_REFRESH_BAD);
	}
	if (st != CORE_OK) {
		return auth_redis_error(c, st);
	}
	if (result == AUTH_REFRESH_REUSED) {
		core_log_kv(CORE_LOG_WARN,
		    "refresh token reuse: session revoked", "sid", s.sid,
		    "user_id", s.user_id, NULL);
		return core_call_error(c, CORE_UNAUTHENTICATED,
		    "refresh token already used; the session was ended");
	}
	if (result != AUTH_REFRESH_OK) {
		return core_call_error(c, CORE_UNAUTHENTICATED, BAD_REFRESH);
	}
	/* fresh holds the new refresh token from here on. */
	st = refreshed_user(c, &s, &u, &iat);
	if (st == CORE_OK) {
		/* A refresh proves nothing new: the login's time stays. */
		token_times t = {.iat = iat,
		    .auth_time = s.created_ms / 1000,
		    .amr = s.amr};
		st = issue_tokens(c, &u, s.sid, fresh, t, resp);
	}
	sodium_memzero(fresh, sizeof(fresh));
	/* A session that ended (or a user disabled) since the rotation makes
	 * the token invalid after all. */
	auth_metrics_refresh(st == CORE_OK ? AUTH_REFRESHED
	                     : st == CORE_UNAUTHENTICATED
	                         ? AUTH_REFRESH_BAD
	                         : AUTH_REFRESH_ERROR);
	return st;
}

/* The session id of a refresh token "<sid>.<secret>" into sid; false when
 * there is none of a possible length. */
static bool
refresh_token_sid(const char *token, char sid[AUTH_SID_MAX])
{
	const char *dot = strchr(token, '.');
	size_t n = dot ? (size_t) (dot - token) : 0;
	if (n == 0 || n >= AUTH_SID_MAX) {
		return false;
	}
	memcpy(sid, token, n);
	sid[n] = '\0';
	return true;
}

/* Revokes the caller's access token for the rest of its life and ends its
 * session (and the session of the refresh token given, if the caller's).
 * A token already revoked is let through by the rule: a second logout
 * succeeds as the first did. */
core_status
auth_logout(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	const Auth__V1__LogoutRequest *req =
	    (const Auth__V1__LogoutRequest *) in;
	(void) out;
	auth_worker *w = core_call_state(c);
	const core_jwt_claims *cl = core_call_claims(c);
	core_status st = core_revoke_token(w->db.redis, cl, now_s());
	if (st == CORE_OK) {
		st = auth_session_revoke(w->db.redis, cl->sid, cl->sub, NULL);
	}
	if (st != CORE_OK) {
		return auth_redis_error(c, st);
	}
	char sid[AUTH_SID_MAX];
	if (req->refresh_token[0] != '\0' &&
	    refresh_token_sid(req->refresh_token, sid)) {
		(void) auth_session_revoke(w->db.redis, sid, cl->sub, NULL);
	}
	core_log_kv(
	    CORE_LOG_INFO, "logout", "user_id", cl->sub, "sid", cl->sid, NULL);
	return CORE_OK;
}

core_status
auth_session_start(core_call *c, auth_user *u, int64_t t0,
    const char *client_ip, const char *user_agent,
    Auth__V1__TokenResponse *resp)
{
	auth_worker *w = core_call_state(c);
	char ip[64], ua[256];
	int64_t iat = 0;
	auth_clip(ip, sizeof(ip), client_ip[0] ? client_ip : "unknown");
	auth_clip(ua, sizeof(ua), user_agent);
	core_status st = login_iat(c, t0, u, &iat);
	if (st != CORE_OK) {
		return st;
	}
	/* The caller has just proven the password, and keeps what else the
	 * session it comes from had proven (a second factor). */
	const core_jwt_claims *cl = core_call_claims(c);
	unsigned amr = CORE_AMR_PWD | (cl != NULL ? cl->amr : 0u);
	char refresh[AUTH_REFRESH_TOKEN_MAX], sid[AUTH_SID_MAX];
	st = auth_session_create_amr(w->db.redis, u->id, ip, ua, amr,
	    w->cfg->refresh_ttl_s, refresh, sid);
	if (st != CORE_OK) {
		return auth_redis_error(c, st);
	}
	token_times t = {.iat = iat, .auth_time = now_s(), .amr = amr};
	st = issue_tokens(c, u, sid, refresh, t, resp);
	sodium_memzero(refresh, sizeof(refresh));
	if (st == CORE_OK) {
		core_log_kv(CORE_LOG_INFO, "session started", "user_id", u->id,
		    "sid", sid, NULL);
	}
	return st;
}
