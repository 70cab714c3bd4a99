/* The state AuthService's handlers run with: the service's settings,
 * shared by every worker, and one auth_worker per RPC worker thread with
 * its own connections. */
#ifndef AUTH_WORKER_H
#define AUTH_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/redis.h"
#include "core/rpc.h"
#include "core/store.h"
#include "hash_gate.h"
#include "keys.h"
#include "ref_hash.h"

typedef struct auth_config {
	const char *database_url;
	const char *redis_url;
	unsigned long long argon2_opslimit;
	size_t argon2_memlimit; /* bytes */
	auth_keyring *keys;     /* shared by every worker */
	const char *issuer;
	const char *audience;
	int access_ttl_s;
	int refresh_ttl_s;
	int refresh_grace_ms;
	int login_max_per_user; /* failed attempts per window */
	int login_max_per_ip;
	int login_max_per_device; /* with a valid device token */
	int login_window_s;
	int device_ttl_s;          /* life of a device token */
	const uint8_t *device_key; /* AUTH_DEVICE_KEY_BYTES, read-only */
	int register_max_per_ip;   /* registrations per client IP per window */
	int register_window_s;
	/* svc-user (USER_RPC_DIAL): a deleted account's profile goes with
	 * it (account.c). */
	core_rpc_client *user_rpc;
	/* Email verification: the token's life, whether login needs a
	 * verified address, the resend throttle, where links point. */
	int verify_ttl_s;
	bool require_verified_email;
	int verify_resend_max; /* resends per user per window */
	int verify_resend_window_s;
	const char *public_base_url;
	/* Email change: the life of a confirmation link. */
	int email_change_ttl_s;
	/* Passwords (password.c): the reset token's life, the forgot
	 * throttle per address and per client IP, and the least time a
	 * forgot request takes (known and unknown addresses alike). */
	int reset_ttl_s;
	int forgot_max_per_email;
	int forgot_max_per_ip;
	int forgot_window_s;
	int forgot_min_ms;
	/* Two-factor login (mfa.c): the life of the ticket a password
	 * earns, the throttle of wrong codes, the issuer apps show. */
	int mfa_ticket_ttl_s;
	int mfa_max_per_user; /* wrong codes per window */
	int mfa_max_per_ip;
	int mfa_window_s;
	const char *totp_issuer;
	/* Bounds the Argon2id work of every worker together. */
	auth_hash_gate *hash_gate;
	/* An Argon2id hash of a random password, verified when the username
	 * is unknown so that both failures cost the same (ref_hash.h). */
	auth_ref_hash *ref_hash;
} auth_config;

/* One per RPC worker: its own connections. */
typedef struct auth_worker {
	core_store db; /* its own connections; first (core_store_worker_*) */
	const auth_config *cfg;
} auth_worker;

/* A worker with its own connections (cfg: the auth_config). Freed by
 * core_store_worker_free; its Health is core_store_worker_ping: SERVING
 * only while both PostgreSQL and Redis answer. */
void *auth_worker_init(void *cfg);

#endif
