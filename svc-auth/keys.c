#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core/clock.h"
#include "core/log.h"
#include "keys.h"

/* Key for pg_advisory_xact_lock: "auth-keys" as a number. */
#define KEYS_LOCK_ID "7166512089012233216"
#define SEALED_BYTES (crypto_sign_SECRETKEYBYTES + crypto_secretbox_MACBYTES)

int
auth_kek_parse(const char *text, uint8_t kek[AUTH_KEK_BYTES])
{
	static const int variants[] = {sodium_base64_VARIANT_ORIGINAL,
	    sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
	    sodium_base64_VARIANT_URLSAFE,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING};
	for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		size_t n = 0;
		const char *end = NULL;
		if (sodium_base642bin(kek, AUTH_KEK_BYTES, text, strlen(text),
		        NULL, &n, &end, variants[i]) == 0 &&
		    *end == '\0' && n == AUTH_KEK_BYTES) {
			return 0;
		}
	}
	sodium_memzero(kek, AUTH_KEK_BYTES);
	return -1;
}

int
auth_keyring_init(auth_keyring *kr)
{
	memset(kr, 0, sizeof(*kr));
	if (pthread_mutex_init(&kr->reload_mu, NULL) != 0) {
		return -1;
	}
	if (pthread_mutex_init(&kr->kek_mu, NULL) != 0) {
		pthread_mutex_destroy(&kr->reload_mu);
		return -1;
	}
	return pthread_rwlock_init(&kr->lock, NULL) == 0 ? 0 : -1;
}

void
auth_keyring_take_kek(auth_keyring *kr, uint8_t *kek)
{
	sodium_mprotect_noaccess(kek);
	kr->kek = kek;
}

const uint8_t *
auth_keyring_kek_open(auth_keyring *kr)
{
	pthread_mutex_lock(&kr->kek_mu);
	if (kr->kek != NULL) {
		sodium_mprotect_readonly(kr->kek);
	}
	return kr->kek;
}

void
auth_keyring_kek_close(auth_keyring *kr)
{
	if (kr->kek != NULL) {
		sodium_mprotect_noaccess(kr->kek);
	}
	pthread_mutex_unlock(&kr->kek_mu);
}

void
auth_keyring_fini(auth_keyring *kr)
{
	sodium_free(kr->active_sk); /* wipes; NULL is fine */
	sodium_free(kr->kek);
	free(kr->jwks_json);
	core_jwks_free(kr->jwks);
	pthread_rwlock_destroy(&kr->lock);
	pthread_mutex_destroy(&kr->reload_mu);
	pthread_mutex_destroy(&kr->kek_mu);
}

/* Unescapes a bytea in hex output format ("\x0a1b...") into out. */
static int
bytea(const char *text, uint8_t *out, size_t want)
{
	size_t n = 0;
	if (strncmp(text, "\\x", 2) != 0 ||
	    sodium_hex2bin(
	        out, want, text + 2, strlen(text + 2), NULL, &n, NULL) != 0 ||
	    n != want) {
		return -1;
	}
	return 0;
}

/* Generates a key pair and stores it as the active key. Runs inside the
 * caller's transaction. */
