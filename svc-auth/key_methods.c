/* GetJwks, RotateKeys and ListKeys; see key_methods.h and docs/rpc.md. */
#include <string.h>

#include "auth/v1/auth.pb-c.h"

#include "auth_worker.h"
#include "core/log.h"
#include "core/timestamp.h"
#include "key_methods.h"
#include "keys.h"
#include "replies.h"

/* Past a retiring key's last token and the leeway: slack for clocks. */
#define RETIRE_MARGIN_S 30

static Auth__V1__Jwk *
jwk_message(core_arena *a, const auth_pubkey *k)
{
	Auth__V1__Jwk *m = core_arena_alloc(a, sizeof(*m));
	char x[CORE_B64URL_ENCODED_LEN(32) + 1];
	if (m == NULL || core_b64url_encode(k->pk, 32, x, sizeof(x)) != 0) {
		return NULL;
	}
	auth__v1__jwk__init(m);
	m->kty = "OKP";
	m->crv = "Ed25519";
	m->x = core_arena_strdup(a, x);
	m->kid = core_arena_strdup(a, k->kid);
	m->use = "sig";
	m->alg = "EdDSA";
	return m->x && m->kid ? m : NULL;
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

/* A copy of the keys the keyring publishes into keys (returns how many),
 * after a reload when they are older than a second; with json, its JWKS
 * document too, in the call's arena (NULL when that is full). */
static size_t
published_keys(core_call *c, auth_pubkey keys[CORE_JWKS_MAX_KEYS], char **json)
{
	auth_worker *w = core_call_state(c);
	auth_keyring *kr = w->cfg->keys;
	auth_keyring_refresh(kr, 1000); /* callers ask when they miss a kid */
	pthread_rwlock_rdlock(&kr->lock);
	size_t n = kr->n_keys;
	memcpy(keys, kr->keys, n * sizeof(keys[0]));
	if (json != NULL) {
		*json = core_arena_strdup(
		    core_call_arena(c), kr->jwks_json ? kr->jwks_json : "");
	}
	pthread_rwlock_unlock(&kr->lock);
	return n;
}

/* The published keys, as Jwk messages and as the JSON document the edge
 * serves, with how long a verifier may keep them. Any caller may ask:
 * public keys are public. */
core_status
auth_get_jwks(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	(void) in;
	Auth__V1__GetJwksResponse *resp = (Auth__V1__GetJwksResponse *) out;
	const auth_worker *w = core_call_state(c);
	core_arena *a = core_call_arena(c);
	auth_pubkey keys[CORE_JWKS_MAX_KEYS];
	size_t n = published_keys(c, keys, &resp->json);
	resp->max_age_s = auth_keyring_max_age(w->cfg->keys);
	resp->keys = core_arena_calloc(a, n ? n : 1, sizeof(*resp->keys));
	bool ok = resp->json != NULL && resp->keys != NULL;
	for (; ok && resp->n_keys < n; resp->n_keys++) {
		ok = (resp->keys[resp->n_keys] =
		             jwk_message(a, &keys[resp->n_keys])) != NULL;
	}
	return ok ? CORE_OK
	          : core_call_error(c, CORE_INTERNAL, "out of memory");
}

core_status
auth_rotate_keys(
    core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	const Auth__V1__RotateKeysRequest *req =
	    (const Auth__V1__RotateKeysRequest *) in;
	Auth__V1__RotateKeysResponse *resp =
	    (Auth__V1__RotateKeysResponse *) out;
	auth_worker *w = core_call_state(c);
	auth_keyring *kr = w->cfg->keys;
	char kid[44] = "";
	/* The old key verifies until every token it signed has expired (and
	 * the verifiers' leeway has passed), or not at all after a leak. The
	 * reload drops it here at once; other replicas and verifiers within
	 * the JWKS max age. */
	int retire_in_s = req->retire_previous
	                      ? 0
	                      : w->cfg->access_ttl_s +
	                            CORE_JWT_DEFAULT_LEEWAY_S +
	                            RETIRE_MARGIN_S;
	const uint8_t *kek = auth_keyring_kek_open(kr);
	core_status st = auth_keys_rotate(w->db.pg, kek, retire_in_s, kid);
	auth_keyring_kek_close(kr);
	if (st != CORE_OK || (st = auth_keyring_reload(kr)) != CORE_OK) {
		return auth_storage_error(c, st);
	}
	core_log_kv(CORE_LOG_INFO, "signing keys rotated", "kid", kid, "by",
	    core_call_claims(c)->sub, "previous",
	    req->retire_previous ? "retired" : "retiring", NULL);
	auth_pubkey keys[CORE_JWKS_MAX_KEYS];
	size_t n = published_keys(c, keys, NULL);
	for (size_t i = 0; i < n; i++) {
		if (keys[i].active) {
			resp->key = key_message(core_call_arena(c), &keys[i]);
		}
	}
	if (resp->key == NULL) {
		return core_call_error(c, CORE_INTERNAL, "no active key");
	}
	return CORE_OK;
}

core_status
auth_list_keys(core_call *c, const ProtobufCMessage *in, ProtobufCMessage *out)
{
	(void) in;
	Auth__V1__ListKeysResponse *resp = (Auth__V1__ListKeysResponse *) out;
	core_arena *a = core_call_arena(c);
	auth_pubkey keys[CORE_JWKS_MAX_KEYS];
	size_t n = published_keys(c, keys, NULL);
	resp->keys = core_arena_calloc(a, n ? n : 1, sizeof(*resp->keys));
	bool ok = resp->keys != NULL;
	for (; ok && resp->n_keys < n; resp->n_keys++) {
		ok = (resp->keys[resp->n_keys] =
		             key_message(a, &keys[resp->n_keys])) != NULL;
	}
	return ok ? CORE_OK
	          : core_call_error(c, CORE_INTERNAL, "out of memory");
}
