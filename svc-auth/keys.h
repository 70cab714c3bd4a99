/* Signing keys of svc-auth: Ed25519 key pairs in authdb, the private half
 * sealed with the key-encryption key (KEK) from the configuration, and the
 * in-memory keyring the handlers sign with and publish as the JWKS. */
#ifndef AUTH_KEYS_H
#define AUTH_KEYS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/jws.h"
#include "core/pg.h"

#define AUTH_KEK_BYTES 32

/* Decodes a KEK given as base64 (standard or URL-safe, padded or not) of
 * exactly 32 bytes. Returns 0, or -1 when it is not that. */
int auth_kek_parse(const char *text, uint8_t kek[AUTH_KEK_BYTES]);

typedef struct auth_pubkey {
	char kid[44];
	uint8_t pk[32];
	bool active;
	int64_t created_us;
	int64_t retire_after_us; /* 0: not retiring */
} auth_pubkey;

/* What the handlers need: the active private key and every published
 * public key. Shared by all workers; readers take the lock shared. */
typedef struct auth_keyring {
	pthread_rwlock_t lock;
	uint8_t *active_sk; /* 64 bytes, sodium_malloc'd; NULL when none */
	char active_kid[44];
	auth_pubkey keys[CORE_JWKS_MAX_KEYS];
	size_t n_keys;
	char *jwks_json; /* the published JWKS document */
	core_jwks *jwks; /* the same keys, to verify tokens with */
	/* The earliest retire_after_us of keys (Unix us), 0 when none is
	 * retiring: from then on that key is dropped without waiting for a
	 * reload. */
	int64_t next_retire_us;
	/* Reloads: who is doing one, and when the last one ran or was tried
	 * (monotonic ms). */
	pthread_mutex_t reload_mu;
	int64_t loaded_ms;
	int64_t tried_ms;
	/* What reloads read with (auth_keyring_reload): a connection to
	 * authdb, used only under reload_mu (the caller's, set after
	 * auth_keyring_init and before the keyring is shared), and the KEK
	 * (auth_keyring_take_kek). */
	core_pg *pg;
	/* sodium_malloc'd, PROT_NONE except between auth_keyring_kek_open and
	 * _close, which hold kek_mu. */
	uint8_t *kek;
	pthread_mutex_t kek_mu;
	/* AUTH_JWKS_MAX_AGE_S: how long a verifier may keep the published
	 * set, and so how often the keyring itself reloads (another replica
	 * may have rotated or retired a key). Set before it is shared; 0 =
	 * AUTH_JWKS_MAX_AGE_DEFAULT_S. */
	int max_age_s;
} auth_keyring;

#define AUTH_JWKS_MAX_AGE_DEFAULT_S 60

/* Initialises an empty keyring. Returns 0 or -1 (out of memory). */
int auth_keyring_init(auth_keyring *kr);
/* Wipes and frees what the keyring holds, the KEK included. */
void auth_keyring_fini(auth_keyring *kr);

/* Hands the KEK (AUTH_KEK_BYTES of sodium_malloc'd memory) to the keyring,
 * which makes it unreadable (PROT_NONE) until auth_keyring_kek_open. */
void auth_keyring_take_kek(auth_keyring *kr, uint8_t *kek);

/* The KEK, readable until auth_keyring_kek_close; one holder at a time.
 * NULL when the keyring has none (the lock is held all the same). */
const uint8_t *auth_keyring_kek_open(auth_keyring *kr);
void auth_keyring_kek_close(auth_keyring *kr);

/* Makes sure authdb has an active signing key, generating and storing one
 * (under an advisory lock, so concurrent starts create one) if not. */
core_status auth_keys_ensure(core_pg *pg, const uint8_t kek[AUTH_KEK_BYTES]);

/* Makes a new active key and retires the active one: it stays published
 * (and verifying) until retire_in_s from now, normally when every token it
 * signed has expired; 0 retires it at once (after a leak). Writes the new
 * kid to kid (44 bytes). */
core_status auth_keys_rotate(core_pg *pg, const uint8_t kek[AUTH_KEK_BYTES],
    int retire_in_s, char kid[44]);

/* Reloads the keyring from authdb: every key not yet retired, and the
 * active private key unsealed with kek. Fails with CORE_FAILED_PRECONDITION
 * when a key cannot be unsealed (wrong KEK) or does not match its kid, and
 * leaves the keyring as it was on any failure. */
core_status auth_keys_load(
    core_pg *pg, const uint8_t kek[AUTH_KEK_BYTES], auth_keyring *kr);

/* Reloads the keyring with its own connection and KEK (auth_keys_load),
 * after any reload under way. */
core_status auth_keyring_reload(auth_keyring *kr);

/* Drops, at once and without the database, every key whose retire_after
 * has passed, from the published set and the set that verifies; then
 * reloads the keyring when its keys are older than max_age_ms or the
 * keyring's max_age_s (another replica may have rotated or retired a key),
 * unless a reload is under way or one was tried that recently: then the
 * caller goes on with the keys there are. A failure is logged and leaves
 * the keys as they were. */
void auth_keyring_refresh(auth_keyring *kr, int64_t max_age_ms);

/* The max age to publish with the keyring's set, in seconds: max_age_s,
 * shortened to the time left until the next key retires (at least 1), so
 * that verifiers ask again when it does. */
int auth_keyring_max_age(auth_keyring *kr);

/* Verifies a token with the keyring (arg), as core_token_verify_fn, after
 * auth_keyring_refresh with the keyring's max age (so a retired key is
 * refused at once): an unknown kid (a key another replica made) reloads the
 * keyring, at most once a second, and the token is tried again.
 * Thread-safe. */
core_jwt_result auth_keyring_verify(void *arg, const char *token,
    const core_jwt_policy *pol, core_jwt_claims *out, const char **reason);

#endif