static core_status
create_key(core_pg *pg, const uint8_t kek[AUTH_KEK_BYTES])
{
	uint8_t pk[crypto_sign_PUBLICKEYBYTES];
	uint8_t *sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
	uint8_t sealed[SEALED_BYTES];
	uint8_t nonce[crypto_secretbox_NONCEBYTES];
	char kid[44];
	char pk_hex[2 * sizeof(pk) + 3] = "\\x";
	char sealed_hex[2 * sizeof(sealed) + 3] = "\\x";
	char nonce_hex[2 * sizeof(nonce) + 3] = "\\x";

	if (sk == NULL) {
		return CORE_RESOURCE_EXHAUSTED;
	}
	crypto_sign_keypair(pk, sk);
	core_jwk_thumbprint(pk, kid);
	randombytes_buf(nonce, sizeof(nonce));
	crypto_secretbox_easy(
	    sealed, sk, crypto_sign_SECRETKEYBYTES, nonce, kek);
	sodium_free(sk);
	sodium_bin2hex(pk_hex + 2, sizeof(pk_hex) - 2, pk, sizeof(pk));
	sodium_bin2hex(
	    sealed_hex + 2, sizeof(sealed_hex) - 2, sealed, sizeof(sealed));
	sodium_bin2hex(
	    nonce_hex + 2, sizeof(nonce_hex) - 2, nonce, sizeof(nonce));
	const char *params[] = {kid, pk_hex, sealed_hex, nonce_hex};
	core_status st = core_pg_command(pg,
	    "INSERT INTO signing_keys (kid, public_key, sealed_key, nonce, "
	    "active) VALUES ($1, $2::bytea, $3::bytea, $4::bytea, true)",
	    4, params);
	if (st == CORE_OK) {
		core_log_kv(
		    CORE_LOG_INFO, "signing key created", "kid", kid, NULL);
	}
	return st;
}

/* Ends the transaction of begin_locked: commits when st is CORE_OK, else
 * rolls back. Returns st, or the failure of the commit. */
static core_status
end_transaction(core_pg *pg, core_status st)
{
	core_status end = core_pg_command(
	    pg, st == CORE_OK ? "COMMIT" : "ROLLBACK", 0, NULL);
	return st == CORE_OK ? end : st;
}

/* Opens a transaction that holds the keys' advisory lock, so that instances
 * starting or rotating at once change the keys one after the other. On an
 * error no transaction is left open. */
static core_status
begin_locked(core_pg *pg)
{
	core_status st = core_pg_command(pg, "BEGIN", 0, NULL);
	if (st != CORE_OK) {
		return st;
	}
	st = core_pg_command(
	    pg, "SELECT pg_advisory_xact_lock(" KEYS_LOCK_ID ")", 0, NULL);
	return st == CORE_OK ? st : end_transaction(pg, st);
}

core_status
auth_keys_rotate(core_pg *pg, const uint8_t kek[AUTH_KEK_BYTES],
    int retire_in_s, char kid[44])
{
	char secs[24];
	snprintf(secs, sizeof(secs), "%d", retire_in_s);
	const char *params[] = {secs};
	core_status st = begin_locked(pg);
	if (st != CORE_OK) {
		return st;
	}
	if ((st = core_pg_command(pg,
	         "UPDATE signing_keys SET active = false, retire_after = now() + "
	         "make_interval(secs => $1::int) WHERE active",
	         1, params)) != CORE_OK ||
	    (st = create_key(pg, kek)) != CORE_OK) {
		return end_transaction(pg, st);
	}
	PGresult *r = NULL;
	st = core_pg_exec(
	    pg, "SELECT kid FROM signing_keys WHERE active", 0, NULL, &r);
	if (st == CORE_OK && PQntuples(r) == 1) {
		snprintf(kid, 44, "%s", PQgetvalue(r, 0, 0));
	}
	PQclear(r);
	return end_transaction(pg, st);
}

core_status
auth_keys_ensure(core_pg *pg, const uint8_t kek[AUTH_KEK_BYTES])
{
	core_status st = begin_locked(pg);
	if (st != CORE_OK) {
		return st;
	}
	PGresult *r = NULL;
	st = core_pg_exec(
	    pg, "SELECT 1 FROM signing_keys WHERE active", 0, NULL, &r);
	if (st == CORE_OK && PQntuples(r) == 0) {
		st = create_key(pg, kek);
	}
	PQclear(r);
	return end_transaction(pg, st);
}

/* Unseals the active key into a new sodium_malloc'd buffer and checks that
 * it is the private half of pk. NULL when the KEK is wrong or the row was
 * tampered with. */
