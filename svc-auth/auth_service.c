#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "core/clock.h"
#include "auth/v1/auth.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"

#include "admin_service.h"
#include "auth_service.h"
#include "auth_validate.h"
#include "core/jwt.h"
#include "core/log.h"
#include "core/timestamp.h"
#include "ratelimit.h"
#include "sessions.h"
#include "users_repo.h"

#define BAD_LOGIN "invalid username or password"
#define BAD_TOKEN "invalid or expired token"

void *
auth_worker_init(void *arg)
{
	const auth_config *cfg = arg;
	auth_worker *w = calloc(1, sizeof(*w));
	if (w == NULL) {
		return NULL;
	}
	w->cfg = cfg;
	/* Connections come up lazily if the servers are down now. */
	if (core_store_open(&w->db, cfg->database_url, cfg->redis_url) != 0) {
		free(w);
		return NULL;
	}
	return w;
}

void
auth_worker_fini(void *arg)
{
	auth_worker *w = arg;
	if (w == NULL) {
		return;
	}
	core_store_close(&w->db);
	free(w);
}

bool
auth_health(void *arg)
{
	auth_worker *w = arg;
	return core_store_ping(&w->db);
}

static void refresh_keys(auth_worker *w, int64_t max_age_ms);

Auth__V1__User *
auth_user_message(core_arena *a, const auth_user *u)
{
	Auth__V1__User *m = core_arena_alloc(a, sizeof(*m));
	if (m == NULL) {
		return NULL;
	}
	auth__v1__user__init(m);
	m->id = core_arena_strdup(a, u->id);
	m->username = core_arena_strdup(a, u->username);
	m->email = core_arena_strdup(a, u->email);
	m->role = strcmp(u->role, "admin") == 0 ? AUTH__V1__ROLE__ROLE_ADMIN
	                                        : AUTH__V1__ROLE__ROLE_USER;
	m->status = strcmp(u->status, "disabled") == 0
	    ? AUTH__V1__USER_STATUS__USER_STATUS_DISABLED
	    : AUTH__V1__USER_STATUS__USER_STATUS_ACTIVE;
	m->created_at = core_timestamp_new(a, u->created_us);
	m->updated_at = core_timestamp_new(a, u->updated_us);
	if (m->id == NULL || m->username == NULL || m->email == NULL ||
	    m->created_at == NULL || m->updated_at == NULL) {
		return NULL;
	}
	return m;
}

