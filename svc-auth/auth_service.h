/* AuthService handlers and the per-worker state they run with. */
#ifndef AUTH_SERVICE_H
#define AUTH_SERVICE_H

#include <stdbool.h>

#include "core/pg.h"
#include "core/redis.h"
#include "core/rpc.h"
#include "core/store.h"
#include "keys.h"

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
#define AUTH_N_METHODS 10
extern const core_rpc_handler auth_handlers[AUTH_N_METHODS];

void *auth_worker_init(void *cfg);
void auth_worker_fini(void *worker);
/* SERVING only while both PostgreSQL and Redis answer. */
bool auth_health(void *worker);

#endif