static uint8_t *
unseal(const char *sealed_hex, const char *nonce_hex, const uint8_t pk[32],
    const uint8_t kek[AUTH_KEK_BYTES])
{
	uint8_t sealed[SEALED_BYTES];
	uint8_t nonce[crypto_secretbox_NONCEBYTES];
	uint8_t *sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
	if (sk == NULL || bytea(sealed_hex, sealed, sizeof(sealed)) != 0 ||
	    bytea(nonce_hex, nonce, sizeof(nonce)) != 0 ||
	    crypto_secretbox_open_easy(
	        sk, sealed, sizeof(sealed), nonce, kek) != 0) {
		sodium_free(sk);
		return NULL;
	}
	/* libsodium's secret key is seed || public key: the public half must
	 * be the row's (a sealed key copied onto another row fails here). */
	if (sodium_memcmp(sk + 32, pk, 32) != 0) {
		sodium_free(sk);
		return NULL;
	}
	return sk;
}

/* Fills k from row i of auth_keys_load's query and checks that its public
 * key is well formed and is the one its kid names. -1 (logged) when not. */
static int
read_pubkey(const PGresult *r, int i, auth_pubkey *k)
{
	char expect[44];
	snprintf(k->kid, sizeof(k->kid), "%s", PQgetvalue(r, i, 0));
	if (bytea(PQgetvalue(r, i, 1), k->pk, sizeof(k->pk)) != 0) {
		core_log_kv(CORE_LOG_ERROR, "bad public key in authdb", "kid",
		    k->kid, NULL);
		return -1;
	}
	core_jwk_thumbprint(k->pk, expect);
	if (strcmp(expect, k->kid) != 0) {
		core_log_kv(CORE_LOG_ERROR,
		    "signing key does not match its kid", "kid", k->kid, NULL);
		return -1;
	}
	k->active = PQgetvalue(r, i, 4)[0] == 't';
	k->created_us = core_pg_int64(r, i, 5);
	k->retire_after_us = core_pg_int64(r, i, 6);
	return 0;
}

/* Builds the set to verify with and its JWKS document from the keys not
 * retired at now_us, keeping only those in keys (*n is updated), and
 * writes the earliest retirement still ahead to *next_us (0: none). -1
 * when out of memory, with nothing changed. */
static int
publish(auth_pubkey keys[CORE_JWKS_MAX_KEYS], size_t *n, int64_t now_us,
    core_jwks **set_out, char **json_out, int64_t *next_us)
{
	core_jwks *set = core_jwks_new();
	auth_pubkey kept[CORE_JWKS_MAX_KEYS];
	size_t k = 0;
	int64_t next = 0;
	for (size_t i = 0; set != NULL && i < *n; i++) {
		int64_t r = keys[i].retire_after_us;
		if (r > 0 && r <= now_us) {
			continue; /* retired: published no more */
		}
		if (core_jwks_add(set, NULL, keys[i].pk) != 0) {
			core_jwks_free(set);
			return -1;
		}
		if (r > 0 && (next == 0 || r < next)) {
			next = r;
		}
		kept[k++] = keys[i];
	}
	char *json = set != NULL ? core_jwks_to_json(set) : NULL;
	if (json == NULL) {
		core_jwks_free(set);
		return -1;
	}
	memcpy(keys, kept, k * sizeof(kept[0]));
	*n = k;
	*set_out = set;
	*json_out = json;
	*next_us = next;
	return 0;
}

/* Reads the rows of auth_keys_load's query into keys (*n of them) and
 * unseals the active private key into *sk (its kid into active_kid).
 * CORE_FAILED_PRECONDITION (logged) for a bad row or a wrong KEK. */
