/* AuthService handlers and the per-worker state they run with. */
#ifndef AUTH_SERVICE_H
#define AUTH_SERVICE_H

#include <stdbool.h>

#include "auth/v1/auth.pb-c.h"

#include "core/jwt.h"
#include "core/pg.h"
#include "core/redis.h"
#include "core/rpc.h"
#include "core/store.h"
#include "keys.h"
#include "sessions.h"
#include "users_repo.h"

typedef struct auth_config {
	const char *database_url;
	const char *redis_url;
	unsigned long long argon2_opslimit;
	size_t argon2_memlimit; /* bytes */
	auth_keyring *keys;     /* shared by every worker */
	const uint8_t *kek;     /* sodium_malloc'd, read-only */
	const char *issuer;
	const char *audience;
	int access_ttl_s;
	int refresh_ttl_s;
	int refresh_grace_ms;
	int login_max_per_user; /* failed attempts per window */
	int login_max_per_ip;
	int login_window_s;
	/* An Argon2id hash of a random password, verified when the username
	 * is unknown so that both failures cost the same. */
	char dummy_hash[128];
} auth_config;

/* One per RPC worker: its own connections. */
typedef struct auth_worker {
	const auth_config *cfg;
	core_store db; /* its own connections */
} auth_worker;

/* Handlers for auth.v1.AuthService, in descriptor order (NULL:
 * UNIMPLEMENTED for now). main.c checks the count against the descriptor. */
#define AUTH_N_METHODS 14
extern const core_rpc_handler auth_handlers[AUTH_N_METHODS];

void *auth_worker_init(void *cfg);
void auth_worker_fini(void *worker);
/* SERVING only while both PostgreSQL and Redis answer. */
bool auth_health(void *worker);

/* ---- Shared by the handlers (auth_service.c, admin_service.c) ---------- */

/* The caller's claims from the bearer token of the call's authorization
 * metadata, verified as every token-taking method does: signature and
 * claims against our keys, then revocation (blacklist, revoked_before) in
 * Redis. UNAUTHENTICATED (message set) when there is no valid token,
 * UNAVAILABLE when Redis cannot say. */
core_status auth_caller(core_call *c, core_jwt_claims *cl);

/* Makes every access token the user holds now fail verification at once
 * (revoked_before, kept for the token lifetime and some margin). */
core_status auth_revoke_user_tokens(auth_worker *w, const char *user_id);

/* A User / Session message in the arena; NULL when it is full. A session
 * is marked current when its id is current_sid (may be NULL). */
Auth__V1__User *auth_user_message(core_arena *a, const auth_user *u);
Auth__V1__Session *auth_session_message(
    core_arena *a, const auth_session *s, const char *current_sid);

/* Sets the client's message for a failure of authdb (storage) or Redis
 * (session store) and returns the status to answer with: UNAVAILABLE when
 * the server is down, INTERNAL (detail logged) for anything else. */
core_status auth_storage_error(core_call *c, core_status st);
core_status auth_redis_error(core_call *c, core_status st);

#endif
