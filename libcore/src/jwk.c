/* Ed25519 JWKs and key sets (core/jws.h, "Keys"). */
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "core/jws.h"
#include "jose_internal.h"

static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static int sodium_status = -1;

static void
sodium_setup(void)
{
	sodium_status = sodium_init() < 0 ? -1 : 0;
}

/* libsodium must be initialised before use; the services do it at start,
 * but this module is also used alone (tests, the CLI). */
int
jose_sodium_ready(void)
{
	pthread_once(&sodium_once, sodium_setup);
	return sodium_status;
}

typedef struct jwk {
	char kid[CORE_JWK_KID_MAX + 1];
	uint8_t pk[crypto_sign_PUBLICKEYBYTES];
} jwk;

struct core_jwks {
	size_t n;
	jwk keys[CORE_JWKS_MAX_KEYS];
};

void
core_jwk_thumbprint(const uint8_t pk[32], char out[44])
{
	char x[CORE_B64URL_ENCODED_LEN(32) + 1];
	char canon[96];
	uint8_t hash[crypto_hash_sha256_BYTES];

	(void) jose_sodium_ready();
	(void) core_b64url_encode(pk, 32, x, sizeof(x));
	// RFC 7638: the required members only, sorted, no whitespace.
	int n = snprintf(canon, sizeof(canon),
	    "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"%s\"}", x);
	crypto_hash_sha256(hash, (const uint8_t *) canon, (size_t) n);
	(void) core_b64url_encode(hash, sizeof(hash), out, 44);
}

core_jwks *
core_jwks_new(void)
{
	return calloc(1, sizeof(core_jwks));
}

void
core_jwks_free(core_jwks *set)
{
	free(set);
}

size_t
core_jwks_count(const core_jwks *set)
{
	return set == NULL ? 0 : set->n;
}

const uint8_t *
jose_find_key(const core_jwks *set, const char *kid)
{
	if (set == NULL) {
		return NULL;
	}
	for (size_t i = 0; i < set->n; i++) {
		if (strcmp(set->keys[i].kid, kid) == 0) {
			return set->keys[i].pk;
		}
	}
	return NULL;
}

bool
core_jwks_same(const core_jwks *a, const core_jwks *b)
{
	if (core_jwks_count(a) != core_jwks_count(b)) {
		return false;
	}
	// Kids are unique within a set: same size and every key of a in b.
	for (size_t i = 0; a != NULL && i < a->n; i++) {
		const uint8_t *pk = jose_find_key(b, a->keys[i].kid);
		if (pk == NULL || memcmp(pk, a->keys[i].pk, 32) != 0) {
			return false;
		}
	}
	return true;
}

