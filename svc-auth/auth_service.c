#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "core/clock.h"
#include "auth/v1/auth.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"

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

static Auth__V1__User *
user_message(core_arena *a, const auth_user *u)
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
static core_status
storage_error(core_call *c, core_status st)
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
		return storage_error(c, st);
	}
	resp->user = user_message(core_call_arena(c), &u);
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

static int64_t
now_s(void)
{
	return (int64_t) time(NULL);
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

static core_status
redis_error(core_call *c, core_status st)
{
	if (st == CORE_UNAVAILABLE) {
		return core_call_error(c, CORE_UNAVAILABLE,
		    "the session store is unavailable; try again later");
	}
	return core_call_error(c, CORE_INTERNAL, "session store: %s",
	    core_status_str(st));
}

/* Mints an access token for u in session sid into resp (with refresh, the
 * refresh token to hand out). */
static core_status
issue_tokens(core_call *c, const auth_user *u, const char *sid,
    const char *refresh, Auth__V1__TokenResponse *resp)
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
	claims.iat = claims.nbf = now_s();
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
		return redis_error(c, st);
	}
	if (!allowed) {
		core_call_set_retry_after(c, (uint32_t) retry);
		return core_call_error(c, CORE_RESOURCE_EXHAUSTED,
		    "too many login attempts; try again in %d s", retry);
	}

	auth_user u;
	char hash[256];
	st = known_shape ? auth_users_find_by_username(w->db.pg, username, &u,
	                       hash, sizeof(hash))
	                 : CORE_NOT_FOUND;
	if (st != CORE_OK && st != CORE_NOT_FOUND) {
		return storage_error(c, st);
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

	char refresh[AUTH_REFRESH_TOKEN_MAX], sid[AUTH_SID_MAX];
	st = auth_session_create(w->db.redis, u.id, ip, ua, cfg->refresh_ttl_s,
	    refresh, sid);
	if (st != CORE_OK) {
		return redis_error(c, st);
	}
	st = issue_tokens(c, &u, sid, refresh, resp);
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
		return redis_error(c, st);
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
		return storage_error(c, st);
	}
	st = issue_tokens(c, &u, s.sid, fresh, resp);
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
		return redis_error(c, st);
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
		return redis_error(c, st);
	}
	if ((st = auth_session_revoke(w->db.redis, cl.sid, cl.sub, NULL)) !=
	    CORE_OK) {
		return redis_error(c, st);
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

/* The caller's verified claims, from the bearer token in the metadata. */
static core_status
caller(core_call *c, core_jwt_claims *cl)
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
	core_status st = caller(c, &cl);
	if (st != CORE_OK) {
		return st;
	}
	const char *user = req->user_id[0] ? req->user_id : cl.sub;
	if (strcmp(user, cl.sub) != 0 && strcmp(cl.role, "admin") != 0) {
		return core_call_error(c, CORE_PERMISSION_DENIED,
		    "only admins may list another user's sessions");
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
		return redis_error(c, st);
	}
	core_arena *a = core_call_arena(c);
	resp->sessions = core_arena_calloc(a, n ? n : 1, sizeof(*resp->sessions));
	if (resp->sessions == NULL) {
		return core_call_error(c, CORE_INTERNAL, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		Auth__V1__Session *m = core_arena_alloc(a, sizeof(*m));
		if (m == NULL) {
			return core_call_error(c, CORE_INTERNAL,
			    "out of memory");
		}
		auth__v1__session__init(m);
		m->id = core_arena_strdup(a, ss[i].sid);
		m->user_id = core_arena_strdup(a, ss[i].user_id);
		m->created_at = core_timestamp_new(a, ss[i].created_ms * 1000);
		m->last_used_at = core_timestamp_new(a, ss[i].last_used_ms * 1000);
		m->client_ip = core_arena_strdup(a, ss[i].client_ip);
		m->user_agent = core_arena_strdup(a, ss[i].user_agent);
		m->current = strcmp(ss[i].sid, cl.sid) == 0;
		if (!m->id || !m->user_id || !m->created_at ||
		    !m->last_used_at || !m->client_ip || !m->user_agent) {
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
	core_status st = caller(c, &cl);
	if (st != CORE_OK) {
		return st;
	}
	if (req->session_id[0] == '\0') {
		return core_call_field_error(c, "session_id", "is required");
	}
	/* A user ends only their own sessions; an admin any session. */
	bool admin = strcmp(cl.role, "admin") == 0;
	int deleted = 0;
	st = auth_session_revoke(w->db.redis, req->session_id,
	    admin ? NULL : cl.sub, &deleted);
	if (st == CORE_INVALID_ARGUMENT) {
		return core_call_field_error(c, "session_id",
		    "is not a session id");
	}
	if (st != CORE_OK) {
		return redis_error(c, st);
	}
	if (!deleted) {
		/* The same answer for "not yours" and "no such session". */
		return core_call_error(c, CORE_NOT_FOUND, "no such session");
	}
	core_log_kv(CORE_LOG_INFO, "session revoked", "sid", req->session_id,
	    "by", cl.sub, NULL);
	return CORE_OK;
}

static core_status
require_admin(core_call *c, core_jwt_claims *cl)
{
	core_status st = caller(c, cl);
	if (st != CORE_OK) {
		return st;
	}
	if (strcmp(cl->role, "admin") != 0) {
		return core_call_error(c, CORE_PERMISSION_DENIED,
		    "this needs the admin role");
	}
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
	core_status st = require_admin(c, &cl);
	if (st != CORE_OK) {
		return st;
	}
	char kid[44] = "";
	/* The old key verifies until every token it signed has expired. */
	st = auth_keys_rotate(w->db.pg, w->cfg->kek, w->cfg->access_ttl_s + 60,
	    kid);
	if (st != CORE_OK) {
		return storage_error(c, st);
	}
	auth_keyring *kr = w->cfg->keys;
	pthread_mutex_lock(&kr->reload_mu);
	st = auth_keys_load(w->db.pg, w->cfg->kek, kr);
	pthread_mutex_unlock(&kr->reload_mu);
	if (st != CORE_OK) {
		return storage_error(c, st);
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
	core_status st = require_admin(c, &cl);
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
 * ListSessions, RevokeSession, RotateKeys, ListKeys. */
const core_rpc_handler auth_handlers[AUTH_N_METHODS] = {
    register_user, login, refresh, logout, get_jwks, check_token,
    list_sessions, revoke_session, rotate_keys, list_keys,
};