static core_status
read_keys(const PGresult *r, const uint8_t kek[AUTH_KEK_BYTES],
    auth_pubkey keys[CORE_JWKS_MAX_KEYS], size_t *n, uint8_t **sk,
    char active_kid[44])
{
	*n = 0;
	for (int i = 0; i < PQntuples(r) && *n < CORE_JWKS_MAX_KEYS; i++) {
		auth_pubkey *k = &keys[*n];
		if (read_pubkey(r, i, k) != 0) {
			return CORE_FAILED_PRECONDITION;
		}
		if (k->active && *sk == NULL) {
			*sk = unseal(PQgetvalue(r, i, 2), PQgetvalue(r, i, 3),
			    k->pk, kek);
			if (*sk == NULL) {
				core_log_kv(CORE_LOG_ERROR,
				    "cannot unseal the active signing key "
				    "(wrong AUTH_KEK?)",
				    "kid", k->kid, NULL);
				return CORE_FAILED_PRECONDITION;
			}
			memcpy(active_kid, k->kid, sizeof(k->kid));
		}
		(*n)++;
	}
	return CORE_OK;
}

core_status
auth_keys_load(
    core_pg *pg, const uint8_t kek[AUTH_KEK_BYTES], auth_keyring *kr)
{
	PGresult *r = NULL;
	core_status st = core_pg_exec(pg,
	    "SELECT kid, public_key, sealed_key, nonce, active, "
	    "(extract(epoch FROM created_at) * 1000000)::bigint, "
	    "coalesce((extract(epoch FROM retire_after) * 1000000)::bigint, 0) "
	    "FROM signing_keys WHERE retire_after IS NULL OR retire_after > "
	    "now() ORDER BY created_at DESC LIMIT 16",
	    0, NULL, &r);
	if (st != CORE_OK) {
		return st;
	}
	auth_pubkey keys[CORE_JWKS_MAX_KEYS];
	size_t n = 0;
	uint8_t *sk = NULL;
	char active_kid[44] = "";
	core_jwks *set = NULL;
	char *json = NULL;
	int64_t next = 0;
	st = read_keys(r, kek, keys, &n, &sk, active_kid);
	PQclear(r);
	if (st != CORE_OK) {
		sodium_free(sk);
		return st;
	}
	if (publish(keys, &n, core_unix_ms() * 1000, &set, &json, &next) !=
	    0) {
		sodium_free(sk);
		return CORE_RESOURCE_EXHAUSTED;
	}
	pthread_rwlock_wrlock(&kr->lock);
	sodium_free(kr->active_sk);
	kr->active_sk = sk;
	snprintf(kr->active_kid, sizeof(kr->active_kid), "%s", active_kid);
	memcpy(kr->keys, keys, n * sizeof(keys[0]));
	kr->n_keys = n;
	free(kr->jwks_json);
	kr->jwks_json = json;
	core_jwks_free(kr->jwks);
	kr->jwks = set;
	kr->next_retire_us = next;
	kr->loaded_ms = core_monotonic_ms();
	pthread_rwlock_unlock(&kr->lock);
	return CORE_OK;
}

/* ---- Reloads and verification ------------------------------------------ */

core_status
auth_keyring_reload(auth_keyring *kr)
{
	pthread_mutex_lock(&kr->reload_mu);
	const uint8_t *kek = auth_keyring_kek_open(kr);
	core_status st = auth_keys_load(kr->pg, kek, kr);
	auth_keyring_kek_close(kr);
	pthread_mutex_unlock(&kr->reload_mu);
	return st;
}

/* The keyring's own max age, in ms. */
static int64_t
own_max_age_ms(const auth_keyring *kr)
{
	return (int64_t) (kr->max_age_s > 0 ? kr->max_age_s
	                                    : AUTH_JWKS_MAX_AGE_DEFAULT_S) *
	       1000;
}