/* Maps a repository failure to the caller's status. */
core_status
auth_storage_error(core_call *c, core_status st)
{
	if (st == CORE_UNAVAILABLE) {
		return core_call_error(c, CORE_UNAVAILABLE,
		    "the account database is unavailable; try again later");
	}
	return core_call_error(c, CORE_INTERNAL, "users repository: %s",
	    core_status_str(st));
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
	const char *e;
	bool bad = false;

	/* Every field is checked, so one answer names every problem. */
	if ((e = auth_username_normalize(req->username, username,
	         sizeof(username))) != NULL) {
		core_call_field_error(c, "username", "%s", e);
		bad = true;
	}
	if ((e = auth_email_normalize(req->email, email, sizeof(email))) !=
	    NULL) {
		core_call_field_error(c, "email", "%s", e);
		bad = true;
	}
	if ((e = auth_password_check(req->password, req->username)) != NULL) {
		core_call_field_error(c, "password", "%s", e);
		bad = true;
	}
	if (bad) {
		return CORE_INVALID_ARGUMENT;
	}

	char hash[crypto_pwhash_STRBYTES];
	if (crypto_pwhash_str_alg(hash, req->password, strlen(req->password),
	        w->cfg->argon2_opslimit, w->cfg->argon2_memlimit,
	        crypto_pwhash_ALG_ARGON2ID13) != 0) {
		/* Only fails when the memory for Argon2 is not there. */
		return core_call_error(c, CORE_RESOURCE_EXHAUSTED,
		    "the server is too busy to register now; try again");
	}
	auth_user u;
	core_status st = auth_users_insert(w->db.pg, username, email, hash, &u);
	sodium_memzero(hash, sizeof(hash));
	if (st == CORE_ALREADY_EXISTS) {
		/* Not saying which of the two is taken: see "Accounts" in
		 * docs/architecture.md. */
		return core_call_error(c, CORE_ALREADY_EXISTS,
		    "the username or the email is already registered");
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

/* The published keys, as Jwk messages and as the JSON document the edge
 * serves. Any caller may ask: public keys are public. */
static core_status
get_jwks(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	(void) in;
	Auth__V1__GetJwksResponse *resp = (Auth__V1__GetJwksResponse *) out;
	auth_worker *w = core_call_state(c);
	auth_keyring *kr = w->cfg->keys;
	core_arena *a = core_call_arena(c);
	core_status st = CORE_OK;

	refresh_keys(w, 1000); /* callers fetch this when they miss a kid */
	pthread_rwlock_rdlock(&kr->lock);
	resp->json = core_arena_strdup(a, kr->jwks_json ? kr->jwks_json : "");
	resp->keys = core_arena_calloc(a, kr->n_keys, sizeof(*resp->keys));
	for (size_t i = 0; resp->keys != NULL && i < kr->n_keys; i++) {
		Auth__V1__Jwk *k = core_arena_alloc(a, sizeof(*k));
		char x[CORE_B64URL_ENCODED_LEN(32) + 1];
		if (k == NULL ||
		    core_b64url_encode(kr->keys[i].pk, 32, x, sizeof(x)) != 0) {
			st = CORE_INTERNAL;
			break;
		}
		auth__v1__jwk__init(k);
		k->kty = "OKP";
		k->crv = "Ed25519";
		k->x = core_arena_strdup(a, x);
		k->kid = core_arena_strdup(a, kr->keys[i].kid);
		k->use = "sig";
		k->alg = "EdDSA";
		resp->keys[resp->n_keys++] = k;
	}
	pthread_rwlock_unlock(&kr->lock);
	if (st != CORE_OK || resp->json == NULL || resp->keys == NULL) {
		return core_call_error(c, CORE_INTERNAL, "out of memory");
	}
	return CORE_OK;
}

/* Unix seconds from the same clock as core_unix_ms: time() may read a
 * coarser clock that lags it by a tick, and token_iat waits with the
 * precise one. */
static int64_t
now_s(void)
{
	return core_unix_ms() / 1000;
}

/* Reloads the shared keyring from authdb when it is older than max_age_ms:
 * another replica may have rotated. One worker reloads at a time; the
 * others go on with the keys they have. */
static void
refresh_keys(auth_worker *w, int64_t max_age_ms)
{
	auth_keyring *kr = w->cfg->keys;
	pthread_rwlock_rdlock(&kr->lock);
	int64_t age = core_monotonic_ms() - kr->loaded_ms;
	pthread_rwlock_unlock(&kr->lock);
	if (age < max_age_ms || pthread_mutex_trylock(&kr->reload_mu) != 0) {
		return;
	}
	core_status st = auth_keys_load(w->db.pg, w->cfg->kek, kr);
	if (st != CORE_OK) {
		core_log_warn("signing keys not reloaded: %s",
		    core_status_str(st));
	}
	pthread_mutex_unlock(&kr->reload_mu);
}

core_status
auth_redis_error(core_call *c, core_status st)
{
	if (st == CORE_UNAVAILABLE) {
		return core_call_error(c, CORE_UNAVAILABLE,
		    "the session store is unavailable; try again later");
	}
	return core_call_error(c, CORE_INTERNAL, "session store: %s",
	    core_status_str(st));
}

/* Tokens revoked by revoked_before stay revoked while they can verify:
 * their lifetime plus the verifiers' leeway, with margin. */
#define REVOCATION_MARGIN_S 120
/* The longest wait for a revoked_before in the future. It is at most the
 * next second; more means the replicas' clocks disagree, and the token is
 * then refused rather than waited for. */
#define FLOOR_WAIT_MAX_MS 1100

core_status
auth_revoke_user_tokens(auth_worker *w, const char *user_id)
{
	return auth_session_revoke_tokens(w->db.redis, user_id, now_s(),
	    w->cfg->access_ttl_s + REVOCATION_MARGIN_S);
}

/* The iat of a token about to be minted for user_id from a row read after
 * t0 (Unix seconds). A revocation stores the second after its own, so a
 * token of that second dies too (docs/internals/tokens.md); a token minted
 * after it must therefore not carry an iat before that value. When t0 is
 * at or after it, *iat = t0. Otherwise this waits until that second has
 * begun (under a second), *iat is then, and *reread is set: the row was
 * read before the revocation and must be read again, so that a token
 * always carries an iat from before the row it was made from and a
 * revocation that follows a change of the row always covers it. */
static core_status
token_iat(auth_worker *w, const char *user_id, int64_t t0, int64_t *iat,
    bool *reread)
{
	int64_t floor_s = 0;
	core_status st =
	    auth_session_tokens_floor(w->db.redis, user_id, &floor_s);
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

/* Mints an access token for u in session sid, issued at iat, into resp
 * (with refresh, the refresh token to hand out). */
static core_status
issue_tokens(core_call *c, const auth_user *u, const char *sid,
    const char *refresh, int64_t iat, Auth__V1__TokenResponse *resp)
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
	randombytes_buf(jti_raw, sizeof(jti_raw));
	if (core_b64url_encode(jti_raw, sizeof(jti_raw), claims.jti,
	        sizeof(claims.jti)) != 0) {
		return core_call_error(c, CORE_INTERNAL, "jti encoding");
	}
	claims.iat = claims.nbf = iat;
	claims.exp = claims.iat + cfg->access_ttl_s;

	refresh_keys(w, 30000);
	auth_keyring *kr = cfg->keys;
	pthread_rwlock_rdlock(&kr->lock);
	int rv = kr->active_sk == NULL
	    ? -1
	    : core_jwt_sign(&claims, kr->active_kid, kr->active_sk, token,
	          sizeof(token));
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

/* Bounded copy of a client-supplied string for storage and logs. */
static void
clip(char *out, size_t len, const char *in)
{
	snprintf(out, len, "%s", in);
	if (!auth_utf8_valid(out, strlen(out))) {
		snprintf(out, len, "%s", "-");
	}
}

static core_status
login(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	const Auth__V1__LoginRequest *req = (const Auth__V1__LoginRequest *) in;
	Auth__V1__TokenResponse *resp = (Auth__V1__TokenResponse *) out;
	auth_worker *w = core_call_state(c);
	const auth_config *cfg = w->cfg;
	char username[AUTH_USERNAME_MAX + 1];
	char ip[64], ua[256];

	if (req->username[0] == '\0' || req->password[0] == '\0') {
		if (req->username[0] == '\0') {
			core_call_field_error(c, "username", "is required");
		}
		if (req->password[0] == '\0') {
			core_call_field_error(c, "password", "is required");
		}
		return CORE_INVALID_ARGUMENT;
	}
	if (strlen(req->password) > AUTH_PASSWORD_MAX) {
		return core_call_field_error(c, "password",
		    "must be at most %d bytes", AUTH_PASSWORD_MAX);
	}
	clip(ip, sizeof(ip), req->client_ip[0] ? req->client_ip : "unknown");
	clip(ua, sizeof(ua), req->user_agent);
	bool known_shape =
	    auth_username_normalize(req->username, username, sizeof(username)) ==
	    NULL;
	if (!known_shape) {
		/* Not a possible username: throttle on a fixed key. */
		snprintf(username, sizeof(username), "%s", "-");
	}

	/* Counted before the password is checked, atomically, so parallel
	 * guesses cannot slip past the limit. */
	char user_key[96], ip_key[128];
	snprintf(user_key, sizeof(user_key), "ratelimit:login:user:%s",
	    username);
	snprintf(ip_key, sizeof(ip_key), "ratelimit:login:ip:%s", ip);
	const char *keys[] = {user_key, ip_key};
	const int limits[] = {cfg->login_max_per_user, cfg->login_max_per_ip};
	bool allowed = false;
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

	auth_user u;
	char hash[256];
	int64_t t0 = now_s(); /* before the row is read: see token_iat */
	st = known_shape ? auth_users_find_by_username(w->db.pg, username, &u,
	                       hash, sizeof(hash))
	                 : CORE_NOT_FOUND;
	if (st != CORE_OK && st != CORE_NOT_FOUND) {
		return auth_storage_error(c, st);
	}
	/* An unknown user costs one verification too: no timing oracle. */
	const char *h = st == CORE_OK ? hash : cfg->dummy_hash;
	bool good = crypto_pwhash_str_verify(h, req->password,
	                strlen(req->password)) == 0 &&
	    st == CORE_OK;
	sodium_memzero(hash, sizeof(hash));
	if (!good) {
		core_log_kv(CORE_LOG_INFO, "login failed", "client_ip", ip,
		    NULL);
		return core_call_error(c, CORE_UNAUTHENTICATED, BAD_LOGIN);
	}
	if (strcmp(u.status, "active") != 0) {
		return core_call_error(c, CORE_PERMISSION_DENIED,
		    "this account is disabled");
	}
	auth_ratelimit_reset(w->db.redis, user_key);

	int64_t iat = 0;
	bool reread = false;
	if ((st = token_iat(w, u.id, t0, &iat, &reread)) != CORE_OK) {
		return auth_redis_error(c, st);
	}
	if (reread) {
		st = auth_users_find_by_id(w->db.pg, u.id, &u);
		if (st == CORE_OK && strcmp(u.status, "active") != 0) {
			return core_call_error(c, CORE_PERMISSION_DENIED,
			    "this account is disabled");
		}
		if (st == CORE_NOT_FOUND) {
			/* Deleted meanwhile: as good as a bad password. */
			return core_call_error(
			    c, CORE_UNAUTHENTICATED, BAD_LOGIN);
		}
		if (st != CORE_OK) {
			return auth_storage_error(c, st);
		}
	}

	char refresh[AUTH_REFRESH_TOKEN_MAX], sid[AUTH_SID_MAX];
	st = auth_session_create(w->db.redis, u.id, ip, ua, cfg->refresh_ttl_s,
	    refresh, sid);
	if (st != CORE_OK) {
		return auth_redis_error(c, st);
	}
	st = issue_tokens(c, &u, sid, refresh, iat, resp);
	sodium_memzero(refresh, sizeof(refresh));
	if (st == CORE_OK) {
		core_log_kv(CORE_LOG_INFO, "login", "user_id", u.id, "sid", sid,
		    NULL);
	}
	return st;
}

static core_status
refresh(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	const Auth__V1__RefreshRequest *req =
	    (const Auth__V1__RefreshRequest *) in;
	Auth__V1__TokenResponse *resp = (Auth__V1__TokenResponse *) out;
	auth_worker *w = core_call_state(c);
	const auth_config *cfg = w->cfg;
	char fresh[AUTH_REFRESH_TOKEN_MAX];
	auth_session s;
	auth_refresh_result result;

	if (req->refresh_token[0] == '\0') {
		return core_call_field_error(c, "refresh_token",
		    "is required");
	}
	core_status st = auth_session_refresh(w->db.redis, req->refresh_token,
	    cfg->refresh_grace_ms, cfg->refresh_ttl_s, fresh, &s, &result);
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
		return core_call_error(c, CORE_UNAUTHENTICATED, BAD_TOKEN);
	}
	/* The iat is fixed before the row is read (see token_iat). The
	 * session is looked at again after that: a revocation of every
	 * session (AdminRevokeSessions, disabling) may have come between the
	 * rotation and now, and it ends the sessions before it sets
	 * revoked_before, so a token that escapes the one is caught here. A
	 * disabled user is refused even if a session of theirs remained. */
	int64_t iat = 0;
	bool reread = false;
	int alive = 0;
	if ((st = token_iat(w, s.user_id, now_s(), &iat, &reread)) !=
	        CORE_OK ||
	    (st = auth_session_exists(w->db.redis, s.sid, &alive)) !=
	        CORE_OK) {
		sodium_memzero(fresh, sizeof(fresh));
		return auth_redis_error(c, st);
	}
	if (!alive) {
		sodium_memzero(fresh, sizeof(fresh));
		return core_call_error(c, CORE_UNAUTHENTICATED, BAD_TOKEN);
	}
	auth_user u;
	st = auth_users_find_by_id(w->db.pg, s.user_id, &u);
	if (st == CORE_NOT_FOUND || (st == CORE_OK &&
	                                strcmp(u.status, "active") != 0)) {
		auth_session_revoke(w->db.redis, s.sid, NULL, NULL);
		sodium_memzero(fresh, sizeof(fresh));
		return core_call_error(c, CORE_UNAUTHENTICATED, BAD_TOKEN);
	}
	if (st != CORE_OK) {
		sodium_memzero(fresh, sizeof(fresh));
		return auth_storage_error(c, st);
	}
	st = issue_tokens(c, &u, s.sid, fresh, iat, resp);
	sodium_memzero(fresh, sizeof(fresh));
	return st;
}

/* Verifies a token against our own keys and Redis: signature, claims,
 * revocation. Fills claims; the reason of a failure goes to the log. */
static core_status
verify(core_call *c, const char *token, core_jwt_claims *claims)
{
	auth_worker *w = core_call_state(c);
	const auth_config *cfg = w->cfg;
	core_jwt_policy pol = {
	    .issuer = cfg->issuer, .audience = cfg->audience};
	const char *reason = "";
	auth_keyring *kr = cfg->keys;

	core_jwt_result r = CORE_JWT_UNKNOWN_KID;
	for (int attempt = 0; attempt < 2; attempt++) {
		pthread_rwlock_rdlock(&kr->lock);
		r = kr->jwks == NULL
		    ? CORE_JWT_UNKNOWN_KID
		    : core_jwt_verify(kr->jwks, token, &pol, claims, &reason);
		pthread_rwlock_unlock(&kr->lock);
		if (r != CORE_JWT_UNKNOWN_KID) {
			break;
		}
		/* A key made by another replica: reload, at most 1/s. */
		refresh_keys(w, 1000);
	}
	if (r != CORE_JWT_OK) {
		core_log_kv(CORE_LOG_INFO, "token rejected", "reason",
		    r == CORE_JWT_UNKNOWN_KID ? "unknown kid" : reason, NULL);
		return core_call_error(c, CORE_UNAUTHENTICATED, BAD_TOKEN);
	}
	bool revoked = true;
	core_status st = core_jwt_check_revoked(w->db.redis, claims, &revoked);
	if (st != CORE_OK) {
		/* Fail closed: without Redis nobody knows. */
		return auth_redis_error(c, st);
	}
	if (revoked) {
		core_log_kv(CORE_LOG_INFO, "token rejected", "reason",
		    "revoked", NULL);
		return core_call_error(c, CORE_UNAUTHENTICATED, BAD_TOKEN);
	}
	return CORE_OK;
}

/* The bearer token of the call's "authorization" metadata, or NULL. */
static core_status
check_token(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	const Auth__V1__CheckTokenRequest *req =
	    (const Auth__V1__CheckTokenRequest *) in;
	Auth__V1__CheckTokenResponse *resp =
	    (Auth__V1__CheckTokenResponse *) out;
	core_jwt_claims cl;
	const char *token = req->token[0] ? req->token : core_call_bearer(c);
	if (token == NULL) {
		return core_call_error(c, CORE_UNAUTHENTICATED, BAD_TOKEN);
	}
	core_status st = verify(c, token, &cl);
	if (st != CORE_OK) {
		return st;
	}
	core_arena *a = core_call_arena(c);
	Auth__V1__Claims *m = core_arena_alloc(a, sizeof(*m));
	if (m == NULL) {
		return core_call_error(c, CORE_INTERNAL, "out of memory");
	}
	auth__v1__claims__init(m);
	m->iss = core_arena_strdup(a, cl.iss);
	m->sub = core_arena_strdup(a, cl.sub);
	m->aud = core_arena_strdup(a, cl.aud);
	m->exp = cl.exp;
	m->iat = cl.iat;
	m->nbf = cl.nbf;
	m->jti = core_arena_strdup(a, cl.jti);
	m->sid = core_arena_strdup(a, cl.sid);
	m->username = core_arena_strdup(a, cl.username);
	m->role = core_arena_strdup(a, cl.role);
	if (!m->iss || !m->sub || !m->aud || !m->jti || !m->sid ||
	    !m->username || !m->role) {
		return core_call_error(c, CORE_INTERNAL, "out of memory");
	}
	resp->claims = m;
	return CORE_OK;
}

static core_status
logout(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	const Auth__V1__LogoutRequest *req = (const Auth__V1__LogoutRequest *) in;
	(void) out;
	auth_worker *w = core_call_state(c);
	const char *token = core_call_bearer(c);
	core_jwt_claims cl;
	if (token == NULL) {
		return core_call_error(c, CORE_UNAUTHENTICATED,
		    "a bearer token is required");
	}
	/* A token already revoked (a second logout) is fine: idempotent.
	 * verify() fails for it, so check the signature alone first. */
	core_status st = verify(c, token, &cl);
	if (st == CORE_UNAVAILABLE) {
		return st;
	}
	if (st != CORE_OK) {
		const char *reason = "";
		core_jwt_policy pol = {.issuer = w->cfg->issuer,
		    .audience = w->cfg->audience};
		auth_keyring *kr = w->cfg->keys;
		pthread_rwlock_rdlock(&kr->lock);
		core_jwt_result r = core_jwt_verify(kr->jwks, token, &pol, &cl,
		    &reason);
		pthread_rwlock_unlock(&kr->lock);
		if (r != CORE_JWT_OK) {
			return CORE_UNAUTHENTICATED; /* message already set */
		}
	}
	int64_t left = cl.exp - now_s();
	if (left < 1) {
		left = 1;
	}
	char key[96], ttl[24];
	snprintf(key, sizeof(key), "blacklist:%s", cl.jti);
	snprintf(ttl, sizeof(ttl), "%lld", (long long) left);
	const char *argv[] = {"SET", key, "1", "EX", ttl};
	redisReply *rep = NULL;
	st = core_redis_commandargv(w->db.redis, 5, argv, NULL, &rep);
	freeReplyObject(rep);
	if (st != CORE_OK) {
		return auth_redis_error(c, st);
	}
	if ((st = auth_session_revoke(w->db.redis, cl.sid, cl.sub, NULL)) !=
	    CORE_OK) {
		return auth_redis_error(c, st);
	}
	if (req->refresh_token[0] != '\0') {
		/* The refresh token's sid is before the dot. */
		char sid[AUTH_SID_MAX];
		const char *dot = strchr(req->refresh_token, '.');
		size_t n = dot ? (size_t) (dot - req->refresh_token) : 0;
		if (n > 0 && n < sizeof(sid)) {
			memcpy(sid, req->refresh_token, n);
			sid[n] = '\0';
			auth_session_revoke(w->db.redis, sid, cl.sub, NULL);
		}
	}
	core_log_kv(CORE_LOG_INFO, "logout", "user_id", cl.sub, "sid", cl.sid,
	    NULL);
	return CORE_OK;
}

Auth__V1__Session *
auth_session_message(
    core_arena *a, const auth_session *s, const char *current_sid)
{
	Auth__V1__Session *m = core_arena_alloc(a, sizeof(*m));
	if (m == NULL) {
		return NULL;
	}
	auth__v1__session__init(m);
	m->id = core_arena_strdup(a, s->sid);
	m->user_id = core_arena_strdup(a, s->user_id);
	m->created_at = core_timestamp_new(a, s->created_ms * 1000);
	m->last_used_at = core_timestamp_new(a, s->last_used_ms * 1000);
	m->client_ip = core_arena_strdup(a, s->client_ip);
	m->user_agent = core_arena_strdup(a, s->user_agent);
	m->current = current_sid != NULL && strcmp(s->sid, current_sid) == 0;
	if (!m->id || !m->user_id || !m->created_at || !m->last_used_at ||
	    !m->client_ip || !m->user_agent) {
		return NULL;
	}
	return m;
}

core_status
auth_caller(core_call *c, core_jwt_claims *cl)
{
	const char *token = core_call_bearer(c);
	if (token == NULL) {
		return core_call_error(c, CORE_UNAUTHENTICATED,
		    "a bearer token is required");
	}
	return verify(c, token, cl);
}

static core_status
list_sessions(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	const Auth__V1__ListSessionsRequest *req =
	    (const Auth__V1__ListSessionsRequest *) in;
	Auth__V1__ListSessionsResponse *resp =
	    (Auth__V1__ListSessionsResponse *) out;
	auth_worker *w = core_call_state(c);
	core_jwt_claims cl;
	core_status st = auth_caller(c, &cl);
	if (st != CORE_OK) {
		return st;
	}
	const char *user = req->user_id[0] ? req->user_id : cl.sub;
	if (strcmp(user, cl.sub) != 0) {
		/* The database's word, not the token's: a role claim may
		 * predate a demotion. */
		bool admin = false;
		if (strcmp(cl.role, "admin") == 0 &&
		    (st = auth_user_is_admin(c, cl.sub, &admin)) != CORE_OK) {
			return st;
		}
		if (!admin) {
			return core_call_error(c, CORE_PERMISSION_DENIED,
			    "only admins may list another user's sessions");
		}
	}
	enum { MAX_LISTED = 100 };
	auth_session *ss = core_arena_calloc(core_call_arena(c), MAX_LISTED,
	    sizeof(*ss));
	size_t n = 0;
	if (ss == NULL) {
		return core_call_error(c, CORE_INTERNAL, "out of memory");
	}
	if ((st = auth_session_list(w->db.redis, user, ss, MAX_LISTED, &n)) !=
	    CORE_OK) {
		return auth_redis_error(c, st);
	}
	core_arena *a = core_call_arena(c);
	resp->sessions = core_arena_calloc(a, n ? n : 1, sizeof(*resp->sessions));
	if (resp->sessions == NULL) {
		return core_call_error(c, CORE_INTERNAL, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		Auth__V1__Session *m = auth_session_message(a, &ss[i], cl.sid);
		if (m == NULL) {
			return core_call_error(c, CORE_INTERNAL,
			    "out of memory");
		}
		resp->sessions[resp->n_sessions++] = m;
	}
	return CORE_OK;
}

static core_status
revoke_session(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	const Auth__V1__RevokeSessionRequest *req =
	    (const Auth__V1__RevokeSessionRequest *) in;
	(void) out;
	auth_worker *w = core_call_state(c);
	core_jwt_claims cl;
	core_status st = auth_caller(c, &cl);
	if (st != CORE_OK) {
		return st;
	}
	if (req->session_id[0] == '\0') {
		return core_call_field_error(c, "session_id", "is required");
	}
	/* A user ends only their own sessions; an admin (in the database
	 * now) any session. */
	bool admin = false;
	if (strcmp(cl.role, "admin") == 0 &&
	    (st = auth_user_is_admin(c, cl.sub, &admin)) != CORE_OK) {
		return st;
	}
	int deleted = 0;
	st = auth_session_revoke(w->db.redis, req->session_id,
	    admin ? NULL : cl.sub, &deleted);
	if (st == CORE_INVALID_ARGUMENT) {
		return core_call_field_error(c, "session_id",
		    "is not a session id");
	}
	if (st != CORE_OK) {
		return auth_redis_error(c, st);
	}
	if (!deleted) {
		/* The same answer for "not yours" and "no such session". */
		return core_call_error(c, CORE_NOT_FOUND, "no such session");
	}
	core_log_kv(CORE_LOG_INFO, "session revoked", "sid", req->session_id,
	    "by", cl.sub, NULL);
	return CORE_OK;
}


static Auth__V1__SigningKey *
key_message(core_arena *a, const auth_pubkey *k)
{
	Auth__V1__SigningKey *m = core_arena_alloc(a, sizeof(*m));
	if (m == NULL) {
		return NULL;
	}
	auth__v1__signing_key__init(m);
	m->kid = core_arena_strdup(a, k->kid);
	m->active = k->active;
	m->created_at = core_timestamp_new(a, k->created_us);
	if (k->retire_after_us > 0) {
		m->retire_after = core_timestamp_new(a, k->retire_after_us);
	}
	return m->kid && m->created_at ? m : NULL;
}

static core_status
rotate_keys(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	(void) in;
	Auth__V1__RotateKeysResponse *resp = (Auth__V1__RotateKeysResponse *) out;
	auth_worker *w = core_call_state(c);
	core_jwt_claims cl;
	core_status st = auth_require_admin(c, &cl);
	if (st != CORE_OK) {
		return st;
	}
	char kid[44] = "";
	/* The old key verifies until every token it signed has expired. */
	st = auth_keys_rotate(w->db.pg, w->cfg->kek, w->cfg->access_ttl_s + 60,
	    kid);
	if (st != CORE_OK) {
		return auth_storage_error(c, st);
	}
	auth_keyring *kr = w->cfg->keys;
	pthread_mutex_lock(&kr->reload_mu);
	st = auth_keys_load(w->db.pg, w->cfg->kek, kr);
	pthread_mutex_unlock(&kr->reload_mu);
	if (st != CORE_OK) {
		return auth_storage_error(c, st);
	}
	core_log_kv(CORE_LOG_INFO, "signing keys rotated", "kid", kid, "by",
	    cl.sub, NULL);
	pthread_rwlock_rdlock(&kr->lock);
	for (size_t i = 0; i < kr->n_keys; i++) {
		if (kr->keys[i].active) {
			resp->key = key_message(core_call_arena(c), &kr->keys[i]);
		}
	}
	pthread_rwlock_unlock(&kr->lock);
	if (resp->key == NULL) {
		return core_call_error(c, CORE_INTERNAL, "no active key");
	}
	return CORE_OK;
}

static core_status
list_keys(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	(void) in;
	Auth__V1__ListKeysResponse *resp = (Auth__V1__ListKeysResponse *) out;
	auth_worker *w = core_call_state(c);
	core_jwt_claims cl;
	core_status st = auth_require_admin(c, &cl);
	if (st != CORE_OK) {
		return st;
	}
	refresh_keys(w, 1000);
	auth_keyring *kr = w->cfg->keys;
	core_arena *a = core_call_arena(c);
	pthread_rwlock_rdlock(&kr->lock);
	resp->keys = core_arena_calloc(a, kr->n_keys ? kr->n_keys : 1,
	    sizeof(*resp->keys));
	for (size_t i = 0; resp->keys != NULL && i < kr->n_keys; i++) {
		Auth__V1__SigningKey *m = key_message(a, &kr->keys[i]);
		if (m == NULL) {
			st = CORE_INTERNAL;
			break;
		}
		resp->keys[resp->n_keys++] = m;
	}
	pthread_rwlock_unlock(&kr->lock);
	if (resp->keys == NULL || st != CORE_OK) {
		return core_call_error(c, CORE_INTERNAL, "out of memory");
	}
	return CORE_OK;
}

/* Descriptor order: Register, Login, Refresh, Logout, GetJwks, CheckToken,
 * ListSessions, RevokeSession, RotateKeys, ListKeys, then the
 * administration methods of admin_service.c: AdminListUsers, AdminGetUser,
 * AdminUpdateUser, AdminRevokeSessions. */
const core_rpc_handler auth_handlers[AUTH_N_METHODS] = {
    register_user, login, refresh, logout, get_jwks, check_token,
    list_sessions, revoke_session, rotate_keys, list_keys,
    auth_admin_list_users, auth_admin_get_user, auth_admin_update_user,
    auth_admin_revoke_sessions,
};