int
core_jwks_add(core_jwks *set, const char *kid, const uint8_t pk[32])
{
	char tp[CORE_JWK_THUMBPRINT_LEN + 1];

	if (kid == NULL) {
		core_jwk_thumbprint(pk, tp);
		kid = tp;
	}
	size_t len = strnlen(kid, CORE_JWK_KID_MAX + 1);
	if (set->n >= CORE_JWKS_MAX_KEYS || len == 0 ||
	    len > CORE_JWK_KID_MAX || jose_find_key(set, kid) != NULL) {
		return -1;
	}
	// Printable ASCII only, so that every set renders as JSON.
	for (size_t i = 0; i < len; i++) {
		if (kid[i] < 0x21 || kid[i] > 0x7e) {
			return -1;
		}
	}
	jwk *k = &set->keys[set->n++];
	memcpy(k->kid, kid, len + 1);
	memcpy(k->pk, pk, sizeof(k->pk));
	return 0;
}

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	if (err == NULL || errlen == 0) {
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* The string value of member name, NULL when absent or not a string. */
const char *
jose_str_member(const json_t *obj, const char *name)
{
	return json_string_value(json_object_get(obj, name));
}

static int
parse_key(core_jwks *set, const json_t *k, size_t i, char *err, size_t errlen)
{
	uint8_t x[crypto_sign_PUBLICKEYBYTES + 1];
	size_t xlen;
	char tp[CORE_JWK_THUMBPRINT_LEN + 1];
	const char *s;
	const json_t *m;

	if (!json_is_object(k)) {
		seterr(err, errlen, "keys[%zu] is not an object", i);
		return -1;
	}
	if ((s = jose_str_member(k, "kty")) == NULL || strcmp(s, "OKP") != 0) {
		seterr(err, errlen, "keys[%zu]: kty is not \"OKP\"", i);
		return -1;
	}
	if ((s = jose_str_member(k, "crv")) == NULL ||
	    strcmp(s, "Ed25519") != 0) {
		seterr(err, errlen, "keys[%zu]: crv is not \"Ed25519\"", i);
		return -1;
	}
	m = json_object_get(k, "use");
	if (m != NULL &&
	    (!json_is_string(m) || strcmp(json_string_value(m), "sig") != 0)) {
		seterr(err, errlen, "keys[%zu]: use is not \"sig\"", i);
		return -1;
	}
	m = json_object_get(k, "alg");
	if (m != NULL &&
	    (!json_is_string(m) ||
	        (strcmp(json_string_value(m), "EdDSA") != 0 &&
	            strcmp(json_string_value(m), "Ed25519") != 0))) {
		seterr(err, errlen, "keys[%zu]: alg is not \"EdDSA\"", i);
		return -1;
	}
	// A published private key is a leak to report, not a member to skip.
	if (json_object_get(k, "d") != NULL) {
		seterr(
		    err, errlen, "keys[%zu] holds a private key (\"d\")", i);
		return -1;
	}
	m = json_object_get(k, "x");
	if (!json_is_string(m) ||
	    core_b64url_decode(json_string_value(m), json_string_length(m), x,
	        sizeof(x), &xlen) != 0 ||
	    xlen != crypto_sign_PUBLICKEYBYTES) {
		seterr(err, errlen,
		    "keys[%zu]: x is not 32 bytes of strict base64url", i);
		return -1;
	}
	if ((s = jose_str_member(k, "kid")) == NULL) {
		seterr(err, errlen, "keys[%zu]: kid missing", i);
		return -1;
	}
	/* A kid that is not the thumbprint could make two keys share a name,
	 * or a token name one key and be checked with another. */
	core_jwk_thumbprint(x, tp);
	if (strcmp(s, tp) != 0) {
		seterr(err, errlen,
		    "keys[%zu]: kid is not the key's thumbprint", i);
		return -1;
	}
	if (core_jwks_add(set, s, x) != 0) {
		seterr(err, errlen, "keys[%zu]: kid appears twice", i);
		return -1;
	}
	return 0;
}

int
core_jwks_parse(
    const char *json, size_t len, core_jwks **out, char *err, size_t errlen)
{
	json_t *root = NULL;
	core_jwks *set = NULL;
	json_error_t jerr;
	int rv = -1;

	seterr(err, errlen, "%s", "");
	if (json == NULL || len > CORE_JWKS_MAX_DOC) {
		seterr(err, errlen, "document missing or larger than %u bytes",
		    CORE_JWKS_MAX_DOC);
		goto done;
	}
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		seterr(err, errlen, "not JSON: %s (line %d)", jerr.text,
		    jerr.line);
		goto done;
	}
	const json_t *keys = json_object_get(root, "keys");
	if (!json_is_array(keys)) {
		seterr(err, errlen, "no \"keys\" array");
		goto done;
	}
	if (json_array_size(keys) > CORE_JWKS_MAX_KEYS) {
		seterr(err, errlen, "more than %d keys", CORE_JWKS_MAX_KEYS);
		goto done;
	}
	if ((set = core_jwks_new()) == NULL) {
		seterr(err, errlen, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < json_array_size(keys); i++) {
		if (parse_key(set, json_array_get(keys, i), i, err, errlen) !=
		    0) {
			goto done;
		}
	}
	*out = set; // ownership passes to the caller
	set = NULL;
	rv = 0;
done:
	core_jwks_free(set);
	json_decref(root);
	return rv;
}

char *
core_jwks_to_json(const core_jwks *set)
{
	json_t *keys = json_array();
	char *text = NULL;
	char x[CORE_B64URL_ENCODED_LEN(32) + 1];

	if (keys == NULL) {
		return NULL;
	}
	for (size_t i = 0; i < core_jwks_count(set); i++) {
		const jwk *k = &set->keys[i];
		(void) core_b64url_encode(k->pk, sizeof(k->pk), x, sizeof(x));
		json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "kty",
		    "OKP", "crv", "Ed25519", "x", x, "kid", k->kid, "use",
		    "sig", "alg", "EdDSA");
		if (json_array_append_new(keys, o) != 0) {
			goto done;
		}
	}
	json_t *root = json_pack("{s:o}", "keys", keys);
	keys = NULL; // json_pack's "o" took the reference, even on failure
	if (root != NULL) {
		text = json_dumps(root, JSON_COMPACT);
		json_decref(root);
	}
done:
	json_decref(keys);
	return text;
}