/* Drops the keys whose retire_after has passed (auth_keyring_refresh). */
static void
drop_retired(auth_keyring *kr)
{
	int64_t now_us = core_unix_ms() * 1000;
	pthread_rwlock_rdlock(&kr->lock);
	bool due = kr->next_retire_us != 0 && now_us >= kr->next_retire_us;
	pthread_rwlock_unlock(&kr->lock);
	if (!due) {
		return;
	}
	pthread_rwlock_wrlock(&kr->lock);
	auth_pubkey keys[CORE_JWKS_MAX_KEYS];
	size_t n = kr->n_keys;
	core_jwks *set = NULL;
	char *json = NULL;
	int64_t next = 0;
	memcpy(keys, kr->keys, n * sizeof(keys[0]));
	if (kr->next_retire_us == 0 || now_us < kr->next_retire_us) {
		/* Another thread was first. */
	} else if (publish(keys, &n, now_us, &set, &json, &next) != 0) {
		core_log_error("out of memory dropping a retired signing key");
	} else {
		for (size_t i = 0; i < kr->n_keys; i++) {
			int64_t r = kr->keys[i].retire_after_us;
			if (r > 0 && r <= now_us) {
				core_log_kv(CORE_LOG_INFO,
				    "signing key retired", "kid",
				    kr->keys[i].kid, NULL);
			}
		}
		memcpy(kr->keys, keys, n * sizeof(keys[0]));
		kr->n_keys = n;
		free(kr->jwks_json);
		kr->jwks_json = json;
		core_jwks_free(kr->jwks);
		kr->jwks = set;
		kr->next_retire_us = next;
	}
	pthread_rwlock_unlock(&kr->lock);
}

void
auth_keyring_refresh(auth_keyring *kr, int64_t max_age_ms)
{
	drop_retired(kr);
	if (own_max_age_ms(kr) < max_age_ms) {
		max_age_ms = own_max_age_ms(kr);
	}
	int64_t now = core_monotonic_ms();
	pthread_rwlock_rdlock(&kr->lock);
	int64_t age = now - kr->loaded_ms;
	pthread_rwlock_unlock(&kr->lock);
	if (age < max_age_ms || pthread_mutex_trylock(&kr->reload_mu) != 0) {
		return;
	}
	core_status st = CORE_OK;
	/* A failing database is tried again at the same pace, not on every
	 * call. */
	if (now - kr->tried_ms >= max_age_ms) {
		kr->tried_ms = now;
		const uint8_t *kek = auth_keyring_kek_open(kr);
		st = auth_keys_load(kr->pg, kek, kr);
		auth_keyring_kek_close(kr);
	}
	pthread_mutex_unlock(&kr->reload_mu);
	if (st != CORE_OK) {
		core_log_warn(
		    "signing keys not reloaded: %s", core_status_str(st));
	}
}

int
auth_keyring_max_age(auth_keyring *kr)
{
	int64_t max = own_max_age_ms(kr) / 1000;
	pthread_rwlock_rdlock(&kr->lock);
	int64_t next = kr->next_retire_us;
	pthread_rwlock_unlock(&kr->lock);
	if (next > 0) {
		/* Rounded up: verifiers ask again just after it retires. */
		int64_t left =
		    (next - core_unix_ms() * 1000 + 999999) / 1000000;
		if (left < max) {
			max = left < 1 ? 1 : left;
		}
	}
	return (int) max;
}

core_jwt_result
auth_keyring_verify(void *arg, const char *token, const core_jwt_policy *pol,
    core_jwt_claims *out, const char **reason)
{
	auth_keyring *kr = arg;
	core_jwt_result r = CORE_JWT_UNKNOWN_KID;
	for (int attempt = 0; attempt < 2; attempt++) {
		/* First with the keyring's own max age (and never a retired
		 * key); then, for a key made by another replica, a reload at
		 * most once a second. */
		auth_keyring_refresh(kr, attempt == 0 ? INT64_MAX : 1000);
		pthread_rwlock_rdlock(&kr->lock);
		r = core_jwt_verify(kr->jwks, token, pol, out, reason);
		pthread_rwlock_unlock(&kr->lock);
		if (r != CORE_JWT_UNKNOWN_KID) {
			break;
		}
	}
	return r;
}
